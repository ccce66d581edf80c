"""The operator's metrics as Prometheus scrapes them: counters and histograms from
observations, job gauges only on the active replica, the mirror's lag and failures, and the
/healthz + /metrics endpoint."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from postgrest.exceptions import APIError
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from controller.metrics.observations import Observations
from controller.metrics.registry import OperatorMetrics
from controller.metrics.server import build_app
from controller.metrics.snapshot import count_jobs
from controller.mirror.sinks import failure_reason
from controller.mirror.writer import MirrorWriter
from controller.workqueue import WorkQueue
from tests.waiting import wait_for


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: OperatorMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics.exposition().decode()).get((name, frozenset(labels.items())))


@pytest.fixture
def metrics() -> OperatorMetrics:
    return OperatorMetrics(CollectorRegistry())


def test_observations_become_counters_and_histograms(metrics: OperatorMetrics) -> None:
    metrics.record(Observations("transcription", retries=2, queue_wait=7.0))
    metrics.record(
        Observations(
            "transcription",
            final_phase="Failed",
            run_seconds=40.0,
            end_to_end=47.0,
            failure_reason="BackoffLimitExceeded",
        )
    )
    metrics.record(
        Observations("transcription", final_phase="Succeeded", run_seconds=3.0, end_to_end=9.0)
    )
    assert value(metrics, "omvee_job_retries_total", type="transcription") == 2
    assert value(metrics, "omvee_job_retries_total", type="video-generation") == 0
    assert (
        value(
            metrics, "omvee_job_failures_total", type="transcription", reason="BackoffLimitExceeded"
        )
        == 1
    )
    assert value(metrics, "omvee_job_queue_wait_seconds_count", type="transcription") == 1
    assert (
        value(metrics, "omvee_job_queue_wait_seconds_bucket", type="transcription", le="5.0") == 0
    )
    assert (
        value(metrics, "omvee_job_queue_wait_seconds_bucket", type="transcription", le="10.0") == 1
    )
    run = {"type": "transcription", "phase": "Failed"}
    assert value(metrics, "omvee_job_run_seconds_sum", **run) == 40
    assert value(metrics, "omvee_job_run_seconds_bucket", **run, le="30.0") == 0
    assert value(metrics, "omvee_job_run_seconds_bucket", **run, le="60.0") == 1
    assert value(metrics, "omvee_job_end_to_end_seconds_sum", **run) == 47
    ok = {"type": "transcription", "phase": "Succeeded"}
    assert value(metrics, "omvee_job_end_to_end_seconds_count", **ok) == 1
    assert value(metrics, "omvee_job_end_to_end_seconds_bucket", **ok, le="+Inf") == 1


def test_job_gauges_only_on_the_active_replica(metrics: OperatorMetrics) -> None:
    assert value(metrics, "omvee_jobs", type="transcription", phase="Pending") is None
    metrics.record_jobs(
        count_jobs(
            [
                {"spec": {"type": "transcription"}, "status": {"phase": "Pending", "reason": r}}
                for r in ("Unschedulable", "Unschedulable", "Starting")
            ]
        )
    )
    assert value(metrics, "omvee_operator_active") == 1
    assert value(metrics, "omvee_jobs", type="transcription", phase="Pending") == 3
    assert value(metrics, "omvee_jobs", type="visual-prompts", phase="Running") == 0
    assert value(metrics, "omvee_jobs_pending", type="transcription", reason="Unschedulable") == 2
    assert value(metrics, "omvee_jobs_pending", type="transcription", reason="Starting") == 1
    active = threading.Event()
    metrics.is_active = active.is_set  # now a standby: another replica exports the gauges
    assert value(metrics, "omvee_operator_active") == 0
    assert value(metrics, "omvee_jobs", type="transcription", phase="Pending") is None


class Sink:
    def __init__(self) -> None:
        self.error: Exception | None = None
        self.written = threading.Event()

    def write(self, row: dict[str, Any]) -> str:
        if self.error is not None:
            raise self.error
        self.written.set()
        return "updated"

    def describe(self) -> str:
        return "test"


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_mirror_lag_and_failures(metrics: OperatorMetrics, stop: threading.Event) -> None:
    sink = Sink()
    sink.error = psycopg.OperationalError("connection refused")
    writer = MirrorWriter(sink, max_backoff=0.05, metrics=metrics)
    metrics.rows_waiting = writer.pending
    writer.offer({"id": "a", "revision": 1})
    writer.offer({"id": "a", "revision": 2})  # the same row, still behind: one lag
    writer.offer({"id": "b", "revision": 1})
    assert value(metrics, "omvee_mirror_rows_waiting") == 2
    writer.start(stop)
    wait_for(
        lambda: (
            (value(metrics, "omvee_mirror_write_failures_total", reason="Unavailable") or 0) >= 2
        ),
        "two failed writes",
        10,
    )
    sink.error = None
    wait_for(lambda: writer.pending() == 0, "the rows to be written", 10)
    assert value(metrics, "omvee_mirror_lag_seconds_count") == 2
    assert (value(metrics, "omvee_mirror_lag_seconds_sum") or 0) > 0.05  # waited out failures
    assert value(metrics, "omvee_mirror_write_failures_total", reason="Rejected") == 0
    assert value(metrics, "omvee_mirror_rows_waiting") == 0


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (psycopg.OperationalError("server closed the connection"), "Unavailable"),
        (ConnectionRefusedError(), "Unavailable"),
        (TimeoutError(), "Unavailable"),
        (httpx.ConnectError("connection refused"), "Unavailable"),
        (httpx.ReadTimeout("timed out"), "Unavailable"),
        # answered, but about every row: waiting (for a migration, a grant) is what helps
        (psycopg.errors.UndefinedFunction("no function mirror_job_status"), "Unavailable"),
        (psycopg.errors.InsufficientPrivilege("permission denied"), "Unavailable"),
        (psycopg.errors.AdminShutdown("terminating connection"), "Unavailable"),
        (APIError({"code": "PGRST202", "message": "Could not find the function"}), "Unavailable"),
        (APIError({"code": "503", "message": "Service Unavailable"}), "Unavailable"),
        (APIError({"code": "57P01", "message": "terminating connection"}), "Unavailable"),
        # refused for this row's content: set aside, the others go on
        (psycopg.errors.UntranslatableCharacter("unsupported Unicode escape"), "Rejected"),
        (psycopg.errors.CheckViolation("violates check constraint"), "Rejected"),
        (psycopg.errors.NotNullViolation("null value in column"), "Rejected"),
        (psycopg.errors.RaiseException("revision is required"), "Rejected"),
        (psycopg.DataError("PostgreSQL text fields cannot contain NUL"), "Rejected"),
        (APIError({"code": "22P05", "message": "unsupported Unicode escape"}), "Rejected"),
        (APIError({"code": "23514", "message": "violates check constraint"}), "Rejected"),
        (ValueError("Out of range float values are not JSON compliant"), "Rejected"),
    ],
)
def test_mirror_failure_reasons(error: Exception, reason: str) -> None:
    assert failure_reason(error) == reason


def test_set_aside_rows_have_their_own_gauge(
    metrics: OperatorMetrics, stop: threading.Event
) -> None:
    sink = Sink()
    sink.error = psycopg.errors.CheckViolation("violates check constraint")
    writer = MirrorWriter(sink, max_backoff=0.05, metrics=metrics)
    metrics.rows_waiting, metrics.rows_set_aside = writer.pending, writer.set_aside
    assert value(metrics, "omvee_mirror_rows_set_aside") == 0
    writer.offer({"id": "a", "revision": 1})
    writer.start(stop)
    wait_for(lambda: writer.set_aside() == 1, "the row to be set aside", 10)
    assert value(metrics, "omvee_mirror_rows_set_aside") == 1
    assert value(metrics, "omvee_mirror_rows_waiting") == 0
    assert value(metrics, "omvee_mirror_write_failures_total", reason="Rejected") == 1
    assert value(metrics, "omvee_mirror_write_failures_total", reason="Unavailable") == 0


def test_rows_dropped_past_capacity_are_counted_by_kind(
    metrics: OperatorMetrics, stop: threading.Event
) -> None:
    sink = Sink()
    sink.error = psycopg.errors.CheckViolation("violates check constraint")
    writer = MirrorWriter(sink, capacity=2, metrics=metrics, first_retry=3600)
    assert value(metrics, "omvee_mirror_rows_dropped_total", kind="SetAside") == 0
    assert value(metrics, "omvee_mirror_rows_dropped_total", kind="Waiting") == 0
    writer.offer({"id": "bad", "revision": 1})
    writer.start(stop)
    wait_for(lambda: writer.set_aside() == 1, "the row to be set aside", 10)
    stop.set()
    for key in ("a", "b", "c"):
        writer.offer({"id": key, "revision": 1})
    # "b" pushed out the set-aside row, "c" then the oldest waiting row, "a"
    assert value(metrics, "omvee_mirror_rows_dropped_total", kind="SetAside") == 1
    assert value(metrics, "omvee_mirror_rows_dropped_total", kind="Waiting") == 1
    assert (writer.pending(), writer.set_aside(), writer.dropped) == (2, 0, 2)


def test_reconcile_errors(metrics: OperatorMetrics) -> None:
    metrics.reconcile_failed()
    assert value(metrics, "omvee_reconcile_errors_total") == 1


def test_loop_metrics_reconcile_time_requeues_and_queue_depth(metrics: OperatorMetrics) -> None:
    assert value(metrics, "omvee_workqueue_requeues_total", reason="Error") == 0
    assert value(metrics, "omvee_workqueue_requeues_total", reason="Recheck") == 0
    assert value(metrics, "omvee_workqueue_depth") is None  # no queue yet: no sample
    for seconds in (0.003, 0.04, 0.04, 7.0):
        metrics.reconciled(seconds)
    metrics.requeued("Recheck")
    metrics.requeued("Recheck")
    metrics.requeued("Error")
    metrics.requeued("Whatever")  # a bounded label: no series per new word
    assert value(metrics, "omvee_reconcile_duration_seconds_count") == 4
    assert value(metrics, "omvee_reconcile_duration_seconds_bucket", le="0.005") == 1
    assert value(metrics, "omvee_reconcile_duration_seconds_bucket", le="0.05") == 3
    assert value(metrics, "omvee_reconcile_duration_seconds_bucket", le="5.0") == 3
    assert value(metrics, "omvee_reconcile_duration_seconds_sum") == pytest.approx(7.083)
    assert value(metrics, "omvee_workqueue_requeues_total", reason="Recheck") == 2
    assert value(metrics, "omvee_workqueue_requeues_total", reason="Error") == 1
    assert value(metrics, "omvee_workqueue_requeues_total", reason="Other") == 1
    queue: WorkQueue[str] = WorkQueue()
    metrics.queue_depth = queue.__len__
    for key in ("a", "b", "a", "c"):
        queue.add(key)
    assert value(metrics, "omvee_workqueue_depth") == 3
    assert queue.get() == "a"  # being reconciled: no longer waiting
    assert value(metrics, "omvee_workqueue_depth") == 2
    metrics.is_active = lambda: False  # a standby's queue is still its own
    assert value(metrics, "omvee_workqueue_depth") == 2
    queue.close()


def test_api_client_requests_by_method_and_their_wait(metrics: OperatorMetrics) -> None:
    assert value(metrics, "omvee_kube_requests_total", method="PATCH") == 0
    for method, waited in (("GET", 0.0), ("GET", 0.0), ("PATCH", 0.02), ("OPTIONS", 0.0)):
        metrics.client_request(method, waited)
    assert value(metrics, "omvee_kube_requests_total", method="GET") == 2
    assert value(metrics, "omvee_kube_requests_total", method="PATCH") == 1
    assert value(metrics, "omvee_kube_requests_total", method="Other") == 1
    assert value(metrics, "omvee_kube_rate_limiter_wait_seconds_count") == 4
    assert value(metrics, "omvee_kube_rate_limiter_wait_seconds_bucket", le="0.001") == 3
    assert value(metrics, "omvee_kube_rate_limiter_wait_seconds_bucket", le="0.025") == 4


def test_health_and_metrics_endpoint(metrics: OperatorMetrics) -> None:
    metrics.reconcile_failed()

    async def scrape() -> tuple[int, str, str]:
        async with TestClient(TestServer(build_app(metrics))) as http:
            health = await http.get("/healthz")
            scraped = await http.get("/metrics")
            return health.status, scraped.headers["Content-Type"], await scraped.text()

    status, content_type, text = asyncio.run(scrape())
    assert status == 200
    assert content_type.startswith("text/plain; version=")
    assert samples(text)[("omvee_reconcile_errors_total", frozenset())] == 1
