"""Pure: which OmveeJobs `omvee purge` removes: finished ones that ended long enough ago."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from api.v1alpha1.constants import CONDITION_FINISHED
from api.v1alpha1.public import FINAL
from controller.cli.ages import parse_time


def finished_at(ojob: dict[str, Any]) -> datetime | None:
    """When the job ended: status.finishedAt, else its Finished condition's transition."""
    status = ojob.get("status") or {}
    if status.get("phase") not in FINAL:
        return None
    if status.get("finishedAt"):
        return parse_time(status["finishedAt"])
    for condition in status.get("conditions") or []:
        if condition.get("type") == CONDITION_FINISHED and condition.get("status") == "True":
            return parse_time(condition.get("lastTransitionTime"))
    return None


def purgeable(
    ojobs: list[dict[str, Any]], older_than: timedelta, now: datetime
) -> list[dict[str, Any]]:
    """Finished (Succeeded, Failed, Cancelled) jobs that ended before ``now - older_than``,
    oldest first. A job with no known end time is kept."""
    cutoff = now - older_than
    chosen = [
        (ended, ojob)
        for ojob in ojobs
        if (ended := finished_at(ojob)) is not None and ended < cutoff
    ]
    chosen.sort(key=lambda pair: (pair[0], pair[1]["metadata"]["name"]))
    return [ojob for _, ojob in chosen]
