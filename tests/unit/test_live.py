"""What the live stream and the job page show: GPU waits, attempts, the timeline."""

from __future__ import annotations

import json
from typing import Any

from api.rest import live


def ojob(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "job-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"type": "transcription", "projectId": "p", "jobId": "j"},
        "status": status,
    }


def not_running(reason: str) -> list[dict[str, Any]]:
    """The Running condition as the operator writes it while no pod runs."""
    return [{"type": "Running", "status": "False", "reason": reason, "message": ""}]


def test_only_a_pending_job_the_scheduler_could_not_place_on_a_gpu_waits_for_gpu() -> None:
    waiting = {
        "phase": "Pending",
        "reason": "Unschedulable",
        "message": "waiting for a GPU node: 0/4 nodes are available",
        "conditions": not_running("WaitingForGPUNode"),
    }
    assert live.job_row(ojob(waiting))["waiting_for_gpu"] is True
    no_node = waiting | {
        "message": "waiting for a node: 0/4 nodes are available",
        "conditions": not_running("Unschedulable"),
    }
    assert live.job_row(ojob(no_node))["waiting_for_gpu"] is False
    assert live.job_row(ojob(waiting | {"phase": "Failed"}))["waiting_for_gpu"] is False


def test_sse_frames_are_one_compact_json_line() -> None:
    frame = live.sse("upsert", {"id": "j", "progress": 5})
    assert frame == b'event: upsert\ndata: {"id":"j","progress":5}\n\n'
    assert json.loads(frame.split(b"data: ")[1]) == {"id": "j", "progress": 5}


def test_attempts_join_saved_logs_and_live_pods() -> None:
    status = {
        "run": 1,
        "logs": [
            {"run": 0, "attempt": 1, "pod": "p0", "node": "n", "exitCode": 2, "key": "k"},
            {"run": 1, "attempt": 1, "pod": "p1", "node": "n", "exitCode": None, "key": None},
        ],
    }
    running = {
        "metadata": {"name": "p2", "creationTimestamp": "2"},
        "spec": {"nodeName": "gpu"},
        "status": {"phase": "Running"},
    }
    failed = {"metadata": {"name": "p1", "creationTimestamp": "1"}, "status": {"phase": "Failed"}}
    rows = live.attempts(ojob(status), [running, failed])
    assert [(r["run"], r["attempt"], r["pod"], r["state"], r["log_saved"]) for r in rows] == [
        (0, 1, "p0", "Failed", True),
        (1, 1, "p1", "Failed", False),
        (1, 2, "p2", "Running", False),
    ]


def test_timeline_starts_at_submission_and_orders_events() -> None:
    events = [
        {"metadata": {}, "lastTimestamp": "2026-01-01T00:00:09Z", "type": "Warning",
         "reason": "Failed", "message": "Failed: exit code 1", "count": 2},
        {"metadata": {"creationTimestamp": "2026-01-01T00:00:02Z"}, "reason": "Running",
         "message": "Running: running on n"},
    ]  # fmt: skip
    items = live.timeline(ojob({}), events)
    assert [(i["reason"], i["kind"]) for i in items] == [
        ("Submitted", "Normal"),
        ("Running", "Normal"),
        ("Failed", "Warning"),
    ]
    assert items[2]["count"] == 2


def test_a_pending_job_whose_pod_cannot_be_created_or_started_is_flagged() -> None:
    for reason in ("PodCreationRefused", "QuotaExceeded", "ContainerNotStarting"):
        assert live.cannot_start({"phase": "Pending", "reason": reason})
    assert not live.cannot_start({"phase": "Failed", "reason": "PodCreationRefused"})
    assert not live.cannot_start({"phase": "Pending", "reason": "Unschedulable"})
