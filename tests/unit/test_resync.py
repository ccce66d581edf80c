"""The resync goes on past an OmveeJob it cannot read, and still queues it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kubernetes import client

from api.catalog.profiles import load_catalog
from controller.cache import ClusterCache
from controller.mirror.writer import MirrorWriter
from controller.reconcile import Reconciler


def cache_of(items: list[dict[str, Any]]) -> ClusterCache:
    """A watch cache holding ``items`` (no informer runs: resync reads only the cache)."""
    cache = ClusterCache(client.ApiClient(), lambda namespace, name, urgent: None)
    for item in items:
        cache.omveejobs.put(item)
    return cache


class Sink:
    def write(self, row: dict[str, Any]) -> str:
        return "updated"

    def describe(self) -> str:
        return "PostgreSQL test"


def ojob(name: str, phase: str, version: str = "1") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "jobs", "name": name, "resourceVersion": version, "uid": name},
        "spec": {
            "type": "transcription",
            "projectId": "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10",
            "jobId": f"7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7{name[-1]}",
            "input": {},
        },
        "status": {"phase": phase, "run": 0},
    }


def test_one_unreadable_omveejob_does_not_stop_the_resync(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = MirrorWriter(Sink())
    broken = ojob("job-b", "Running", version="not-a-number")  # its row cannot be built
    cache = cache_of([ojob("job-a", "Running"), broken, ojob("job-c", "Pending")])
    reconciler = Reconciler(None, cache, load_catalog(), writer)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        keys = reconciler.resync()
    assert keys == [("jobs", "job-a"), ("jobs", "job-b"), ("jobs", "job-c")]
    assert writer.pending() == 2  # job-a and job-c offered to the mirror
    assert "Resync could not read OmveeJob jobs/job-b" in caplog.text
