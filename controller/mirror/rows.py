"""Pure: an OmveeJob -> the `jobs` row written through public.mirror_job_status()."""

from __future__ import annotations

import re
from typing import Any

from api.statuswords import OURS, StatusWords
from api.v1alpha1.constants import PERMANENT_FAILURE_EXIT_CODE
from api.v1alpha1.reasons import Reason

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


def build_row(ojob: dict[str, Any], words: StatusWords = OURS) -> dict[str, Any]:
    """The ``jobs`` row {column: value} of an OmveeJob body; its ``revision`` orders the rows
    of one job. ``pipeline_id`` (spec.pipelineId, lower-case) is there only for a pipeline's
    step: the SQL function writes null without it. ``status`` is in the app's ``words``; when
    they are not ours, ``final_statuses`` lists the app's final words (read by
    mirror_job_status(), not a column). KeyError when the body lacks jobId, projectId, type or
    resourceVersion, or has an unknown phase."""
    spec, status = ojob.get("spec") or {}, ojob.get("status") or {}
    phase = status.get("phase")
    row_status = STATUS_BY_PHASE[phase]
    pipeline = {"pipeline_id": str(spec["pipelineId"]).lower()} if spec.get("pipelineId") else {}
    mapped = {} if words.identity else {"final_statuses": words.final()}
    return (
        pipeline
        | mapped
        | {
            "id": spec["jobId"],
            "project_id": spec["projectId"],
            "type": spec["type"],
            "status": words.word(row_status),
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
    )


# Our status -> the OmveeJob phase that build_row maps back to it (a local run's body).
PHASE_BY_STATUS = {"running": "Running", "succeeded": "Succeeded", "failed": "Failed"}


def local_outcome(exit_code: int | None) -> tuple[str, Reason]:
    """Pure: (our status, reason) of a local run: ``exit_code`` None while it runs
    (running, Running); 0 (succeeded, Succeeded); the permanent-failure code 65 (failed,
    PermanentFailure); any other (failed, Failed: a local run is not retried)."""
    if exit_code is None:
        return "running", Reason.RUNNING
    if exit_code == 0:
        return "succeeded", Reason.SUCCEEDED
    if exit_code == PERMANENT_FAILURE_EXIT_CODE:
        return "failed", Reason.PERMANENT_FAILURE
    return "failed", Reason.FAILED


def local_row(
    job: dict[str, Any],
    *,
    revision: int,
    exit_code: int | None = None,
    progress: int = 0,
    progress_message: str | None = None,
    message: str | None = None,
    result: dict[str, Any] | None = None,
    started_at: str | None = None,
    finished_at: str | None = None,
    words: StatusWords = OURS,
) -> dict[str, Any]:
    """Pure: the ``jobs`` row of a ``local`` run (the job's code in a child process of the
    app, no OmveeJob), in exactly build_row's shape: it is built by build_row from an
    OmveeJob-shaped body, so the two cannot drift. ``job`` is the job document the app gave
    ($OMVEE_JOB: type, projectId, jobId, input, run). Status and reason come from
    ``exit_code`` (``local_outcome``), the status in the app's ``words`` (``final_statuses``
    added when they are not ours); no Kubernetes names (k8s_* null); one attempt.
    ``progress`` 0-100; ``started_at``/``finished_at`` ISO 8601 timestamps or None.

    ``revision`` is the local writer's counter: one above the row's own revision (0 for a
    new row or one the app created) for its first write, one more for each write after.
    mirror_job_status() applies a write only above the row's revision, so the run's own writes
    stay in order; and a cluster run resubmitted for a row a local run left unfinished writes
    OmveeJob resourceVersions (etcd revisions, far above a local run's few writes), so its
    rows win.
    KeyError when ``job`` lacks type, projectId or jobId."""
    status, reason = local_outcome(exit_code)
    body = {
        "metadata": {"namespace": None, "name": None, "resourceVersion": str(revision)},
        "spec": {
            "type": job["type"],
            "projectId": job["projectId"],
            "jobId": job["jobId"],
            "input": job.get("input") or {},
        },
        "status": {
            "phase": PHASE_BY_STATUS[status],
            "reason": str(reason),
            "message": message,
            "progress": progress,
            "progressMessage": progress_message,
            "attempts": 1,
            "run": int(job.get("run") or 0),
            "result": result,
            "startedAt": started_at,
            "finishedAt": finished_at,
        },
    }
    return build_row(body, words)


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
