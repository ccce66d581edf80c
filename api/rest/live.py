"""Pure: what the dashboard and the live job stream show of a job, its attempts and timeline."""

from __future__ import annotations

import json
from typing import Any

from api.logs import archive
from api.v1alpha1 import constants, reasons
from api.v1alpha1.public import to_public
from api.v1alpha1.reasons import Reason
from api.v1alpha1.types import Phase


def _condition_reason(status: dict[str, Any], kind: str) -> str | None:
    """The reason of the status condition of type ``kind``, None when there is none."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return str(condition.get("reason") or "") or None
    return None


def waiting_for_gpu(status: dict[str, Any]) -> bool:
    """Whether a job (its status, camelCase) is Pending because its pod needs a GPU node and
    none is free: the operator says so with the Running condition's reason (WaitingForGPUNode,
    see api.v1alpha1.reasons.GPU_WAITS), never in words to match."""
    return (
        status.get("phase") == Phase.PENDING
        and _condition_reason(status, constants.CONDITION_RUNNING) in reasons.GPU_WAITS
    )


def cannot_start(status: dict[str, Any]) -> bool:
    """Whether a Pending job cannot start until someone acts or something frees up (its
    status.reason is one of api.v1alpha1.reasons.BLOCKED; the message says what)."""
    return status.get("phase") == Phase.PENDING and status.get("reason") in reasons.BLOCKED


def job_row(ojob: dict[str, Any]) -> dict[str, Any]:
    """The public job, plus what a live table needs to flag it."""
    row = to_public(ojob).model_dump(mode="json")
    status = ojob.get("status") or {}
    row["waiting_for_gpu"] = waiting_for_gpu(status)
    row["cannot_start"] = cannot_start(status)
    return row


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Events message, UTF-8: ``event: <event>`` and ``data: <data as compact
    JSON>``; ``TypeError`` when ``data`` is not JSON-serialisable."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def attempts(ojob: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every attempt known: saved ones (their pods may be gone) and the current run's pods."""
    status = ojob.get("status") or {}
    run = int(status.get("run") or 0)
    found: dict[tuple[int, int], dict[str, Any]] = {}
    saved = [e for e in status.get("logs") or [] if int(e["run"]) == run]
    for number, pod in archive.numbered(pods, saved):
        found[(run, number)] = {
            "run": run,
            "attempt": number,
            "pod": pod["metadata"]["name"],
            "node": pod.get("spec", {}).get("nodeName"),
            "state": pod.get("status", {}).get("phase") or "Pending",
            "exit_code": archive.exit_code(pod),
            "log_saved": False,
        }
    for entry in status.get("logs") or []:
        key = (int(entry["run"]), int(entry["attempt"]))
        found[key] = {
            "run": key[0],
            "attempt": key[1],
            "pod": entry["pod"],
            "node": entry.get("node"),
            "state": _ended(entry),
            "exit_code": entry.get("exitCode"),
            "log_saved": bool(entry.get("key")),
        }
    return [found[key] for key in sorted(found)]


def _ended(entry: dict[str, Any]) -> str:
    if entry.get("exitCode") == 0:
        return "Succeeded"
    if entry.get("exitCode") is None and entry.get("reason"):
        return str(entry["reason"])  # stopped before it ended: Cancelled, PendingTimeout...
    return "Failed"


def timeline(ojob: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Creation, condition changes and Kubernetes Events, oldest first."""
    items: list[dict[str, Any]] = [
        {
            "time": ojob["metadata"].get("creationTimestamp"),
            "kind": "Normal",
            "reason": Reason.SUBMITTED.value,
            "message": f"{ojob['spec']['type']} job created",
        }
    ]
    # Events of one second keep the order they were recorded in.
    events = sorted(events, key=lambda e: int(e["metadata"].get("resourceVersion") or 0))
    for event in events:
        items.append(
            {
                "time": event.get("lastTimestamp")
                or event.get("eventTime")
                or event["metadata"].get("creationTimestamp"),
                "kind": event.get("type") or "Normal",
                "reason": event.get("reason") or "",
                "message": event.get("message") or "",
                "count": int(event.get("count") or 1),
            }
        )
    return sorted(items, key=lambda item: str(item["time"] or ""))
