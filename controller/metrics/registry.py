"""The operator's Prometheus metrics, on a registry of its own (tests build fresh ones).

Event metrics (counters, histograms) are recorded where the operator acts, and only the active
replica acts. The job gauges come from the latest resync's list and are exported only while
this replica is active, so summing a metric over replicas never counts a job twice. The loop
metrics (work queue depth and requeues, the API client's requests and waits) describe this
process, standby or not; reconcile times only the active replica's reconciles.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.v1alpha1.types import JobType
from controller.metrics import labels
from controller.metrics.observations import Observations
from controller.metrics.snapshot import JobCounts

# Jobs run from seconds (scenes, prompts) to hours (a long transcription or video).
RUN_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)
QUEUE_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
MIRROR_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
# One reconcile: milliseconds from caches, up to the API client's timeouts when it is away.
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# A request's wait for the API client's token bucket: nothing until a burst empties it.
CLIENT_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Which kind of mirror row was dropped past the writer's capacity (controller.mirror.backlog).
MIRROR_DROPPED_KINDS = frozenset({"SetAside", "Waiting"})


class OperatorMetrics:
    """The operator's metrics on ``registry`` (a new one when None); the job and mirror gauges
    are exported only while ``is_active()``. ``rows_waiting``, ``rows_set_aside`` and
    ``queue_depth`` are callables the gauges read at scrape time, set once those exist."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        is_active: Callable[[], bool] = lambda: True,
    ) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.is_active = is_active
        self._lock = threading.Lock()
        self._counts: JobCounts | None = None
        self.rows_waiting: Callable[[], int] | None = None
        self.rows_set_aside: Callable[[], int] | None = None
        self.queue_depth: Callable[[], int] | None = None
        on = self.registry
        self.retries = Counter(
            "omvee_job_retries_total",
            "Attempts started beyond the first of a run (a pod replacing a failed or evicted one).",
            ["type"],
            registry=on,
        )
        self.failures = Counter(
            "omvee_job_failures_total",
            "Runs that ended Failed, by status reason.",
            ["type", "reason"],
            registry=on,
        )
        self.queue_wait = Histogram(
            "omvee_job_queue_wait_seconds",
            "From a run's creation to its first pod running: scheduling, image pull, capacity.",
            ["type"],
            buckets=QUEUE_BUCKETS,
            registry=on,
        )
        self.run_time = Histogram(
            "omvee_job_run_seconds",
            "From a run's first pod running to the run's end, by final phase.",
            ["type", "phase"],
            buckets=RUN_BUCKETS,
            registry=on,
        )
        self.end_to_end = Histogram(
            "omvee_job_end_to_end_seconds",
            "From a run's creation to its end, by final phase.",
            ["type", "phase"],
            buckets=RUN_BUCKETS,
            registry=on,
        )
        self.mirror_lag = Histogram(
            "omvee_mirror_lag_seconds",
            "How long a jobs row stayed behind its OmveeJob: from the first status change not "
            "in the row to the write that brought it up to date.",
            buckets=MIRROR_LAG_BUCKETS,
            registry=on,
        )
        self.mirror_failures = Counter(
            "omvee_mirror_write_failures_total",
            "Mirror writes that failed, by reason: Unavailable (no row can be written now: "
            "rows wait and are retried) or Rejected (the database refused the row's content: "
            "it is set aside and retried on its own backoff).",
            ["reason"],
            registry=on,
        )
        self.mirror_dropped_rows = Counter(
            "omvee_mirror_rows_dropped_total",
            "Mirror rows dropped because the writer held as many as it may, by kind: SetAside "
            "(a row the database refused, dropped first) or Waiting (a row waiting for the "
            "database). The next resync offers every job's row again.",
            ["kind"],
            registry=on,
        )
        self.reconcile_errors = Counter(
            "omvee_reconcile_errors_total",
            "Reconciles that raised an error (the OmveeJob is retried after its backoff).",
            registry=on,
        )
        self.reconcile_time = Histogram(
            "omvee_reconcile_duration_seconds",
            "How long one reconcile of an OmveeJob took, errors included (active replica only).",
            buckets=RECONCILE_BUCKETS,
            registry=on,
        )
        self.requeues = Counter(
            "omvee_workqueue_requeues_total",
            "OmveeJob keys a worker put back in the work queue, by reason: Error (the reconcile "
            "raised; back after a per-job backoff, 0.5 s doubling to 60 s) or Recheck (the "
            "reconcile asked to look again, e.g. while a Job has no pod yet).",
            ["reason"],
            registry=on,
        )
        self.client_requests = Counter(
            "omvee_kube_requests_total",
            "Requests the operator's API client sent to the API server, by HTTP method (GET: "
            "reads and lists). kopf's own watches are not counted.",
            ["method"],
            registry=on,
        )
        self.client_wait = Histogram(
            "omvee_kube_rate_limiter_wait_seconds",
            "How long each request waited for the API client's token bucket "
            "(OMVEE_KUBE_QPS, OMVEE_KUBE_BURST) before it was sent.",
            buckets=CLIENT_WAIT_BUCKETS,
            registry=on,
        )
        for job_type in JobType:
            self.retries.labels(job_type.value)
        for reason in labels.MIRROR_FAILURE_REASONS:
            self.mirror_failures.labels(reason)
        for kind in MIRROR_DROPPED_KINDS:
            self.mirror_dropped_rows.labels(kind)
        for reason in labels.REQUEUE_REASONS:
            self.requeues.labels(reason)
        for method in labels.HTTP_METHODS:
            self.client_requests.labels(method)
        on.register(_Gauges(self))

    def record(self, seen: Observations) -> None:
        """Count retries and observe queue wait, run and end-to-end seconds (and a failure's
        reason) from one reconcile's ``seen``."""
        if seen.retries:
            self.retries.labels(seen.job_type).inc(seen.retries)
        if seen.queue_wait is not None:
            self.queue_wait.labels(seen.job_type).observe(seen.queue_wait)
        if seen.final_phase is None:
            return
        if seen.run_seconds is not None:
            self.run_time.labels(seen.job_type, seen.final_phase).observe(seen.run_seconds)
        if seen.end_to_end is not None:
            self.end_to_end.labels(seen.job_type, seen.final_phase).observe(seen.end_to_end)
        if seen.failure_reason is not None:
            self.failures.labels(seen.job_type, seen.failure_reason).inc()

    def record_jobs(self, counts: JobCounts) -> None:
        """Keep the latest resync's ``counts`` for the job gauges (thread-safe)."""
        with self._lock:
            self._counts = counts

    def mirror_written(self, lag_seconds: float) -> None:
        """A row brought its job up to date ``lag_seconds`` after the change (negative: 0)."""
        self.mirror_lag.observe(max(0.0, lag_seconds))

    def mirror_failed(self, reason: str) -> None:
        """One failed mirror write: ``reason`` ``Unavailable`` or ``Rejected`` (else ``Other``)."""
        self.mirror_failures.labels(labels.bounded(reason, labels.MIRROR_FAILURE_REASONS)).inc()

    def mirror_dropped(self, kind: str, rows: int = 1) -> None:
        """``rows`` mirror rows of ``kind`` (``SetAside`` or ``Waiting``) dropped past capacity."""
        self.mirror_dropped_rows.labels(labels.bounded(kind, MIRROR_DROPPED_KINDS)).inc(rows)

    def reconcile_failed(self) -> None:
        """One reconcile raised."""
        self.reconcile_errors.inc()

    def reconciled(self, seconds: float) -> None:
        """One reconcile took ``seconds``, whether it succeeded or raised."""
        self.reconcile_time.observe(max(0.0, seconds))

    def requeued(self, reason: str) -> None:
        """A worker put a key back: ``reason`` ``Error`` or ``Recheck`` (else ``Other``)."""
        self.requeues.labels(labels.bounded(reason, labels.REQUEUE_REASONS)).inc()

    def client_request(self, method: str, waited: float) -> None:
        """The API client sent one ``method`` request after ``waited`` seconds for a token."""
        self.client_requests.labels(labels.bounded(method.upper(), labels.HTTP_METHODS)).inc()
        self.client_wait.observe(max(0.0, waited))

    def jobs(self) -> JobCounts | None:
        """The latest resync's counts, or None before the first."""
        with self._lock:
            return self._counts

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (what /metrics serves)."""
        return generate_latest(self.registry)


class _Gauges(Collector):
    """The gauges read at scrape time: job counts of the latest resync, the mirror queue, and
    the work queue's depth (exported on every replica: a standby's queue fills and drains too)."""

    def __init__(self, metrics: OperatorMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return list(self._families(None, None))

    def collect(self) -> Iterable[Metric]:
        active = self.metrics.is_active()
        counts = self.metrics.jobs() if active else None
        waiting, aside = self.metrics.rows_waiting, self.metrics.rows_set_aside
        rows = waiting() if active and waiting is not None else None
        set_aside = aside() if active and aside is not None else None
        depth = self.metrics.queue_depth() if self.metrics.queue_depth is not None else None
        return list(self._families(counts, rows, active, set_aside, depth))

    def _families(
        self,
        counts: JobCounts | None,
        rows: int | None,
        active: bool = False,
        set_aside: int | None = None,
        depth: int | None = None,
    ) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "omvee_operator_active",
            "1 on the operator replica that acts (and exports the job gauges), 0 on a standby.",
            value=1 if active else 0,
        )
        jobs = GaugeMetricFamily(
            "omvee_jobs",
            "OmveeJobs by type and phase, as of the latest resync (active replica only).",
            labels=["type", "phase"],
        )
        pending = GaugeMetricFamily(
            "omvee_jobs_pending",
            "OmveeJobs not ended whose current attempt has no running pod, by status reason "
            "(e.g. Unschedulable: waiting for a node or GPU), as of the latest resync.",
            labels=["type", "reason"],
        )
        if counts is not None:
            for key, value in _with_zeros(counts.by_phase, labels.PHASES):
                jobs.add_metric(list(key), value)
            for key, value in _with_zeros(counts.waiting, labels.WAITING_REASONS):
                pending.add_metric(list(key), value)
        yield jobs
        yield pending
        rows_family = GaugeMetricFamily(
            "omvee_mirror_rows_waiting",
            "Job rows waiting to be written to the mirror (rows set aside not included).",
        )
        if rows is not None:
            rows_family.add_metric([], rows)
        yield rows_family
        aside_family = GaugeMetricFamily(
            "omvee_mirror_rows_set_aside",
            "Job rows the database refused for their content, set aside and retried on their "
            "own backoff until written or replaced by a newer row of the job.",
        )
        if set_aside is not None:
            aside_family.add_metric([], set_aside)
        yield aside_family
        depth_family = GaugeMetricFamily(
            "omvee_workqueue_depth",
            "OmveeJob keys waiting in the work queue for a free worker (not those being "
            "reconciled, nor those waiting out a backoff or recheck delay).",
        )
        if depth is not None:
            depth_family.add_metric([], depth)
        yield depth_family


def _with_zeros(
    counts: dict[tuple[str, str], int], second: frozenset[str]
) -> list[tuple[tuple[str, str], int]]:
    """Every (type, value) pair, 0 where none: a series that disappears reads as no data."""
    keys = {(t, v) for t in labels.JOB_TYPES for v in second} | set(counts)
    return [(key, counts.get(key, 0)) for key in sorted(keys)]
