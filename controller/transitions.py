"""Pure: given an OmveeJob and what is observed, what to do and what its status becomes.

Rules:
- A run starts when the OmveeJob is new, or when ``spec.rerun`` passes ``status.run`` after the
  previous run ended (Failed, Cancelled, or Succeeded). Starting a run creates its Job.
- A final phase (Succeeded, Failed, Cancelled) is sticky for its run.
- Cancel deletes the run's Job. A run whose Job vanished before it finished fails (JobDeleted)
  rather than running the work twice.
- An attempt waiting to start longer than the pending timeout fails the run (PendingTimeout).
- Pod creation refused in a way waiting cannot fix (a missing ServiceAccount, PodSecurity...)
  fails the run once the Job controller refused it again PERMANENT_GRACE_SECONDS or more after
  the Job's creation (PodCreationRefused).
- An OmveeJob whose spec.jobId an older OmveeJob of its namespace already holds, or whose input
  names another project's job, fails before any Job exists (DuplicateJobId, UpstreamNotFound).
- A run with no Job yet passes its upstreams' gate (controller.dependencies) after cancel and
  invalid input are decided: WAIT keeps it Pending (WaitingForUpstream, Scheduled=False) with no
  Job, so no pending timeout and no Job deadline run while it waits (the pending timeout of a
  Job the API server refuses counts from the end of the wait); FAIL ends it at once
  (UpstreamFailed, UpstreamCancelled, UpstreamCycle); READY goes on as for a job without
  upstreams. status.upstream names the upstream while it waits or when it ended because of
  one. A run whose Job exists has passed the gate: the gate is not asked again.
- A run that ended because of its upstream is run again once that upstream is retried
  (Decision.rerun: the spec.rerun to write; see controller.dependencies).
- The operator never lowers ``progress`` within a run; it only resets it for a new run and sets
  100 on success. ``progressMessage`` and ``result`` belong to the job pod.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.v1alpha1 import constants, reasons
from api.v1alpha1.reasons import KubernetesReason, Reason
from api.v1alpha1.types import OmveeJobSpec, OmveeJobStatus, Phase
from controller import dependencies, refusals
from controller.dependencies import Gate, Verdict
from controller.status import (
    ConditionTuple,
    FailedCreate,
    Observation,
    format_time,
    observe,
    parse_time,
)

# Runs the operator ended itself, whose Job it must delete even when it died before doing so.
STOPPED_BY_US = frozenset({Reason.CANCELLED, Reason.PENDING_TIMEOUT, Reason.POD_CREATION_REFUSED})


@dataclass(frozen=True)
class Event:
    """One Event to post on the OmveeJob: ``type`` Normal or Warning, ``reason`` the new
    status.reason, ``message`` "<phase>: <status.message>"."""

    type: str
    reason: Reason | KubernetesReason
    message: str


@dataclass
class Decision:
    """What a reconcile does for run ``run``: the full operator-owned ``status`` to write
    (camelCase), whether to create or delete the run's Job, and ``rerun``: the spec.rerun to
    write (a merge patch of spec) to start the job again, or None."""

    run: int
    status: dict[str, Any] = field(default_factory=dict)  # full operator-owned status
    create_job: bool = False
    delete_job: bool = False
    rerun: int | None = None


def job_finished(job: dict[str, Any]) -> bool:
    """Whether a batch/v1 Job body has a True Complete or Failed condition."""
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in job.get("status", {}).get("conditions") or []
    )


def target_run(spec: OmveeJobSpec, status: OmveeJobStatus) -> tuple[int, bool]:
    """The run to reconcile, and whether it is a new one to start."""
    if status.run is None:
        return spec.rerun, True
    if spec.rerun > status.run and status.phase is not None and status.phase.final:
        return spec.rerun, True
    return status.run, False


def _conditions(
    previous: list[dict[str, Any]],
    wanted: dict[str, ConditionTuple],
    now: str,
) -> list[dict[str, Any]]:
    """Conditions keep their lastTransitionTime while their status does not change."""
    old = {c["type"]: c for c in previous}
    out = []
    for kind, (status, reason, message) in wanted.items():
        since = (
            old[kind]["lastTransitionTime"] if old.get(kind, {}).get("status") == status else now
        )
        out.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": since,
            }
        )
    return out


def _status(
    run: int,
    job_name: str,
    job_uid: str | None,
    generation: int | None,
    previous: OmveeJobStatus,
    now: str,
    *,
    phase: Phase,
    reason: Reason | KubernetesReason,
    message: str,
    attempts: int = 0,
    pod_name: str | None = None,
    node_name: str | None = None,
    started_at: str | None = None,
    finished_at: str | None = None,
    scheduled: ConditionTuple = ("Unknown", Reason.NO_POD, ""),
    running: bool = False,
    not_running: Reason | None = None,
    new_run: bool = False,
    upstream: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The full operator-owned status (camelCase dict) of a run in ``phase`` for ``reason``;
    ``not_running`` is the Running condition's reason while no pod runs, when it says more
    than ``reason``; ``upstream`` is status.upstream ({jobId, type, run, phase}) or None."""
    finished: ConditionTuple = ("False", Reason.NOT_FINISHED, "")
    if phase.final:
        finished = ("True", Reason(phase.value), message)
    running_condition: ConditionTuple = (
        ("True", Reason.RUNNING, "")
        if running
        else ("False", Reason(phase.value) if phase.final else not_running or reason, "")
    )
    wanted = {
        constants.CONDITION_SCHEDULED: scheduled,
        constants.CONDITION_RUNNING: running_condition,
        constants.CONDITION_FINISHED: finished,
    }
    previous_conditions = (
        [] if new_run else [c.model_dump(by_alias=True) for c in previous.conditions]
    )
    status: dict[str, Any] = {
        "phase": phase.value,
        "run": run,
        "attempts": attempts,
        "reason": reason,
        "message": message,
        "jobName": job_name,
        "jobUid": job_uid,
        "podName": pod_name,
        "nodeName": node_name,
        "startedAt": started_at,
        "finishedAt": finished_at or (now if phase.final else None),
        "conditions": _conditions(previous_conditions, wanted, now),
        "observedGeneration": generation,
        "upstream": upstream,
    }
    if new_run:
        status |= {"progress": 0, "progressMessage": None, "result": None}
    elif phase is Phase.SUCCEEDED:
        status["progress"] = 100
    return status


def decide(
    *,
    spec: OmveeJobSpec,
    status: OmveeJobStatus,
    generation: int | None,
    job_name: str,
    job: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    input_errors: list[str],
    gpu: bool,
    pending_timeout: int,
    now: datetime,
    refused_input: tuple[Reason, str] | None = None,
    failed_create: FailedCreate | None = None,
    job_taken: str | None = None,
    create_refused: refusals.Refusal | None = None,
    gate: Gate = dependencies.READY,
) -> Decision:
    """What to do for one OmveeJob now, and its full operator-owned status.

    ``refused_input`` is (reason, message) when the OmveeJob may not start at all
    (DuplicateJobId, UpstreamNotFound: see controller.ownership); ``failed_create`` is the
    newest pod-creation refusal the Job controller reported for the run's Job. ``job_taken``
    says why the run's Job name is not this OmveeJob's to use (a Job of that name that it does
    not own; ``job`` is then None); ``create_refused`` is how the API server refused the last
    attempt to create the run's Job (classified by controller.refusals). ``gate`` is what the
    run's upstreams say (controller.dependencies.gate; READY for a job without upstreams).
    """
    run, new_run = target_run(spec, status)
    stamp = format_time(now)
    decision = Decision(run=run)
    job_uid = (job or {}).get("metadata", {}).get("uid") or (None if new_run else status.job_uid)

    def finish(
        phase: Phase, reason: Reason | KubernetesReason, message: str, **fields: Any
    ) -> Decision:
        decision.status = _status(
            run,
            job_name,
            job_uid,
            generation,
            status,
            stamp,
            phase=phase,
            reason=reason,
            message=message,
            **({"new_run": new_run} | fields),
        )
        return decision

    if new_run:
        base: dict[str, Any] = {}
        if refused_input is not None:  # first: a loser's status must never read as the owner's
            decision.delete_job = job is not None
            reason, message = refused_input
            return finish(Phase.FAILED, reason, message, **base)
        if spec.cancel:
            decision.delete_job = job is not None  # created just before a crash
            return finish(Phase.CANCELLED, Reason.CANCELLED, "cancelled before it started", **base)
        if input_errors:
            return finish(
                Phase.FAILED,
                Reason.INVALID_INPUT,
                "invalid input: " + "; ".join(input_errors),
                **base,
            )
        if job is None and gate.verdict is not Verdict.READY:
            return _gated(finish, gate, **base)
        if job_taken is not None:
            return finish(Phase.FAILED, Reason.JOB_NAME_TAKEN, job_taken, **base)
        if create_refused is not None and create_refused.permanent:
            return finish(Phase.FAILED, create_refused.reason, create_refused.message, **base)
        if job is None:
            decision.create_job = True
            if create_refused is not None:
                return finish(Phase.PENDING, create_refused.reason, create_refused.message, **base)
            return finish(Phase.PENDING, Reason.CREATING, f"creating Job {job_name}", **base)
        # The run's Job exists (just created, or left by a pass that died before it recorded
        # the run): the run starts from what it shows, nothing carried from the last run.
        status = OmveeJobStatus.model_validate({"run": run, "jobUid": job_uid})

    if not new_run and status.phase is not None and status.phase.final:
        # Final phases are sticky. A run ended by us (cancel, pending timeout) must not leave
        # its Job behind, e.g. when the operator died between writing the status and deleting.
        decision.delete_job = (
            job is not None and status.reason in STOPPED_BY_US and not job_finished(job)
        )
        decision.rerun = dependencies.rerun_after_retry(spec, status, gate)
        return decision

    carried = {
        "attempts": status.attempts,
        "pod_name": status.pod_name,
        "node_name": status.node_name,
        "started_at": status.started_at,
    }
    if not new_run and spec.cancel and not (job and job_finished(job)):  # an ended run keeps it
        decision.delete_job = job is not None
        return finish(Phase.CANCELLED, Reason.CANCELLED, "cancelled by request", **carried)
    if job is None:
        if status.job_uid:
            return finish(
                Phase.FAILED,
                Reason.JOB_DELETED,
                f"the Job {job_name} was deleted before it finished",
                **carried,
            )
        if gate.verdict is not Verdict.READY:  # a recorded run that has not got its Job yet
            return _gated(finish, gate, **carried)
        if job_taken is not None:
            return finish(Phase.FAILED, Reason.JOB_NAME_TAKEN, job_taken, **carried)
        if create_refused is not None and create_refused.permanent:
            return finish(Phase.FAILED, create_refused.reason, create_refused.message, **carried)
        since = _run_started(status)
        if (
            status.reason in refusals.JOB_CREATE_WAITS
            and since is not None
            and (now - since).total_seconds() >= pending_timeout
        ):  # the API server kept refusing the Job itself (a quota on Jobs, our RBAC)
            return finish(
                Phase.FAILED,
                Reason.PENDING_TIMEOUT,
                f"did not start within {pending_timeout}s: {status.message}",
                **carried,
            )
        decision.create_job = True  # created but not yet recorded: create-or-adopt again
        if create_refused is not None:  # a quota or a missing right: waiting may fix it
            return finish(Phase.PENDING, create_refused.reason, create_refused.message, **carried)
        return finish(Phase.PENDING, Reason.CREATING, f"creating Job {job_name}", **carried)

    seen = observe(
        job,
        pods,
        gpu=gpu,
        previous_attempts=status.attempts,
        previous_started_at=status.started_at,
        previous_message=status.message,
        failed_create=failed_create,
    )
    created = parse_time(job.get("metadata", {}).get("creationTimestamp"))
    if (
        seen.refused
        and failed_create is not None
        and created is not None
        # The Job controller refused again after the grace: a cause fixed within it (the
        # ServiceAccount applied a moment later) lets its next retry through instead.
        and (failed_create.last_seen - created).total_seconds() >= refusals.PERMANENT_GRACE_SECONDS
    ):
        decision.delete_job = True  # else the Job controller keeps trying for good
        return _finish_observed(finish, seen, Phase.FAILED, seen.reason, seen.message)
    if seen.pending_since and (now - seen.pending_since).total_seconds() >= pending_timeout:
        decision.delete_job = True
        return _finish_observed(
            finish,
            seen,
            Phase.FAILED,
            Reason.PENDING_TIMEOUT,
            f"did not start within {pending_timeout}s: {seen.message}",
        )
    return _finish_observed(finish, seen, seen.phase, seen.reason, seen.message)


def _gated(finish: Callable[..., Decision], gate: Gate, **fields: Any) -> Decision:
    """The decision for a run its upstreams hold back: Pending WaitingForUpstream (no Job,
    Scheduled=False) for WAIT, Failed at once for FAIL."""
    assert gate.reason is not None
    upstream = gate.upstream.ref() if gate.upstream is not None else None
    if gate.verdict is Verdict.WAIT:
        fields |= {"scheduled": ("False", gate.reason, gate.message), "not_running": gate.reason}
        return finish(Phase.PENDING, gate.reason, gate.message, upstream=upstream, **fields)
    return finish(Phase.FAILED, gate.reason, gate.message, upstream=upstream, **fields)


def _run_started(status: OmveeJobStatus) -> datetime | None:
    """When the current run began trying to start: its conditions are all set anew when a run
    starts, and a run that never got a Job keeps at least one of them unchanged since. A run
    that waited for its upstreams began when its Scheduled condition stopped saying
    WaitingForUpstream: the wait does not count against the pending timeout."""
    times = [c.last_transition_time for c in status.conditions if c.last_transition_time]
    parsed = [t for t in (parse_time(str(x)) for x in times) if t is not None]
    if not parsed:
        return None
    started = min(parsed)
    for condition in status.conditions:
        if (
            condition.type == constants.CONDITION_SCHEDULED
            and condition.reason != Reason.WAITING_FOR_UPSTREAM
        ):
            waited = parse_time(str(condition.last_transition_time))
            started = max(started, waited) if waited is not None else started
    return started


def _finish_observed(
    finish: Any,
    seen: Observation,
    phase: Phase,
    reason: Reason | KubernetesReason,
    message: str,
) -> Decision:
    decision: Decision = finish(
        phase,
        reason,
        message,
        attempts=seen.attempts,
        pod_name=seen.pod_name,
        node_name=seen.node_name,
        started_at=seen.started_at,
        finished_at=seen.finished_at,
        scheduled=seen.scheduled,
        running=seen.running,
        not_running=seen.not_running,
    )
    return decision


def events_for(
    previous: OmveeJobStatus, decision: Decision, created: str | None = None
) -> list[Event]:
    """One Event per change of phase or reason (the transitions a person wants to see).

    ``created``: the Job this pass created for the run. Its ``Creating`` Event comes first even
    when the run's first recorded status is already past it (the pod was scheduled before the
    status was written, or an earlier pass created the Job and died before recording it), so
    every run's Events start with its Job's creation."""
    new = decision.status
    if not new:
        return []
    creating: list[Event] = []
    if (
        created is not None
        and new["reason"] != Reason.CREATING
        and not (previous.run == decision.run and previous.reason == Reason.CREATING)
    ):
        creating = [Event("Normal", Reason.CREATING, f"Pending: creating Job {created}")]
    if (
        previous.run == decision.run
        and previous.phase is not None
        and (previous.phase.value, previous.reason) == (new["phase"], new["reason"])
    ):
        return []
    kind = "Warning" if new["reason"] in reasons.WARNING else "Normal"
    return [*creating, Event(kind, new["reason"], f"{new['phase']}: {new['message']}")]


def changed(previous: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``new`` that differ from ``previous`` (a merge patch); {} when none."""
    return {key: value for key, value in new.items() if previous.get(key) != value}
