"""Read -> decide -> act -> write, for one OmveeJob. Safe to call at any time, any number of
times, from any event: everything is recomputed from what the cluster holds.

A job with upstreams (input fields naming other jobs) reads them from the OmveeJob cache for
the gate of controller.dependencies; the cache queues a job again whenever an upstream changes
(controller.cache), so no one polls. The one spec write the operator makes is the automatic
re-run of a job that ended because of its upstream once that upstream is retried
(Decision.rerun), after the status write and with optimistic concurrency.
"""

from __future__ import annotations

import logging
import threading
import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client
from pydantic import ValidationError

from api.catalog.inputs import input_errors
from api.catalog.profiles import Catalog, JobProfile
from api.catalog.upstreams import upstream_job_ids
from api.logs import archive
from api.logs.store import LogStore, LogStoreError
from api.statuswords import OURS, StatusWords
from api.v1alpha1.reasons import Reason
from api.v1alpha1.types import OmveeJobSpec, OmveeJobStatus
from controller import builders, dependencies, naming, ownership, refusals, transitions
from controller.cache import ClusterCache, trim_job, trim_omveejob
from controller.events import PostNow, Recorder
from controller.k8s import Conflict, Gone, JobRefused, Kube, event_time
from controller.metrics.observations import observe_write
from controller.metrics.registry import OperatorMetrics
from controller.metrics.snapshot import count_jobs
from controller.mirror.rows import build_row
from controller.mirror.writer import MirrorWriter
from controller.refusals import Refusal
from controller.status import FailedCreate, parse_time

log = logging.getLogger(__name__)
MAX_CONFLICT_RETRIES = 5
# While a run's Job has no pod, look again this soon (seconds, by status.reason): refused pod
# creations arrive as watched FailedCreate Events, but what they mean depends on time passing
# (the grace before a refusal counts as permanent, the pending timeout).
RECHECK_SECONDS: dict[str, float] = {
    Reason.CREATING: 3.0,
    Reason.POD_CREATION_REFUSED: 5.0,  # fails once PERMANENT_GRACE_SECONDS have passed
    Reason.QUOTA_EXCEEDED: 10.0,
    Reason.POD_CREATION_BLOCKED: 10.0,
    Reason.JOB_CREATION_BLOCKED: 10.0,
}
JOB_ID_LOCKS = 64
NAMESAKE_WAIT_SECONDS = 2.0  # a deleted namesake's Job is being garbage collected


@dataclass(frozen=True)
class Observed:
    """What the caches (and the last create) say of one run: its Job name, the Job when this
    OmveeJob owns it, its pods, why the name is taken (None when not) and how the API server
    refused the last create of the Job."""

    job_name: str
    job: dict[str, Any] | None
    pods: list[dict[str, Any]]
    job_taken: str | None
    create_refused: Refusal | None


class Reconciler:
    """Reads from ``cache`` (watch caches), writes through ``kube``. Not thread-safe per key:
    the work queue never hands one OmveeJob to two workers."""

    def __init__(
        self,
        kube: Kube,
        cache: ClusterCache,
        catalog: Catalog,
        mirror: MirrorWriter | None = None,
        logs: LogStore | None = None,
        metrics: OperatorMetrics | None = None,
        job_env: tuple[tuple[str, str], ...] = (),
        results: builders.ResultsStore | None = None,
        events: Recorder | None = None,
        words: StatusWords = OURS,
    ) -> None:
        """``events``: where Events go (default: posted at once through ``kube``);
        ``words``: the `jobs` table's status words (OMVEE_MIRROR_STATUS_WORDS)."""
        self.words = words
        self.events: Recorder = events if events is not None else PostNow(kube)
        self.logs = logs
        self.job_env = job_env
        self.results = results
        self.metrics = metrics
        self.kube = kube
        self.cache = cache
        self.catalog = catalog
        self.mirror = mirror
        # One decision at a time per job id: two OmveeJobs claiming one id are never decided
        # at once (striped: a fixed number of locks, whatever the number of jobs).
        self._job_id_locks = [threading.Lock() for _ in range(JOB_ID_LOCKS)]
        # How the API server refused the last create of a run's Job, by OmveeJob key, with
        # the (uid, run) it was for: the next pass's decision says what it means for status.
        self._create_refusals: dict[tuple[str, str], tuple[str, int, Refusal]] = {}
        self._refusals_lock = threading.Lock()

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Reconcile one OmveeJob; returns after how many seconds to look at it again when no
        watch event would say (None: the next event or resync).

        Reads the OmveeJob, its run's Job and pods from the watch caches (no API read for an
        unchanged job) and writes its status at most once a pass. A write refused because
        the cache was behind (409) reads the OmveeJob from the API server and decides again.
        Raises what the API client raises (the API server away, a timeout, a 5xx) and Conflict
        when the OmveeJob changed under every one of MAX_CONFLICT_RETRIES passes: the work
        queue then retries the key after its backoff."""
        ojob = self.cache.omveejob(namespace, name)
        for _ in range(MAX_CONFLICT_RETRIES):
            try:
                latest, again = self._reconcile_once(namespace, name, ojob)
                if latest is not None:
                    self.offer(latest)
                    return _sooner(recheck_after(latest), again)
                return again
            except Conflict as conflict:
                log.debug("Retrying reconcile of %s/%s: %s", namespace, name, conflict)
                ojob = self.kube.get_omveejob(namespace, name)
                if ojob is not None:
                    self.cache.omveejobs.put(trim_omveejob(ojob))
            except Gone as gone:  # its Job and pods go with it (owner references)
                log.info("%s", gone)
                return None
        raise Conflict(
            f"OmveeJob {namespace}/{name} changed under {MAX_CONFLICT_RETRIES} passes in a row"
        )

    def offer(self, ojob: dict[str, Any]) -> None:
        """Hand the OmveeJob's state to the mirror (it skips what it already wrote). An
        OmveeJob the operator has not yet accepted, or one that lost its job id to another,
        has no row of its own to write."""
        status = ojob.get("status") or {}
        if (
            self.mirror is not None
            and status.get("run") is not None
            and status.get("reason") != Reason.DUPLICATE_JOB_ID
        ):
            self.mirror.offer(build_row(ojob, self.words))

    def _refused_start(
        self, namespace: str, name: str, spec: OmveeJobSpec
    ) -> tuple[Reason, str] | None:
        """(reason, message) when this OmveeJob may not start: its job id belongs to another
        OmveeJob, or an upstream it names is another project's job."""
        owner = ownership.job_id_owner(
            name, self.cache.omveejobs_with_job_id(namespace, spec.job_id)
        )
        if owner is not None:
            return ownership.duplicate(name, spec.job_id, owner)
        found = {
            job_id: self.cache.omveejobs_with_job_id(namespace, job_id)
            for job_id in upstream_job_ids(spec.type, spec.input).values()
        }
        return ownership.foreign_upstream(spec, namespace, found)

    def _gate(self, namespace: str, spec: OmveeJobSpec) -> dependencies.Gate:
        """What this OmveeJob's upstreams say of its run, read from the OmveeJob cache
        (controller.dependencies.gate); READY at once for a job without upstreams."""
        if not upstream_job_ids(spec.type, spec.input):
            return dependencies.READY

        def find(job_id: str) -> dict[str, Any] | None:
            same_id = self.cache.omveejobs_with_job_id(namespace, job_id)
            return dependencies.owner_of(same_id, spec.project_id)

        return dependencies.gate(spec, find)

    def _failed_create(
        self,
        namespace: str,
        status: OmveeJobStatus,
        job: dict[str, Any] | None,
        pods: list[dict[str, Any]],
    ) -> FailedCreate | None:
        """The Job controller's newest pod-creation refusal for ``job`` (from the Events
        cache), looked at only while the run is unfinished and no pod of it is waiting or
        running (else nothing to explain)."""
        if job is None or transitions.job_finished(job):
            return None
        if status.phase is not None and status.phase.final:
            return None
        if any(p.get("status", {}).get("phase") in ("Pending", "Running") for p in pods):
            return None
        event = self.cache.failed_create(namespace, job["metadata"]["uid"])
        if event is None:
            return None
        seen = parse_time(event_time(event))
        if seen is None:
            return None
        pod_spec = job.get("spec", {}).get("template", {}).get("spec", {})
        refusal = refusals.classify(
            str(event.get("message") or ""),
            namespace,
            str(pod_spec.get("serviceAccountName") or "default"),
        )
        return FailedCreate(refusal, seen)

    def _create_refused(self, key: tuple[str, str], uid: str, run: int) -> Refusal | None:
        with self._refusals_lock:
            held = self._create_refusals.get(key)
        return held[2] if held is not None and held[:2] == (uid, run) else None

    def _reconcile_once(
        self, namespace: str, name: str, ojob: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, float | None]:
        """One pass: the OmveeJob as it now stands (None when it is gone), and how soon to
        look again whatever its status says (None: as its status says)."""
        if ojob is None or ojob["metadata"].get("deletionTimestamp"):
            with self._refusals_lock:
                self._create_refusals.pop((namespace, name), None)
            return None, None  # garbage collection removes the Job and pods
        try:
            spec = OmveeJobSpec.model_validate(ojob.get("spec") or {})
            status = OmveeJobStatus.model_validate(ojob.get("status") or {})
        except ValidationError as error:  # the CRD schema should have caught it
            log.error("OmveeJob %s/%s does not match the schema: %s", namespace, name, error)
            return None, None
        uid = ojob["metadata"]["uid"]
        run, new_run = transitions.target_run(spec, status)
        job_name = naming.job_name(name, run)
        job = self.cache.job(namespace, job_name)
        if (
            job is None
            and not new_run
            and status.job_uid
            and not (status.phase and status.phase.final)
        ):
            # About to decide JobDeleted for good: make sure it is not just a Job watch behind
            # (e.g. a Job another replica created just before this one took over).
            fetched = self.kube.get_job(namespace, job_name)
            if fetched is not None:
                job = trim_job(fetched)
                self.cache.jobs.put(job)
        job_taken = None
        if job is not None:
            relation = ownership.job_relation(job, name, uid)
            if relation == ownership.NAMESAKE:  # garbage collection is removing it
                return ojob, NAMESAKE_WAIT_SECONDS
            if relation == ownership.FOREIGN:
                job, job_taken = None, ownership.job_taken_message(job_name)
        pods = self.cache.job_pods(namespace, job["metadata"]["uid"]) if job else []
        observed = Observed(
            job_name, job, pods, job_taken, self._create_refused((namespace, name), uid, run)
        )
        if not new_run:
            return self._decide_and_act(ojob, spec, status, run, observed)
        # A new run: decide who owns the job id, and record the run, under the id's lock.
        stripe = zlib.crc32(f"{namespace}/{spec.job_id.lower()}".encode()) % JOB_ID_LOCKS
        with self._job_id_locks[stripe]:
            refused_input = self._refused_start(namespace, name, spec)
            return self._decide_and_act(ojob, spec, status, run, observed, refused_input)

    def _decide_and_act(
        self,
        ojob: dict[str, Any],
        spec: OmveeJobSpec,
        status: OmveeJobStatus,
        run: int,
        observed: Observed,
        refused_input: tuple[Reason, str] | None = None,
    ) -> tuple[dict[str, Any], float | None]:
        """Decide; create the run's Job when the decision says so and decide again on what
        that gave; write the status once (with any attempt logs just saved) and record its
        Events; then delete the run's Job when the decision says so."""
        meta = ojob["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        profile = self.catalog.profile(spec.type)
        now = datetime.now(UTC)
        errors = input_errors(spec.type, spec.input)
        gate = self._gate(namespace, spec)

        def decide(seen: Observed, failed_create: FailedCreate | None) -> transitions.Decision:
            return transitions.decide(
                spec=spec,
                status=status,
                generation=meta.get("generation"),
                job_name=seen.job_name,
                job=seen.job,
                pods=seen.pods,
                input_errors=errors,
                gpu=profile.gpu,
                pending_timeout=spec.pending_timeout_seconds or profile.pending_timeout_seconds,
                now=now,
                refused_input=refused_input,
                failed_create=failed_create,
                job_taken=seen.job_taken,
                create_refused=seen.create_refused,
                gate=gate,
            )

        decision = decide(
            observed, self._failed_create(namespace, status, observed.job, observed.pods)
        )
        again = None
        created: str | None = None  # the Job this pass created (or adopted), by name
        if decision.create_job:
            # The status is written after the Job exists, in the same write that records the
            # run: one write for both (a pod cannot report before the run is recorded: it
            # takes seconds to start, and its reports wait for the run; see jobimages' progress).
            after, again = self._create_job(ojob, spec, run, observed, profile)
            if after is None:  # a deleted namesake's Job holds the name: decide nothing yet
                return ojob, again
            observed = after
            created = observed.job_name if observed.job is not None else None
            decision = decide(observed, None)
        patch = transitions.changed(status.model_dump(by_alias=True, mode="json"), decision.status)
        pods = observed.pods
        if self.logs is not None and pods:
            stopping = None
            if decision.delete_job:
                stopping = decision.status.get("reason") or status.reason or Reason.STOPPED
            logs = self._saved_logs(ojob, spec.job_id, run, pods, stopping)
            if logs is not None:
                patch["logs"] = logs
        current = ojob
        if patch:
            current = self.kube.patch_status(namespace, name, meta["resourceVersion"], patch)
            self.cache.omveejobs.put(trim_omveejob(current))
            for event in transitions.events_for(status, decision, created=created):
                log.info("OmveeJob %s/%s: %s %s", namespace, name, event.reason, event.message)
                self.events.record(ojob, event.type, event.reason, event.message)
            if self.metrics is not None:
                self.metrics.record(observe_write(ojob, current))
        # Only once the status says why: deleting first could be read back as JobDeleted.
        if decision.delete_job:
            self.kube.delete_job(namespace, observed.job_name)
        if decision.rerun is not None:
            current = self._rerun(current, decision.rerun)
        return current, again

    def _rerun(self, ojob: dict[str, Any], rerun: int) -> dict[str, Any]:
        """Raise spec.rerun to ``rerun`` (a job that ended because of its upstream, which has
        been retried since); the OmveeJob after it. A 403 or 422 (the chart's rights or
        admission policy missing) is logged and leaves the job as it is; Conflict and Gone
        are raised as for a status write."""
        meta = ojob["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        try:
            patched = self.kube.patch_rerun(namespace, name, meta["resourceVersion"], rerun)
        except client.ApiException as error:
            if error.status not in (403, 422):
                raise
            log.warning(
                "OmveeJob %s/%s: could not raise spec.rerun to %d after its upstream was "
                "retried (%s %s); retry it by hand",
                namespace,
                name,
                rerun,
                error.status,
                error.reason,
            )
            return ojob
        log.info("OmveeJob %s/%s: its upstream was retried; run %d starts", namespace, name, rerun)
        self.cache.omveejobs.put(trim_omveejob(patched))
        return patched

    def _create_job(
        self,
        ojob: dict[str, Any],
        spec: OmveeJobSpec,
        run: int,
        observed: Observed,
        profile: JobProfile,
    ) -> tuple[Observed | None, float | None]:
        """Create (or adopt) the run's Job; returns what is then observed (None while a
        deleted namesake's Job holds the name) and how soon to look again (None: the Job's
        watch events say)."""
        meta = ojob["metadata"]
        key = (meta["namespace"], meta["name"])
        manifest = builders.build_job(
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta["uid"],
            job_name=observed.job_name,
            spec=spec,
            run=run,
            profile=profile,
            extra_env=self.job_env,
            results=self.results,
        )
        try:
            created = self.kube.ensure_job(manifest)
        except JobRefused as refused:
            refusal = refusals.classify_job_refusal(refused.status, refused.message)
            with self._refusals_lock:
                self._create_refusals[key] = (meta["uid"], run, refusal)
            again = RECHECK_SECONDS.get(refusal.reason, RECHECK_SECONDS[Reason.CREATING])
            return replace(observed, create_refused=refusal), again
        with self._refusals_lock:
            self._create_refusals.pop(key, None)
        self.cache.jobs.put(trim_job(created))
        relation = ownership.job_relation(created, meta["name"], meta["uid"])
        if relation == ownership.NAMESAKE:
            return None, NAMESAKE_WAIT_SECONDS
        if relation == ownership.FOREIGN:
            taken = ownership.job_taken_message(observed.job_name)
            return replace(observed, job=None, pods=[], job_taken=taken), None
        pods = self.cache.job_pods(meta["namespace"], created["metadata"]["uid"])
        return replace(observed, job=created, pods=pods, create_refused=None), None

    def _saved_logs(
        self,
        ojob: dict[str, Any],
        job_id: str,
        run: int,
        pods: list[dict[str, Any]],
        stopping: str | None = None,
    ) -> list[dict[str, Any]] | None:
        """Save each ended attempt's pod log (every attempt's when ``stopping``) before the
        Job's TTL or its deletion removes the pod; returns the new status.logs, or None when
        nothing new was saved."""
        assert self.logs is not None
        meta = ojob["metadata"]
        saved = list((ojob.get("status") or {}).get("logs") or [])
        entries = []
        for attempt in archive.to_save(run, pods, saved, stopping):
            key = archive.attempt_key(meta["namespace"], job_id, run, attempt.attempt)
            # Best effort: a log that cannot be read or stored now must not hold up the job's
            # status; a later pass (the resync re-queues ended jobs for a while) tries again.
            try:
                log_bytes = self.kube.read_pod_log(
                    meta["namespace"], attempt.pod, archive.MAX_LOG_BYTES
                )
                if log_bytes is None:
                    entries.append(archive.entry(attempt, None, 0, "the pod left no log"))
                    continue
                data = archive.header(attempt) + log_bytes
                self.logs.put(key, data)
            except (
                LogStoreError,
                client.ApiException,
                urllib3.exceptions.HTTPError,
                OSError,
            ) as error:
                log.warning(
                    "OmveeJob %s/%s: could not save the log of pod %s: %s",
                    meta["namespace"],
                    meta["name"],
                    attempt.pod,
                    error,
                )
                continue
            entries.append(archive.entry(attempt, key, len(data), None))
        return archive.merged(saved, entries) if entries else None

    def resync(self) -> list[tuple[str, str]]:
        """Offer every OmveeJob to the mirror, and return the keys to reconcile again: those
        not yet final, asked to rerun, just ended with attempt logs still unsaved, or ended
        because of an upstream (UpstreamFailed, UpstreamCancelled) that may be retried."""
        keys = []
        now = datetime.now(UTC)
        ojobs = self.cache.all_omveejobs()
        if self.metrics is not None:
            self.metrics.record_jobs(count_jobs(ojobs))
        for ojob in ojobs:
            key = (ojob["metadata"]["namespace"], ojob["metadata"]["name"])
            try:
                self.offer(ojob)
                status = ojob.get("status") or {}
                spec = ojob.get("spec") or {}
                final = status.get("phase") in ("Succeeded", "Failed", "Cancelled")
                rerun = int(spec.get("rerun") or 0) > int(status.get("run") or 0)
                unsaved = self.logs is not None and archive.logs_pending(status, now)
                # ended because of its upstream: a backstop for the cache's wake-up when that
                # upstream is retried (cheap: read from the caches, nothing written)
                rerun_on_retry = status.get("reason") in dependencies.RERUN_ON_RETRY
            except Exception as error:  # one odd object must not stop the resync of the rest
                log.error("Resync could not read OmveeJob %s/%s: %s", *key, error)
                keys.append(key)  # its reconcile says what is wrong with it
                continue
            if not final or rerun or unsaved or rerun_on_retry:
                keys.append(key)
        return keys


def _sooner(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def recheck_after(ojob: dict[str, Any]) -> float | None:
    """Pure: seconds until an OmveeJob should be looked at again without a watch event: soon
    while its run's Job has no pod (a refused pod creation shows only in Events)."""
    status = ojob.get("status") or {}
    if status.get("phase") not in ("Pending", "Running"):
        return None
    return RECHECK_SECONDS.get(str(status.get("reason")))
