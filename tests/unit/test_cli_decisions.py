"""Pure decisions behind `omvee`: which jobs purge removes, stats, cancel and retry rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.v1alpha1.public import cancel_patch, retry_patch
from controller.cli.backend import job_id_of
from controller.cli.purge import purgeable
from controller.cli.stats import Placement, node_pool, summarize
from controller.cli.tables import stats_text

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ID = "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e"


def ojob(name: str, phase: str | None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": "1"},
        "spec": {"type": "transcription", "jobId": ID, "projectId": ID, "rerun": 0},
        "status": {"phase": phase, **status},
    }


def test_purge_takes_finished_jobs_that_ended_before_the_cutoff_oldest_first() -> None:
    jobs = [
        ojob("new", "Succeeded", finishedAt="2026-11-28T12:00:00Z"),
        ojob("old-failed", "Failed", finishedAt="2026-11-01T00:00:00Z"),
        ojob("old-cancelled", "Cancelled", finishedAt="2026-11-10T00:00:00Z"),
        ojob("running", "Running", finishedAt="2026-11-01T00:00:00Z"),
        ojob("pending", None),
        ojob("no-end-time", "Succeeded"),
        ojob(
            "by-condition",
            "Succeeded",
            conditions=[
                {"type": "Finished", "status": "True", "lastTransitionTime": "2026-11-05T00:00:00Z"}
            ],
        ),
    ]
    chosen = purgeable(jobs, timedelta(days=7), NOW)
    assert [j["metadata"]["name"] for j in chosen] == [
        "old-failed",
        "by-condition",
        "old-cancelled",
    ]
    assert purgeable(jobs, timedelta(days=60), NOW) == []


@pytest.mark.parametrize(
    ("phase", "spec", "status", "expected"),
    [
        ("Running", {}, {}, {"cancel": True}),
        (None, {}, {}, {"cancel": True}),
        ("Succeeded", {}, {}, f"job {ID} already ended (Succeeded); nothing to cancel"),
    ],
)
def test_cancel_rules(phase: str | None, spec: Any, status: Any, expected: Any) -> None:
    assert cancel_patch(ojob("x", phase), ID) == expected


@pytest.mark.parametrize(
    ("phase", "rerun", "run", "expected"),
    [
        ("Failed", 0, 0, {"rerun": 1, "cancel": False}),
        ("Cancelled", 2, 2, {"rerun": 3, "cancel": False}),
        ("Failed", 1, 0, f"job {ID} is already being retried"),
        ("Running", 0, 0, f"job {ID} is Running; only Failed or Cancelled jobs can be retried"),
        (None, 0, 0, f"job {ID} is Pending; only Failed or Cancelled jobs can be retried"),
    ],
)
def test_retry_rules(phase: str | None, rerun: int, run: int, expected: Any) -> None:
    job = ojob("x", phase, run=run)
    job["spec"]["rerun"] = rerun
    assert retry_patch(job, ID) == expected


@pytest.mark.parametrize(
    ("ref", "expected"),
    [(ID, ID), (ID.upper(), ID), (f"job-{ID}", ID), ("transcribe-episode-1", None)],
)
def test_job_refs(ref: str, expected: str | None) -> None:
    assert job_id_of(ref) == expected


def node(name: str, labels: dict[str, str], gpus: int = 0) -> dict[str, Any]:
    allocatable = {"cpu": "8"} | ({"nvidia.com/gpu": str(gpus)} if gpus else {})
    return {"metadata": {"name": name, "labels": labels}, "status": {"allocatable": allocatable}}


def pod(node_name: str, phase: str, gpus: int, *, via: str = "limits") -> dict[str, Any]:
    resources = {via: {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    return {
        "spec": {"nodeName": node_name, "containers": [{"name": "job", "resources": resources}]},
        "status": {"phase": phase},
    }


@pytest.mark.parametrize(
    ("labels", "pool"),
    [
        ({"omvee.io/pool": "gpu"}, "gpu"),
        ({"cloud.google.com/gke-nodepool": "l4-pool"}, "l4-pool"),
        ({"nvidia.com/gpu.present": "true"}, "gpu"),
        ({}, "-"),
    ],
)
def test_node_pool_from_labels(labels: dict[str, str], pool: str) -> None:
    assert node_pool(node("n", labels)) == pool


def public(phase: str | None, job_type: str, node_name: str | None = None) -> dict[str, Any]:
    return {
        "id": f"id-{phase}-{job_type}-{node_name}",
        "type": job_type,
        "phase": phase,
        "progress": 40,
        "attempts": 1,
        "node": node_name,
        "created_at": "2026-11-29T11:00:00Z",
        "started_at": "2026-11-29T11:30:00Z",
    }


JOBS = [
    public("Running", "transcription", "gpu-0"),
    public("Running", "scene-generation", "cpu-0"),
    public("Succeeded", "transcription", "gpu-1"),
    public("Failed", "visual-prompts"),
    public(None, "image-generation"),
]


def test_stats_count_phases_and_types_and_list_running_jobs() -> None:
    stats = summarize(JOBS, None, NOW)
    assert stats["total"] == 5
    assert stats["by_phase"] == {
        "Pending": 1,
        "Running": 2,
        "Succeeded": 1,
        "Failed": 1,
        "Cancelled": 0,
    }
    assert stats["by_type"]["transcription"] == {
        "Pending": 0,
        "Running": 1,
        "Succeeded": 1,
        "Failed": 0,
        "Cancelled": 0,
        "total": 2,
    }
    assert stats["by_type"]["video-generation"]["total"] == 0
    assert [(r["type"], r["node"], r["running_seconds"]) for r in stats["running"]] == [
        ("transcription", "gpu-0", 1800),
        ("scene-generation", "cpu-0", 1800),
    ]
    # through the API: nodes only from running jobs, no pools, no GPU figures
    assert stats["nodes"] == [
        {"node": "cpu-0", "pool": None, "running_jobs": 1},
        {"node": "gpu-0", "pool": None, "running_jobs": 1},
    ]
    assert stats["pools"] is None and stats["gpu"] is None
    assert "cluster mode only" in stats_text(stats)


def test_stats_in_cluster_mode_add_pools_and_gpu_use() -> None:
    placement = Placement(
        nodes=[
            node("cpu-0", {"omvee.io/pool": "cpu"}),
            node("gpu-0", {"omvee.io/pool": "gpu"}, gpus=1),
            node("gpu-1", {"omvee.io/pool": "gpu"}, gpus=2),
        ],
        pods=[
            pod("gpu-0", "Running", 1),
            pod("gpu-1", "Pending", 1, via="requests"),  # bound, starting: holds its GPU
            pod("gpu-1", "Succeeded", 1),  # ended: frees it
            pod("cpu-0", "Running", 0),
        ],
    )
    stats = summarize(JOBS, placement, NOW)
    assert stats["gpu"] == {"allocatable": 3, "requested": 2}
    assert stats["nodes"][1] == {
        "node": "gpu-0",
        "pool": "gpu",
        "running_jobs": 1,
        "gpu_allocatable": 1,
        "gpu_requested": 1,
    }
    assert stats["pools"] == [
        {"pool": "cpu", "nodes": 1, "running_jobs": 1, "gpu_allocatable": 0, "gpu_requested": 0},
        {"pool": "gpu", "nodes": 2, "running_jobs": 1, "gpu_allocatable": 3, "gpu_requested": 2},
    ]
    text = stats_text(stats)
    assert "gpu    2       1      2/3" in text
    assert text.endswith("GPUs: 2 of 3 requested")
