"""Pure: an OmveeJob -> the `jobs` row written through public.mirror_job_status()."""

from __future__ import annotations

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
    spec, status = ojob.get("spec") or {}, ojob.get("status") or {}
    phase = status.get("phase")
    row_status = STATUS_BY_PHASE[phase]
    return {
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
