"""Pure: label values from a bounded set, so no label can grow a series per job.

Reason labels use the CamelCase reasons the operator writes to ``status.reason`` (see
controller.status and controller.transitions); anything else, e.g. a Job failure reason a
newer Kubernetes adds, is counted as ``Other``.
"""

from __future__ import annotations

from api.v1alpha1.types import JobType, Phase
from controller.workqueue import Requeue

OTHER = "Other"

JOB_TYPES = frozenset(t.value for t in JobType)
PHASES = frozenset(p.value for p in Phase)
# Why a job that has not ended is waiting (status.reason while its attempt has no running pod).
WAITING_REASONS = frozenset(
    {
        "Creating",
        "Starting",
        "Unschedulable",
        "ImagePullFailed",
        "ContainerNotStarting",
        "QuotaExceeded",
        "PodCreationBlocked",
        "PodCreationRefused",
        "JobCreationBlocked",
        "Retrying",
        "Failing",
    }
)
FAILURE_REASONS = frozenset(
    {
        "BackoffLimitExceeded",
        "DeadlineExceeded",
        "PermanentFailure",
        "PendingTimeout",
        "InvalidInput",
        "JobDeleted",
        "JobNameTaken",
        "PodCreationRefused",
        "JobRefused",
        "DuplicateJobId",
        "UpstreamNotFound",
        "Failed",
    }
)
# How a mirror write failed: no row could be written (unreachable, timed out, a 5xx...), or the
# database refused this row's content (see controller.mirror.sinks.failure_reason).
MIRROR_FAILURE_REASONS = frozenset({"Unavailable", "Rejected"})
# Why a worker put an OmveeJob's key back in the work queue.
REQUEUE_REASONS = frozenset({Requeue.ERROR, Requeue.RECHECK})
# The HTTP methods of the operator's requests to the API server (GET: reads, lists included).
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def bounded(value: object, allowed: frozenset[str]) -> str:
    return value if isinstance(value, str) and value in allowed else OTHER


def job_type(value: object) -> str:
    return bounded(value, JOB_TYPES)


def phase(value: object) -> str:
    """A job the operator has not yet looked at has no phase: it is Pending."""
    return Phase.PENDING.value if value is None else bounded(value, PHASES)


def waiting_reason(value: object) -> str:
    return bounded(value, WAITING_REASONS)


def failure_reason(value: object) -> str:
    return bounded(value, FAILURE_REASONS)
