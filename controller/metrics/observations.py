"""Pure: what one status write of an OmveeJob adds to the event metrics.

Each reconcile compares the OmveeJob before and after its status write. The write is guarded by
resourceVersion, so every transition is written, and so counted, once, whichever replica or
restart of the operator makes it. Times come from the status, not the clock of the moment:

- queue wait: ``startedAt`` (the run's first pod started) minus when the run was created;
- run time: ``finishedAt`` minus ``startedAt``;
- end to end: ``finishedAt`` minus when the run was created.

Run 0 was created with the OmveeJob (``metadata.creationTimestamp``); a rerun when the operator
started it, which its ``Finished`` condition records (False since the run began).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.v1alpha1 import constants
from api.v1alpha1.types import Phase
from controller.metrics import labels
from controller.status import parse_time

FINAL = frozenset(p.value for p in Phase if p.final)


@dataclass(frozen=True)
class Observations:
    """What one status write adds to the metrics: ``job_type`` a bounded label, durations in
    seconds (None: nothing to observe), ``final_phase`` set only by the write that ended a run."""

    job_type: str
    retries: int = 0  # attempts of the run beyond its first that this write reports
    queue_wait: float | None = None  # seconds; set when the run's first pod has just started
    final_phase: str | None = None  # set when the run has just ended
    run_seconds: float | None = None  # with final_phase, when the run had started
    end_to_end: float | None = None  # with final_phase
    failure_reason: str | None = None  # with final_phase Failed


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _finished_condition_time(status: dict[str, Any]) -> datetime | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == constants.CONDITION_FINISHED:
            return parse_time(condition.get("lastTransitionTime"))
    return None


def run_created_at(
    ojob: dict[str, Any], before: dict[str, Any], after: dict[str, Any]
) -> datetime | None:
    """When the run ``after`` describes was created (``before``/``after``: statuses)."""
    if not after.get("run"):
        return parse_time(ojob.get("metadata", {}).get("creationTimestamp"))
    return _finished_condition_time(before if before.get("run") == after.get("run") else after)


def observe_write(before_ojob: dict[str, Any], after_ojob: dict[str, Any]) -> Observations:
    """What changed between the OmveeJob before a status write and after it."""
    before = before_ojob.get("status") or {}
    after = after_ojob.get("status") or {}
    job_type = labels.job_type((after_ojob.get("spec") or {}).get("type"))
    same_run = before.get("run") is not None and before.get("run") == after.get("run")
    seen_attempts = int(before.get("attempts") or 0) if same_run else 0
    retries = max(0, int(after.get("attempts") or 0) - max(seen_attempts, 1))
    created = run_created_at(after_ojob, before, after)
    started = parse_time(after.get("startedAt"))
    queue_wait = None
    if started is not None and not (same_run and before.get("startedAt")):
        queue_wait = _seconds(created, started)
    phase = after.get("phase")
    if phase not in FINAL or (same_run and before.get("phase") in FINAL):
        return Observations(job_type, retries=retries, queue_wait=queue_wait)
    finished = parse_time(after.get("finishedAt"))
    return Observations(
        job_type,
        retries=retries,
        queue_wait=queue_wait,
        final_phase=phase,
        run_seconds=_seconds(started, finished),
        end_to_end=_seconds(created, finished),
        failure_reason=labels.failure_reason(after.get("reason"))
        if phase == Phase.FAILED.value
        else None,
    )
