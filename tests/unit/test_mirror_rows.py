from __future__ import annotations

from typing import Any

import pytest

from controller.mirror.rows import build_row, storable

JOB_ID = "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e"
PROJECT_ID = "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10"


def ojob(status: dict[str, Any] | None = None, rv: str = "1234") -> dict[str, Any]:
    return {
        "metadata": {"name": "ep-1", "namespace": "media", "resourceVersion": rv},
        "spec": {
            "type": "transcription",
            "projectId": PROJECT_ID,
            "jobId": JOB_ID,
            "input": {"audioUrl": "https://x/a.mp3"},
            "rerun": 0,
        },
        "status": status or {},
    }


@pytest.mark.parametrize(
    ("phase", "row_status"),
    [
        (None, "queued"),
        ("Pending", "queued"),
        ("Running", "running"),
        ("Succeeded", "succeeded"),
        ("Failed", "failed"),
        ("Cancelled", "cancelled"),
    ],
)
def test_phases_map_to_row_statuses(phase: str | None, row_status: str) -> None:
    assert build_row(ojob({"phase": phase} if phase else {}))["status"] == row_status


def test_row_carries_what_the_app_shows() -> None:
    row = build_row(
        ojob(
            {
                "phase": "Failed",
                "run": 1,
                "attempts": 3,
                "progress": 40,
                "progressMessage": "decoding",
                "reason": "BackoffLimitExceeded",
                "message": "failed 3 times, last exit code 1",
                "jobName": "ep-1-r1",
                "podName": "ep-1-r1-abcde",
                "nodeName": "gpu-0",
                "startedAt": "2026-01-01T00:00:00Z",
                "finishedAt": "2026-01-01T00:05:00Z",
                "result": {"srt": "s3://x"},
            },
            rv="98765",
        )
    )
    assert row == {
        "id": JOB_ID,
        "project_id": PROJECT_ID,
        "type": "transcription",
        "status": "failed",
        "progress": 40,
        "progress_message": "decoding",
        "reason": "BackoffLimitExceeded",
        "message": "failed 3 times, last exit code 1",
        "error": "failed 3 times, last exit code 1",
        "attempts": 3,
        "run": 1,
        "input": {"audioUrl": "https://x/a.mp3"},
        "result": {"srt": "s3://x"},
        "k8s_namespace": "media",
        "k8s_name": "ep-1",
        "k8s_job_name": "ep-1-r1",
        "k8s_pod_name": "ep-1-r1-abcde",
        "k8s_node_name": "gpu-0",
        "started_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:05:00Z",
        "revision": 98765,
    }


def test_error_is_only_set_for_failed_rows() -> None:
    assert build_row(ojob({"phase": "Running", "message": "running on n"}))["error"] is None


def test_what_postgresql_cannot_store_is_replaced_at_any_depth_and_said() -> None:
    row = build_row(
        ojob(
            {
                "phase": "Failed",
                "message": "bad byte \x00 here",
                "progressMessage": "half\x00way",
                "result": {"segments": [{"text": "ok"}, {"text": "a\ud800b"}], "k\x00": 1},
            }
        )
    )
    row["input"] = {"audioUrl": "https://example.org/a\x00b.wav", "tabs": "a\tb"}
    safe, replaced = storable(row)
    assert replaced == [
        "progress_message",
        "message",
        "error",
        "input.audioUrl",
        "result.segments[1].text",
        "result.k\ufffd (key)",
    ]
    assert safe["message"] == safe["error"] == "bad byte \ufffd here"
    assert safe["progress_message"] == "half\ufffdway"
    assert safe["input"] == {"audioUrl": "https://example.org/a\ufffdb.wav", "tabs": "a\tb"}
    assert safe["result"] == {"segments": [{"text": "ok"}, {"text": "a\ufffdb"}], "k\ufffd": 1}
    untouched = set(row) - {"progress_message", "message", "error", "input", "result"}
    assert {k: safe[k] for k in untouched} == {k: row[k] for k in untouched}
    assert "\x00" in row["message"]  # the row given is left as it was


def test_a_storable_row_is_returned_as_is() -> None:
    row = build_row(ojob({"phase": "Running", "message": "tab\tand\nnewline are fine"}))
    safe, replaced = storable(row)
    assert (safe, replaced) == (row, [])
    assert safe is row
