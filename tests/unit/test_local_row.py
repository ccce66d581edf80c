"""The `jobs` row of a local run (a child process of the app, no OmveeJob): build_row's shape,
the app's status words, and the reason each exit code gives."""

from __future__ import annotations

from typing import Any

import pytest

from api.statuswords import OURS, StatusWords
from api.v1alpha1.reasons import Reason
from controller.mirror.rows import build_row, local_outcome, local_row

JOB_ID = "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e"
PROJECT_ID = "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10"
JOB = {
    "type": "transcription",
    "projectId": PROJECT_ID,
    "jobId": JOB_ID,
    "input": {"audioUrl": "https://x/a.mp3"},
    "run": 0,
}
APP_WORDS = StatusWords.from_mapping(
    {"queued": "pending", "running": "processing", "succeeded": "completed"}
)
STARTED, FINISHED = "2026-11-29T20:00:00+00:00", "2026-11-29T20:01:30+00:00"


def cluster_row(words: StatusWords = OURS) -> dict[str, Any]:
    """What the operator's mirror writes for a finished OmveeJob of the same job."""
    body = {
        "metadata": {"name": "ep-1", "namespace": "media", "resourceVersion": "4711"},
        "spec": {**{k: JOB[k] for k in ("type", "projectId", "jobId", "input")}, "rerun": 0},
        "status": {"phase": "Succeeded", "attempts": 1, "progress": 100},
    }
    return build_row(body, words)


def test_a_running_local_row_is_build_rows_shape_without_kubernetes_names() -> None:
    row = local_row(
        JOB,
        revision=1,
        progress_message="loading the model",
        message="running locally on app-1 (pid 42)",
        started_at=STARTED,
    )
    assert row.keys() == cluster_row().keys()
    assert row == {
        "id": JOB_ID,
        "project_id": PROJECT_ID,
        "type": "transcription",
        "status": "running",
        "progress": 0,
        "progress_message": "loading the model",
        "reason": "Running",
        "message": "running locally on app-1 (pid 42)",
        "error": None,
        "attempts": 1,
        "run": 0,
        "input": {"audioUrl": "https://x/a.mp3"},
        "result": None,
        "k8s_namespace": None,
        "k8s_name": None,
        "k8s_job_name": None,
        "k8s_pod_name": None,
        "k8s_node_name": None,
        "started_at": STARTED,
        "finished_at": None,
        "revision": 1,
    }


def test_a_succeeded_local_row_carries_the_result_and_both_times() -> None:
    row = local_row(
        JOB,
        revision=7,
        exit_code=0,
        progress=100,
        progress_message="done",
        message="succeeded",
        result={"words": 16, "files": {"json": "file:///r/transcript.json"}},
        started_at=STARTED,
        finished_at=FINISHED,
    )
    assert row["status"] == "succeeded" and row["reason"] == "Succeeded"
    assert (row["progress"], row["revision"], row["error"]) == (100, 7, None)
    assert row["result"] == {"words": 16, "files": {"json": "file:///r/transcript.json"}}
    assert (row["started_at"], row["finished_at"]) == (STARTED, FINISHED)


@pytest.mark.parametrize(
    ("exit_code", "status", "reason"),
    [
        (None, "running", Reason.RUNNING),
        (0, "succeeded", Reason.SUCCEEDED),
        (65, "failed", Reason.PERMANENT_FAILURE),
        (75, "failed", Reason.FAILED),
        (1, "failed", Reason.FAILED),
        (-9, "failed", Reason.FAILED),
    ],
)
def test_each_exit_code_gives_its_status_and_reason(
    exit_code: int | None, status: str, reason: Reason
) -> None:
    assert local_outcome(exit_code) == (status, reason)
    row = local_row(JOB, revision=2, exit_code=exit_code, message="m")
    assert (row["status"], row["reason"]) == (status, reason)
    assert row["error"] == ("m" if status == "failed" else None)


def test_a_failed_row_says_why_as_message_and_error() -> None:
    why = "permanent failure: invalid input: String should match pattern '^https?://'"
    row = local_row(JOB, revision=3, exit_code=65, message=why, finished_at=FINISHED)
    assert (row["message"], row["error"], row["reason"]) == (why, why, "PermanentFailure")
    assert row["result"] is None


@pytest.mark.parametrize(
    ("exit_code", "word"),
    [(None, "processing"), (0, "completed"), (65, "failed"), (75, "failed")],
)
def test_the_apps_words_and_its_final_words(exit_code: int | None, word: str) -> None:
    row = local_row(JOB, revision=1, exit_code=exit_code, words=APP_WORDS)
    assert row["status"] == word
    assert row["final_statuses"] == ["completed", "failed", "cancelled"]
    assert row.keys() == cluster_row(APP_WORDS).keys()


def test_our_own_words_add_no_final_statuses() -> None:
    assert "final_statuses" not in local_row(JOB, revision=1, exit_code=0)


def test_the_run_and_a_missing_input_come_from_the_job_document() -> None:
    row = local_row({**JOB, "run": 2, "input": None}, revision=1)
    assert (row["run"], row["input"]) == (2, {})
    assert "pipeline_id" not in row


def test_a_job_document_without_its_ids_is_refused() -> None:
    with pytest.raises(KeyError):
        local_row({"type": "transcription", "projectId": PROJECT_ID}, revision=1)
