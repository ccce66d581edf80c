"""Pure: the OmveeJobs the periodic resync lists -> the job gauges."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from api.v1alpha1.reasons import Reason
from api.v1alpha1.types import Phase
from controller.metrics import labels


@dataclass(frozen=True)
class JobCounts:
    """OmveeJob counts of one resync: ``by_phase`` {(type, phase): count} and ``waiting``
    {(type, reason): count} for jobs not ended with no pod of the current attempt running."""

    by_phase: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, phase)
    # Not ended and no pod of the current attempt running: (type, reason)
    waiting: Counter[tuple[str, str]] = field(default_factory=Counter)


def is_waiting(phase: str, reason: object) -> bool:
    """Pending, or Running between attempts (e.g. a retry waiting for a GPU node)."""
    if phase == Phase.PENDING.value:
        return True
    return phase == Phase.RUNNING.value and reason in labels.WAITING_REASONS


def count_jobs(ojobs: Iterable[dict[str, Any]]) -> JobCounts:
    """Count OmveeJob bodies by (type, phase) and the waiting ones by (type, reason): no phase
    counts as Pending, no reason as ``Creating``, a value outside the known labels as ``Other``."""
    counts = JobCounts()
    for ojob in ojobs:
        status = ojob.get("status") or {}
        job_type = labels.job_type((ojob.get("spec") or {}).get("type"))
        phase = labels.phase(status.get("phase"))
        counts.by_phase[job_type, phase] += 1
        if is_waiting(phase, status.get("reason")):
            # Not yet looked at by the operator: it will be Creating.
            reason = status.get("reason") or Reason.CREATING
            counts.waiting[job_type, labels.waiting_reason(reason)] += 1
    return counts
