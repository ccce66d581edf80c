"""Read -> decide -> act -> write, for one OmveeJob. Safe to call at any time, any number of
times, from any event: everything is recomputed from what the cluster holds.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client
from pydantic import ValidationError

from api.catalog.inputs import input_errors
from api.catalog.profiles import Catalog
from api.logs import archive
from api.logs.store import LogStore, LogStoreError
from api.v1alpha1.types import OmveeJobSpec, OmveeJobStatus, Phase
from controller import builders, naming, transitions
from controller.k8s import Conflict, Gone, JobNameTaken, Kube
from controller.metrics.observations import observe_write
from controller.metrics.registry import OperatorMetrics
from controller.metrics.snapshot import count_jobs
from controller.mirror.rows import build_row
from controller.mirror.writer import MirrorWriter
from controller.status import format_time

log = logging.getLogger(__name__)
MAX_CONFLICT_RETRIES = 5


class Reconciler:
    """Not thread-safe per key: the work queue never hands one OmveeJob to two workers."""

    def __init__(
        self,
        kube: Kube,
        catalog: Catalog,
        mirror: MirrorWriter | None = None,
        namespaces: tuple[str, ...] = (),
        logs: LogStore | None = None,
        metrics: OperatorMetrics | None = None,
    ) -> None:
        self.logs = logs
        self.metrics = metrics
        self.kube = kube
        self.catalog = catalog
        self.mirror = mirror
        self.namespaces = namespaces

    def reconcile(self, namespace: str, name: str) -> None:
        for _ in range(MAX_CONFLICT_RETRIES):
            try:
                latest = self._reconcile_once(
                    namespace, name, self.kube.get_omveejob(namespace, name)
                )
                if latest is not None:
                    self.offer(latest)
                return
            except Conflict as conflict:
                log.debug("Retrying reconcile of %s/%s: %s", namespace, name, conflict)
            except Gone as gone:  # its Job and pods go with it (owner references)
                log.info("%s", gone)
                return
        log.warning(
            "Gave up on OmveeJob %s/%s after %d conflicts; the resync retries it",
            namespace,
            name,
            MAX_CONFLICT_RETRIES,
        )

    def offer(self, ojob: dict[str, Any]) -> None:
        """Hand the OmveeJob's state to the mirror (it skips what it already wrote)."""
        if self.mirror is not None:
            self.mirror.offer(build_row(ojob))

    def _reconcile_once(
        self, namespace: str, name: str, ojob: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """One pass; returns the OmveeJob as it now stands (None when it is gone)."""
        if ojob is None or ojob["metadata"].get("deletionTimestamp"):
            return None  # garbage collection removes the Job and pods
        meta = ojob["metadata"]
        try:
            spec = OmveeJobSpec.model_validate(ojob.get("spec") or {})
            status = OmveeJobStatus.model_validate(ojob.get("status") or {})
        except ValidationError as error:  # the CRD schema should have caught it
            log.error("OmveeJob %s/%s does not match the schema: %s", namespace, name, error)
            return None
        profile = self.catalog.profile(spec.type)
        run, _ = transitions.target_run(spec, status)
        job_name = naming.job_name(name, run)
        job = self.kube.get_job(namespace, job_name)
        pods = self.kube.list_job_pods(namespace, job["metadata"]["uid"]) if job else []
        if self.logs is not None and pods:
            ojob = self._save_logs(ojob, spec.job_id, run, pods)
            meta = ojob["metadata"]
        decision = transitions.decide(
            spec=spec,
            status=status,
            generation=meta.get("generation"),
            job_name=job_name,
            job=job,
            pods=pods,
            input_errors=input_errors(spec.type, spec.input),
            gpu=profile.gpu,
            pending_timeout=spec.pending_timeout_seconds or profile.pending_timeout_seconds,
            now=datetime.now(UTC),
        )
        if not decision.status:
            if decision.delete_job:  # a final status already written; its Job still stands
                self._stop_job(ojob, spec.job_id, run, job_name, pods, status.reason)
            return ojob
        previous = status.model_dump(by_alias=True, mode="json")
        current = ojob
        if decision.create_job:
            if status.run != run:
                # Record the new run before its Job exists: a pod of this run may report
                # progress at once, and a later pass must never take the run for new again.
                current = self.kube.patch_status(
                    namespace,
                    name,
                    meta["resourceVersion"],
                    transitions.changed(previous, decision.status),
                )
                previous = dict(decision.status)
            manifest = builders.build_job(
                name=name,
                namespace=namespace,
                uid=meta["uid"],
                job_name=job_name,
                spec=spec,
                run=run,
                profile=profile,
            )
            try:
                created = self.kube.ensure_job(manifest, meta["uid"])
            except JobNameTaken as taken:
                decision.status |= {
                    "phase": Phase.FAILED.value,
                    "reason": "JobNameTaken",
                    "message": str(taken),
                    "finishedAt": decision.status.get("finishedAt")
                    or format_time(datetime.now(UTC)),
                }
            else:
                decision.status["jobUid"] = created["metadata"]["uid"]
        patch = transitions.changed(previous, decision.status)
        if patch:
            current = self.kube.patch_status(
                namespace, name, current["metadata"]["resourceVersion"], patch
            )
            for event in transitions.events_for(status, decision):
                log.info("OmveeJob %s/%s: %s %s", namespace, name, event.reason, event.message)
                self.kube.post_event(ojob, event.type, event.reason, event.message)
        if self.metrics is not None and current is not ojob:
            self.metrics.record(observe_write(ojob, current))
        # Only once the status says why: deleting first could be read back as JobDeleted.
        if decision.delete_job:
            reason = decision.status.get("reason")
            current = self._stop_job(current, spec.job_id, run, job_name, pods, reason)
        return current

    def _stop_job(
        self,
        ojob: dict[str, Any],
        job_id: str,
        run: int,
        job_name: str,
        pods: list[dict[str, Any]],
        reason: str | None,
    ) -> dict[str, Any]:
        """Delete the run's Job, saving its running attempts' logs first."""
        if self.logs is not None and pods:
            ojob = self._save_logs(ojob, job_id, run, pods, stopping=reason or "Stopped")
        self.kube.delete_job(ojob["metadata"]["namespace"], job_name)
        return ojob

    def _save_logs(
        self,
        ojob: dict[str, Any],
        job_id: str,
        run: int,
        pods: list[dict[str, Any]],
        stopping: str | None = None,
    ) -> dict[str, Any]:
        """Save each ended attempt's pod log before the Job's TTL removes the pod, and record
        where in status.logs; returns the OmveeJob as it then stands."""
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
        if not entries:
            return ojob
        return self.kube.patch_status(
            meta["namespace"],
            meta["name"],
            meta["resourceVersion"],
            {"logs": archive.merged(saved, entries)},
        )

    def resync(self) -> list[tuple[str, str]]:
        """Offer every OmveeJob to the mirror, and return the keys to reconcile again: those
        not yet final, asked to rerun, or just ended with attempt logs still unsaved."""
        keys = []
        now = datetime.now(UTC)
        ojobs = self.kube.list_omveejobs(self.namespaces)
        if self.metrics is not None:
            self.metrics.record_jobs(count_jobs(ojobs))
        for ojob in ojobs:
            self.offer(ojob)
            status = ojob.get("status") or {}
            spec = ojob.get("spec") or {}
            final = status.get("phase") in ("Succeeded", "Failed", "Cancelled")
            rerun = int(spec.get("rerun") or 0) > int(status.get("run") or 0)
            unsaved = self.logs is not None and archive.logs_pending(status, now)
            if not final or rerun or unsaved:
                keys.append((ojob["metadata"]["namespace"], ojob["metadata"]["name"]))
        return keys
