"""Pure: an OmveeJob -> the `jobs` row written through public.mirror_job_status()."""

from __future__ import annotations

import re
from typing import Any

STATUS_BY_PHASE = {
    None: "queued",
    "Pending": "queued",
    "Running": "running",
    "Succeeded": "succeeded",
    "Failed": "failed",
    "Cancelled": "cancelled",
}


def revision(ojob: dict[str, Any]) -> int:
    """The ordering key: the OmveeJob's resourceVersion, which the API server raises on every
    write (an etcd revision). Only its order is used, and only for one object."""
    return int(ojob["metadata"]["resourceVersion"])


def build_row(ojob: dict[str, Any]) -> dict[str, Any]:
    """The ``jobs`` row {column: value} of an OmveeJob body; its ``revision`` orders the rows
    of one job. ``pipeline_id`` (spec.pipelineId, lower-case) is there only for a pipeline's
    step: the SQL function writes null without it. KeyError when the body lacks jobId,
    projectId, type or resourceVersion, or has an unknown phase."""
    spec, status = ojob.get("spec") or {}, ojob.get("status") or {}
    phase = status.get("phase")
    row_status = STATUS_BY_PHASE[phase]
    pipeline = {"pipeline_id": str(spec["pipelineId"]).lower()} if spec.get("pipelineId") else {}
    return pipeline | {
        "id": spec["jobId"],
        "project_id": spec["projectId"],
        "type": spec["type"],
        "status": row_status,
        "progress": int(status.get("progress") or 0),
        "progress_message": status.get("progressMessage"),
        "reason": status.get("reason"),
        "message": status.get("message"),
        "error": status.get("message") if row_status == "failed" else None,
        "attempts": int(status.get("attempts") or 0),
        "run": int(status.get("run") or spec.get("rerun") or 0),
        "input": spec.get("input") or {},
        "result": status.get("result"),
        "k8s_namespace": ojob["metadata"]["namespace"],
        "k8s_name": ojob["metadata"]["name"],
        "k8s_job_name": status.get("jobName"),
        "k8s_pod_name": status.get("podName"),
        "k8s_node_name": status.get("nodeName"),
        "started_at": status.get("startedAt"),
        "finished_at": status.get("finishedAt"),
        "revision": revision(ojob),
    }


# What PostgreSQL text and jsonb cannot hold at all: U+0000, and unpaired surrogates (UTF-8
# cannot encode them).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def storable(row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``row`` with every string the database cannot store (at any depth, dict keys too, e.g.
    in ``input``, ``result``, ``message``) made storable: U+0000 and unpaired surrogates
    become U+FFFD. Returns the row (``row`` itself when nothing changed) and where characters
    were replaced, e.g. ``["input.audioUrl", "result.segments[2].text"]``, so it can be said;
    a key is named with `` (key)`` after it."""
    replaced: list[str] = []
    safe = _storable(row, "", replaced)
    return (safe if replaced else row), replaced


def _storable(value: Any, where: str, replaced: list[str]) -> Any:
    if isinstance(value, str):
        if UNSTORABLE.search(value) is None:
            return value
        replaced.append(where)
        return UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and UNSTORABLE.search(key) is not None:
                key = UNSTORABLE.sub(REPLACEMENT, key)
                inner = f"{where}.{key}" if where else key
                replaced.append(f"{inner} (key)")
            out[key] = _storable(item, inner, replaced)
        return out
    if isinstance(value, list | tuple):
        return [_storable(item, f"{where}[{i}]", replaced) for i, item in enumerate(value)]
    return value
