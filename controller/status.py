"""Pure: the observed Job and its pods -> what the OmveeJob's status says.

Objects are plain dicts as the API serves them (camelCase keys). Nothing here talks to the
cluster or reads the clock: ``now`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from api.v1alpha1 import constants
from api.v1alpha1.reasons import KubernetesReason, Reason, from_kubernetes
from api.v1alpha1.types import Phase
from controller.refusals import Refusal

# The kubelet's waiting reasons of a container, read from pods and never written by us (they
# are not Reason members; status.reason says ImagePullFailed or ContainerNotStarting instead).
IMAGE_PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
# Waiting reasons of a container that is on its way; any other (CreateContainerConfigError: a
# missing Secret or ConfigMap, CreateContainerError, RunContainerError...) is a cause to show.
STARTING_REASONS = {"ContainerCreating", "PodInitializing"}
# The kubelet's reasons of a terminated container that say nothing an exit code does not.
PLAIN_EXIT_REASONS = (None, "Error", "Completed")
# A condition as the operator writes it: (status: True, False or Unknown, reason, message).
ConditionTuple = tuple[str, Reason | KubernetesReason, str]


@dataclass(frozen=True)
class Observation:
    """What the status of one run is derived from.

    ``reason`` is a member of api.v1alpha1.reasons.STATUS, or a Job failure reason Kubernetes
    gave that is not one (passed through); ``not_running`` is the Running condition's reason
    while no pod runs, when it says more than ``reason`` (WaitingForGPUNode).
    """

    phase: Phase
    reason: Reason | KubernetesReason
    message: str
    attempts: int
    pod_name: str | None = None
    node_name: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    scheduled: ConditionTuple = ("Unknown", Reason.NO_POD, "")
    running: bool = False
    not_running: Reason | None = None
    pending_since: datetime | None = None  # when the current wait to start began
    # Pod creation is refused in a way waiting cannot fix (see controller.refusals).
    refused: bool = False


@dataclass(frozen=True)
class FailedCreate:
    """The newest ``FailedCreate`` Event the Job controller posted on a Job: its message and
    when it was last seen."""

    refusal: Refusal
    last_seen: datetime


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 time as served ("...Z" or an offset) as a timezone-aware datetime; None
    for None or "". Raises ValueError for a string that is no ISO 8601 time."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def format_time(value: datetime) -> str:
    """``value`` as RFC 3339 to the second with a Z ("2024-01-02T03:04:05Z"); the caller
    passes a UTC time (no conversion is made)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_time(value: str | None) -> str | None:
    """RFC 3339 in UTC with a Z, whichever form the client served."""
    parsed = parse_time(value)
    return format_time(parsed.astimezone(UTC)) if parsed else None


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in obj.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def _terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == constants.CONTAINER_NAME and status.get("state", {}).get(
            "terminated"
        ):
            return dict(status["state"]["terminated"])
    return None


def _waiting(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("state", {}).get("waiting"):
            return dict(status["state"]["waiting"])
    return None


def _created(obj: dict[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("creationTimestamp") or "")


# The most of a container's own last line quoted into a status message, in characters.
CONTAINER_LINE_LIMIT = 300


def container_line(message: str | None) -> str:
    """The last non-blank line of a terminated container's message (its termination log, or
    with FallbackToLogsOnError the tail of its log), shortened to CONTAINER_LINE_LIMIT; ""
    when there is none."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    if len(line) > CONTAINER_LINE_LIMIT:
        line = line[: CONTAINER_LINE_LIMIT - 1] + "…"
    return line


def _exit_summary(pod: dict[str, Any] | None) -> str:
    """ "exit code N", with the kubelet's reason (OOMKilled …) and the container's own last
    line ("exit code 65: not an audio file")."""
    terminated = _terminated(pod) if pod else None
    if not terminated:
        return "no exit code"
    summary = f"exit code {terminated.get('exitCode')}"
    if terminated.get("reason") not in PLAIN_EXIT_REASONS:
        summary += f" ({terminated['reason']})"
    if line := container_line(terminated.get("message")):
        summary += f": {line}"
    return summary


def _wait_for_node(scheduler_message: str, gpu: bool) -> str:
    pool = "a GPU node" if gpu else "a node"
    return f"waiting for {pool}: {scheduler_message}".rstrip(": ")


def observe(
    job: dict[str, Any],
    pods: list[dict[str, Any]],
    *,
    gpu: bool,
    previous_attempts: int,
    previous_started_at: str | None,
    previous_message: str | None = None,
    failed_create: FailedCreate | None = None,
) -> Observation:
    """Derive a run's phase, reason and message from its Job and the Job's pods.

    ``previous_message`` is the status message before this observation (it says why a run that
    never started was waiting); ``failed_create`` is the newest pod-creation refusal the Job
    controller reported for this Job, if any.
    """
    pods = sorted(pods, key=lambda p: (_created(p), p["metadata"]["name"]))
    counters = job.get("status", {})
    attempts = max(
        previous_attempts,
        len(pods),
        sum(int(counters.get(k) or 0) for k in ("active", "failed", "succeeded")),
    )
    latest = pods[-1] if pods else None
    failed_pods = [p for p in pods if p.get("status", {}).get("phase") == "Failed"]
    last_failed = failed_pods[-1] if failed_pods else None
    started_at = previous_started_at
    for pod in pods:
        start = pod.get("status", {}).get("startTime")
        if pod.get("status", {}).get("phase") != "Pending" and start and not started_at:
            started_at = normalize_time(start)
    node_name = (latest.get("spec") or {}).get("nodeName") if latest else None
    where = Observation(
        Phase.PENDING,
        Reason.CREATING,  # a placeholder: every outcome below says its own
        "",
        attempts,
        started_at=started_at,
        pod_name=latest["metadata"]["name"] if latest else None,
        node_name=node_name,
    )
    tries = f"attempt {attempts} of {int(job['spec'].get('backoffLimit', 0)) + 1}"

    if complete := _condition(job, "Complete"):
        message = "succeeded" if attempts <= 1 else f"succeeded after {attempts} attempts"
        return replace(
            where,
            phase=Phase.SUCCEEDED,
            reason=Reason.SUCCEEDED,
            message=message,
            finished_at=normalize_time(
                counters.get("completionTime") or complete.get("lastTransitionTime")
            ),
            scheduled=("True", Reason.SCHEDULED, ""),
        )
    if failed := _condition(job, "Failed"):
        reason = from_kubernetes(failed.get("reason"), Reason.FAILED)
        finished = normalize_time(failed.get("lastTransitionTime"))
        if reason == Reason.BACKOFF_LIMIT_EXCEEDED:
            message = (
                f"failed {len(failed_pods) or attempts} times, last {_exit_summary(last_failed)}"
            )
        elif reason == Reason.DEADLINE_EXCEEDED:
            deadline = job["spec"].get("activeDeadlineSeconds")
            if started_at:
                message = f"deadline exceeded after {deadline}s"
            else:
                message = _deadline_before_start(deadline, previous_message)
        elif reason == Reason.POD_FAILURE_POLICY:
            reason = Reason.PERMANENT_FAILURE
            message = (
                f"failed permanently with {_exit_summary(last_failed)} (bad input or "
                "unsupported media); not retried"
            )
        else:
            message = failed.get("message") or reason
        return replace(
            where, phase=Phase.FAILED, reason=reason, message=message, finished_at=finished
        )

    phase_if_waiting = Phase.RUNNING if started_at else Phase.PENDING
    # Kubernetes 1.31+ marks the outcome before the last pods are gone.
    if target := _condition(job, "FailureTarget"):
        if target.get("reason") == Reason.DEADLINE_EXCEEDED and not started_at:
            message = _deadline_before_start(
                job["spec"].get("activeDeadlineSeconds"), previous_message
            )
        else:
            message = (
                f"failing ({target.get('reason') or Reason.FAILED}): "
                f"{target.get('message') or 'stopping the remaining pods'}"
            )
        return replace(where, phase=phase_if_waiting, reason=Reason.FAILING, message=message)
    if _condition(job, "SuccessCriteriaMet"):
        # Says what the succeeded pod says (below), word for word: the Job marking the success
        # a moment after its pod is the same state, and a new wording would be one more status
        # write per job.
        return replace(
            where,
            phase=Phase.RUNNING,
            reason=Reason.FINISHING,
            message=_finishing(attempts),
            scheduled=("True", Reason.SCHEDULED, ""),
        )
    status = (latest or {}).get("status", {})
    if latest and status.get("phase") == "Running":
        return replace(
            where,
            phase=Phase.RUNNING,
            reason=Reason.RUNNING,
            message=f"running on {node_name} ({tries})",
            scheduled=("True", Reason.SCHEDULED, ""),
            running=True,
        )
    if latest and status.get("phase") == "Pending":
        since = parse_time(_created(latest))
        scheduled_condition = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None
        )
        if scheduled_condition and scheduled_condition.get("status") == "False":
            message = _wait_for_node(scheduled_condition.get("message", ""), gpu)
            return replace(
                where,
                phase=phase_if_waiting,
                reason=Reason.UNSCHEDULABLE,
                message=message,
                scheduled=("False", Reason.UNSCHEDULABLE, message),
                pending_since=since,
                not_running=Reason.WAITING_FOR_GPU_NODE if gpu else None,
            )
        waiting = _waiting(latest)
        if waiting and waiting.get("reason") in IMAGE_PULL_REASONS:
            message = f"image pull failed: {waiting.get('message') or waiting['reason']}"
            return replace(
                where,
                phase=phase_if_waiting,
                reason=Reason.IMAGE_PULL_FAILED,
                message=message,
                scheduled=("True", Reason.SCHEDULED, ""),
                pending_since=since,
            )
        if waiting and waiting.get("reason") and waiting["reason"] not in STARTING_REASONS:
            detail = waiting.get("message") or ""
            return replace(
                where,
                phase=phase_if_waiting,
                reason=Reason.CONTAINER_NOT_STARTING,
                message=f"the container cannot start on {node_name}: {waiting['reason']}"
                + (f": {detail}" if detail else ""),
                scheduled=("True", Reason.SCHEDULED, ""),
                pending_since=since,
            )
        return replace(
            where,
            phase=phase_if_waiting,
            reason=Reason.STARTING,
            message=f"starting on {node_name}" if node_name else "waiting to be scheduled",
            scheduled=("True", Reason.SCHEDULED, "")
            if node_name
            else ("Unknown", Reason.SCHEDULING, ""),
            pending_since=since,
        )
    if latest and status.get("phase") == "Succeeded":
        # The pod is done; the Job controller has yet to mark the Job Complete.
        return replace(
            where,
            phase=Phase.RUNNING,
            reason=Reason.FINISHING,
            message=_finishing(attempts),
            scheduled=("True", Reason.SCHEDULED, ""),
        )
    refusal = _current_refusal(failed_create, latest)
    if last_failed is not None and refusal is None:
        return replace(
            where,
            phase=phase_if_waiting,
            reason=Reason.RETRYING,
            message=f"attempt {len(failed_pods)} failed with "
            f"{_exit_summary(last_failed)}; retrying",
        )
    # Only a first attempt waits from the Job's creation; a replacement pod (after an
    # eviction or a deleted pod) starts its own wait once it exists.
    pending_since = parse_time(_created(job)) if attempts == 0 else None
    if refusal is not None:
        return replace(
            where,
            phase=phase_if_waiting,
            reason=refusal.reason,
            message=refusal.message,
            pending_since=pending_since,
            refused=refusal.permanent,
        )
    return replace(
        where,
        phase=phase_if_waiting,
        reason=Reason.CREATING,
        message="waiting for the Job controller to create a pod",
        pending_since=pending_since,
    )


def _finishing(attempts: int) -> str:
    """The Finishing message: attempt ``attempts`` succeeded, the Job is not yet Complete."""
    return f"attempt {attempts} succeeded; waiting for the Job to complete"


def _deadline_before_start(deadline: object, previous_message: str | None) -> str:
    """Kubernetes counts waiting against activeDeadlineSeconds (kubernetes#111948): say that
    the deadline passed before any attempt started, and what the run was waiting for."""
    sentence = f"the {deadline}s deadline passed before the job could start"
    if previous_message and previous_message.startswith(sentence):
        return previous_message  # said already, while the Job was failing
    return f"{sentence}; it was {previous_message}" if previous_message else sentence


def _current_refusal(
    failed_create: FailedCreate | None, latest: dict[str, Any] | None
) -> Refusal | None:
    """The refusal, if it is newer than the run's latest pod (an old one was since overcome)."""
    if failed_create is None:
        return None
    created = parse_time(_created(latest)) if latest else None
    # Timestamps have whole seconds: a tie goes to the pod (its creation may be the fix).
    if created is not None and failed_create.last_seen <= created:
        return None
    return failed_create.refusal
