"""Every CamelCase reason the OmveeJob contract uses, as one enumeration, and what each means.

Where a reason appears on an OmveeJob:

- ``status.reason``: written by the operator (controller.status, controller.transitions,
  controller.refusals, controller.ownership, controller.dependencies); the members of
  ``STATUS``. The only other value it can hold is a Job failure reason a newer Kubernetes adds
  (``KubernetesReason``): passed through unchanged, counted as ``Other`` by the metrics.
- ``status.conditions[].reason``: a status reason, a final phase, or one of ``CONDITION_ONLY``.
- ``status.logs[].reason`` (how a saved attempt ended): the kubelet's container or pod reason
  (``OOMKilled``, ``Error``, ``Evicted``, ``DeadlineExceeded``...), passed through and not listed
  here, or, for an attempt stopped before it ended, the status reason that stopped it or one of
  ``ATTEMPT_ONLY``.
- Events the operator posts on an OmveeJob: one per change of ``status.reason``, with that reason
  (``Warning`` for the members of ``WARNING``); the job timeline adds ``Submitted``.

Each group below is a frozenset of members. A reason the operator writes to ``status.reason``
belongs to exactly one of ``WAITING``, ``FAILURE`` and ``COUNTED_BY_PHASE`` (``PodCreationRefused``
to the first two: it waits out a grace, then fails), so the reason-labelled metrics know it; a
test fails for a member that is in none.

Wire values never change: ``Reason`` is a ``StrEnum``, so a member is the string itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NewType


class Reason(StrEnum):
    """A reason the operator writes, or a Kubernetes reason it reads and names."""

    # -- status.reason of a run that has not ended ------------------------------------------
    CREATING = "Creating"
    """The run's Job is being created, or its Job has no pod yet."""
    STARTING = "Starting"
    """The attempt's pod is on a node and its container is being created."""
    UNSCHEDULABLE = "Unschedulable"
    """The scheduler found no node for the attempt's pod (no free GPU, no matching node)."""
    IMAGE_PULL_FAILED = "ImagePullFailed"
    """The node cannot pull the job image."""
    CONTAINER_NOT_STARTING = "ContainerNotStarting"
    """The container cannot start for a cause other than its image (a missing Secret...)."""
    QUOTA_EXCEEDED = "QuotaExceeded"
    """A ResourceQuota refuses the run's pod or Job for now: waits for quota."""
    POD_CREATION_BLOCKED = "PodCreationBlocked"
    """Pod creation is refused for a cause that may pass (an admission webhook down)."""
    POD_CREATION_REFUSED = "PodCreationRefused"
    """Pod creation is refused for a cause waiting cannot fix (a missing ServiceAccount,
    PodSecurity); the run fails once the refusal outlasts a grace."""
    JOB_CREATION_BLOCKED = "JobCreationBlocked"
    """The API server refuses the operator's create of the run's Job for now (a quota on Jobs,
    the operator's own RBAC, a webhook down)."""
    RETRYING = "Retrying"
    """An attempt failed; Kubernetes is starting the next one."""
    FAILING = "Failing"
    """The Job is marked to fail (FailureTarget); its last pods are being stopped."""
    RUNNING = "Running"
    """The attempt's pod runs."""
    FINISHING = "Finishing"
    """The attempt succeeded; the Job controller has yet to mark the Job Complete."""
    WAITING_FOR_UPSTREAM = "WaitingForUpstream"
    """An upstream job (an input field naming another job) has not succeeded yet: no Job, no
    pod, no pending or deadline clock until it has (controller.dependencies)."""

    # -- status.reason of an ended run (Succeeded, Cancelled, Failed) -------------------------
    SUCCEEDED = "Succeeded"
    """The run's Job completed."""
    CANCELLED = "Cancelled"
    """spec.cancel was set: the run's Job and pods were deleted."""
    BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
    """Kubernetes' Job reason, passed through: every attempt allowed failed."""
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    """Kubernetes' Job reason, passed through: the run outlived activeDeadlineSeconds."""
    PERMANENT_FAILURE = "PermanentFailure"
    """The job container exited with the permanent-failure code (bad input, unsupported media);
    Kubernetes' ``PodFailurePolicy`` reason, renamed: not retried."""
    PENDING_TIMEOUT = "PendingTimeout"
    """An attempt waited to start longer than the pending timeout; the operator stopped it."""
    INVALID_INPUT = "InvalidInput"
    """spec.input fails the type's input model; no Job was created."""
    JOB_DELETED = "JobDeleted"
    """The run's Job was deleted before it finished (the work is not run twice)."""
    JOB_NAME_TAKEN = "JobNameTaken"
    """A Job with the run's name exists and is not this OmveeJob's."""
    JOB_REFUSED = "JobRefused"
    """The API server refused the run's Job in a way waiting cannot fix (invalid, denied)."""
    DUPLICATE_JOB_ID = "DuplicateJobId"
    """An older OmveeJob of the namespace holds the same spec.jobId; this one never runs."""
    UPSTREAM_NOT_FOUND = "UpstreamNotFound"
    """An input field names a job of another project."""
    UPSTREAM_FAILED = "UpstreamFailed"
    """An upstream job's run failed: this run ended at once, with no Job (status.upstream
    names it). Retrying the upstream starts this job again (controller.dependencies)."""
    UPSTREAM_CANCELLED = "UpstreamCancelled"
    """An upstream job's run was cancelled: this run ended at once, with no Job; retrying the
    upstream starts this job again."""
    UPSTREAM_CYCLE = "UpstreamCycle"
    """Following the upstream fields leads back to this job (it names itself, or a chain of
    jobs does): it could never start, so it fails before any Job exists."""
    FAILED = "Failed"
    """The Job failed without a reason Kubernetes gave (and the final phase, as a condition
    reason)."""

    # -- condition reasons only ----------------------------------------------------------------
    SCHEDULED = "Scheduled"
    """Scheduled=True: a pod of the current attempt has a node."""
    SCHEDULING = "Scheduling"
    """Scheduled=Unknown: the attempt's pod exists and the scheduler has not placed it yet."""
    NO_POD = "NoPod"
    """Scheduled=Unknown: the current attempt has no pod."""
    NOT_FINISHED = "NotFinished"
    """Finished=False: the run has not ended."""
    WAITING_FOR_GPU_NODE = "WaitingForGPUNode"
    """Running=False: the attempt's pod needs a GPU node and the scheduler found none free
    (status.reason says Unschedulable). What the dashboard shows as "waiting for GPU"."""

    # -- status.logs[].reason of an attempt stopped before it ended ---------------------------
    STOPPED = "Stopped"
    """The attempt's pod was stopped with its Job for no more specific reason."""
    DELETED = "Deleted"
    """The attempt's pod was being deleted (an eviction, a drain) when its log was saved."""

    # -- the job timeline ----------------------------------------------------------------------
    SUBMITTED = "Submitted"
    """The OmveeJob was created (the first timeline entry; not an Event)."""

    # -- Kubernetes reasons the operator reads (never written by it) ---------------------------
    POD_FAILURE_POLICY = "PodFailurePolicy"
    """The Job failed by its podFailurePolicy (the permanent-failure exit code): written as
    PERMANENT_FAILURE."""
    FAILED_CREATE = "FailedCreate"
    """The Job controller's Event when it cannot create a pod (see controller.refusals)."""


KubernetesReason = NewType("KubernetesReason", str)
"""A Job failure reason from Kubernetes that is not a member (one a newer Kubernetes adds):
written to status.reason unchanged, counted as ``Other`` by the metrics."""


def from_kubernetes(value: str | None, default: Reason) -> Reason | KubernetesReason:
    """A Kubernetes Job condition's reason as a member when it is one, else passed through as
    ``KubernetesReason``; ``default`` when Kubernetes gave none (None or "")."""
    if not value:
        return default
    try:
        return Reason(value)
    except ValueError:
        return KubernetesReason(value)


# Why a run that has not ended has no running pod (metrics: omvee_jobs_pending by reason).
WAITING = frozenset(
    {
        Reason.CREATING,
        Reason.STARTING,
        Reason.UNSCHEDULABLE,
        Reason.IMAGE_PULL_FAILED,
        Reason.CONTAINER_NOT_STARTING,
        Reason.QUOTA_EXCEEDED,
        Reason.POD_CREATION_BLOCKED,
        Reason.POD_CREATION_REFUSED,
        Reason.JOB_CREATION_BLOCKED,
        Reason.RETRYING,
        Reason.FAILING,
        Reason.WAITING_FOR_UPSTREAM,
    }
)
# How a run ended Failed (metrics: omvee_job_failures_total by reason).
FAILURE = frozenset(
    {
        Reason.BACKOFF_LIMIT_EXCEEDED,
        Reason.DEADLINE_EXCEEDED,
        Reason.PERMANENT_FAILURE,
        Reason.PENDING_TIMEOUT,
        Reason.INVALID_INPUT,
        Reason.JOB_DELETED,
        Reason.JOB_NAME_TAKEN,
        Reason.POD_CREATION_REFUSED,
        Reason.JOB_REFUSED,
        Reason.DUPLICATE_JOB_ID,
        Reason.UPSTREAM_NOT_FOUND,
        Reason.UPSTREAM_FAILED,
        Reason.UPSTREAM_CANCELLED,
        Reason.UPSTREAM_CYCLE,
        Reason.FAILED,
    }
)
# Status reasons that say no more than the phase (Running, Succeeded, Cancelled): the metrics
# count these jobs by phase, and no metric has them as a reason label.
COUNTED_BY_PHASE = frozenset({Reason.RUNNING, Reason.FINISHING, Reason.SUCCEEDED, Reason.CANCELLED})
# Every reason the operator writes to status.reason.
STATUS = WAITING | FAILURE | COUNTED_BY_PHASE

# Reasons only conditions, saved attempt logs, the timeline, or Kubernetes itself use.
CONDITION_ONLY = frozenset(
    {
        Reason.SCHEDULED,
        Reason.SCHEDULING,
        Reason.NO_POD,
        Reason.NOT_FINISHED,
        Reason.WAITING_FOR_GPU_NODE,
    }
)
ATTEMPT_ONLY = frozenset({Reason.STOPPED, Reason.DELETED})
TIMELINE_ONLY = frozenset({Reason.SUBMITTED})
KUBERNETES_ONLY = frozenset({Reason.POD_FAILURE_POLICY, Reason.FAILED_CREATE})

# A Running=False condition reason meaning the attempt waits for a GPU node to free up.
GPU_WAITS = frozenset({Reason.WAITING_FOR_GPU_NODE})
# A Pending job with one of these cannot start until someone acts or something frees up (the
# message says what); the dashboard flags it "cannot start".
BLOCKED = frozenset(
    {
        Reason.POD_CREATION_REFUSED,
        Reason.POD_CREATION_BLOCKED,
        Reason.JOB_CREATION_BLOCKED,
        Reason.QUOTA_EXCEEDED,
        Reason.CONTAINER_NOT_STARTING,
        Reason.IMAGE_PULL_FAILED,
    }
)
# Events posted with one of these are of type Warning, the others Normal: every failure, and
# every wait a person may need to act on (not Creating, Starting, or Failing, whose Failed
# Event follows, nor WaitingForUpstream: a chain's later steps wait by design).
WARNING = FAILURE | (
    WAITING - {Reason.CREATING, Reason.STARTING, Reason.FAILING, Reason.WAITING_FOR_UPSTREAM}
)
