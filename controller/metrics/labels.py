"""Pure: label values from a bounded set, so no label can grow a series per job.

Reason labels are the reasons the operator writes to ``status.reason``, as grouped in
api.v1alpha1.reasons (WAITING, FAILURE); anything else, e.g. a Job failure reason a newer
Kubernetes adds, is counted as ``Other``. A reason added to the enumeration is labelled as soon
as it is put in its group (tests/unit/test_reasons.py fails for one in no group).
"""

from __future__ import annotations

from api.v1alpha1 import reasons
from api.v1alpha1.types import JobType, Phase
from controller.workqueue import Requeue

OTHER = "Other"

JOB_TYPES = frozenset(t.value for t in JobType)
PHASES = frozenset(p.value for p in Phase)
# Why a job that has not ended is waiting (status.reason while its attempt has no running pod).
WAITING_REASONS = frozenset(r.value for r in reasons.WAITING)
# How a run ended Failed.
FAILURE_REASONS = frozenset(r.value for r in reasons.FAILURE)
# How a mirror write failed: no row could be written (unreachable, timed out, a 5xx...), or the
# database refused this row's content (see controller.mirror.sinks.failure_reason).
MIRROR_FAILURE_REASONS = frozenset({"Unavailable", "Rejected"})
# Why a worker put an OmveeJob's key back in the work queue.
REQUEUE_REASONS = frozenset({Requeue.ERROR, Requeue.RECHECK})
# The HTTP methods of the operator's requests to the API server (GET: reads, lists included).
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def bounded(value: object, allowed: frozenset[str]) -> str:
    """``value`` as a plain string when it is one of ``allowed``, else ``Other``."""
    return str(value) if isinstance(value, str) and value in allowed else OTHER


def job_type(value: object) -> str:
    """The ``job_type`` label: a JobType value, else ``Other``."""
    return bounded(value, JOB_TYPES)


def phase(value: object) -> str:
    """A job the operator has not yet looked at has no phase: it is Pending."""
    return Phase.PENDING.value if value is None else bounded(value, PHASES)


def waiting_reason(value: object) -> str:
    """The ``reason`` label of a waiting job: its status.reason if a WAITING reason, else
    ``Other``."""
    return bounded(value, WAITING_REASONS)


def failure_reason(value: object) -> str:
    """The ``reason`` label of a failed run: its status.reason if a FAILURE reason, else
    ``Other``."""
    return bounded(value, FAILURE_REASONS)
