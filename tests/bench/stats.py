"""Pure helpers of the operator benchmark (tests.bench.operator): latency summaries, the floor's
Job copied from an operator-built one, API reads counted from the API server's metrics, peak RSS
read from /proc, and the side-by-side table. No I/O here; tests/unit/test_bench_stats.py checks
them."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.bench.controlplane import percentile

# Labels the Job controller sets itself on a Job and its pod template (and refuses when a new
# Job brings another Job's values): a copy must leave them out.
JOB_CONTROLLER_LABELS = frozenset(
    {
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
        "job-name",
        "batch.kubernetes.io/job-name",
    }
)
# What the issue measured on a fresh clone (issue 15): N -> figures, seconds.
BASELINE: dict[int, dict[str, str]] = {
    200: {
        "floor": "11.9 s",
        "product": "14.4 s",
        "ratio": "1.21",
        "to_job": "p50 3.2 s, p99 6.1 s",
    },
    1000: {
        "floor": "57.2 s",
        "product": "87.8 s",
        "ratio": "1.54",
        "to_job": "p50 16.8 s, p99 33.4 s",
        # Events then went through a 1,000-slot queue that dropped most of them, and the
        # operator lagged so far that one status write often skipped states: not comparable
        # to a figure with every state and Event written (issue 18's note).
        "writes": "6.24 (PATCH 3.68, POST 2.56; Events dropped)",
    },
}
READ_VERBS = frozenset({"GET", "LIST"})


def latency_summary(values: Sequence[float]) -> str:
    """``"p50 1.23 s, p99 4.56 s"`` for latencies in seconds; ``"-"`` when there are none."""
    if not values:
        return "-"
    return f"p50 {percentile(list(values), 0.5):.2f} s, p99 {percentile(list(values), 0.99):.2f} s"


def latencies(start: Mapping[str, float], end: Mapping[str, float]) -> list[float]:
    """``end[k] - start[k]`` (seconds) for every key in both; keys missing from either are
    left out (the caller compares the count with N)."""
    return [end[key] - start[key] for key in start if key in end]


def floor_job(built: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A batch/v1 Job body to create directly, copied from the operator-built Job ``built``
    (as the API returns it, camelCase): same labels, annotations and spec (pod template,
    placement, backoff, deadlines), without what the API server and the Job controller set
    (uid, ownerReferences, selector, controller labels, status). ``built`` is not changed."""
    metadata = built.get("metadata") or {}
    spec = copy.deepcopy(dict(built.get("spec") or {}))
    spec.pop("selector", None)
    spec.pop("manualSelector", None)
    template = spec.setdefault("template", {})
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = _without_controller_labels(template_meta.get("labels"))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "labels": _without_controller_labels(metadata.get("labels")),
            "annotations": dict(metadata.get("annotations") or {}),
        },
        "spec": spec,
    }


def _without_controller_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (labels or {}).items() if k not in JOB_CONTROLLER_LABELS}


def api_reads(exposition: str, resources: Iterable[str]) -> int:
    """GET and LIST requests the API server has served on ``resources`` (e.g. ``pods``), from
    its Prometheus text exposition (``apiserver_request_total``, all codes and scopes). WATCH
    is not a read here: a watch is opened once and then delivers events."""
    wanted = frozenset(resources)
    total = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "apiserver_request_total"
                and labels.get("verb") in READ_VERBS
                and labels.get("resource") in wanted
                and not labels.get("subresource")
            ):
                total += sample.value
    return int(total)


def metric_total(exposition: str, names: Iterable[str]) -> float | None:
    """The sum over labels of the first of ``names`` (full sample names, e.g.
    ``omvee_reconcile_duration_seconds_count``) found in the exposition; None if none is."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
    for name in names:
        if name in samples:
            return samples[name]
    return None


def requests_by_method(exposition: str) -> dict[str, float]:
    """``omvee_kube_requests_total`` by its ``method`` label (GET, POST, PATCH, DELETE...)."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "omvee_kube_requests_total":
                method = sample.labels.get("method", "")
                found[method] = found.get(method, 0.0) + sample.value
    return found


def cpu_seconds(proc_stat: str) -> float:
    """User + system CPU seconds of a process from its /proc/<pid>/stat text (fields 14, 15,
    in clock ticks: proc(5))."""
    fields = proc_stat.rsplit(")", 1)[1].split()  # after "pid (comm)"
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(proc_status: str) -> float | None:
    """The peak resident set (``VmHWM``) in MB (10^6 bytes) from /proc/<pid>/status text."""
    for line in proc_status.splitlines():
        if line.startswith("VmHWM:"):
            kib = int(line.split()[1])
            return kib * 1024 / 1e6
    return None


@dataclass(frozen=True)
class Figures:
    """One run's measured figures (seconds, MB); ``None`` where not measured."""

    count: int
    floor_seconds: float
    product_seconds: float
    to_job: Sequence[float]
    to_first_pod: Sequence[float]
    mirror_lag: Sequence[float]
    peak_rss_mb: float | None
    reads: int
    background_reads: int
    reconciles: float | None
    writes: dict[str, float] | None = None  # the operator's requests but GET, by method
    operator_cpu_seconds: float | None = None
    # the restart phase: per OmveeJob, seconds from the later of the restart and its Job's
    # completion to its status final; and the distinct counts of Jobs per OmveeJob seen
    restart_convergence: Sequence[float] = ()
    jobs_per_run: Sequence[int] = ()


def _convergence(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"{latency_summary(values)}, max {max(values):.2f} s"


def _writes(figures: Figures) -> str:
    if not figures.writes:
        return "-"
    total = sum(figures.writes.values()) / figures.count
    parts = ", ".join(f"{m} {n / figures.count:.2f}" for m, n in sorted(figures.writes.items()))
    return f"{total:.2f} ({parts})"


def table(figures: Figures) -> str:
    """The measured figures beside the issue's baseline for the same N and the goal."""
    base = BASELINE.get(figures.count, {})
    ratio = figures.product_seconds / figures.floor_seconds
    if figures.reconciles:
        per_reconcile = f"{figures.reads / figures.reconciles:.2f}"
        note = f"{figures.reads} reads over {figures.reconciles:.0f} reconciles"
    else:
        per_reconcile = f"{figures.reads / figures.count:.2f} per OmveeJob"
        note = f"{figures.reads} reads; the operator counts no reconciles"
    note += f"; {figures.background_reads} in the floor run, with the operator idle"
    rss = "-" if figures.peak_rss_mb is None else f"{figures.peak_rss_mb:.0f} MB"
    rows = [
        ("", f"measured, N={figures.count:,}", "baseline (issue 15)", "goal"),
        ("floor: all Jobs Complete", f"{figures.floor_seconds:.1f} s", base.get("floor"), ""),
        ("product: all OmveeJobs Succeeded", f"{figures.product_seconds:.1f} s",
         base.get("product"), ""),
        ("ratio product/floor", f"{ratio:.2f}", base.get("ratio"), "<= 1.1"),
        ("OmveeJob -> Job created", latency_summary(figures.to_job), base.get("to_job"),
         "p99 <= 1 s"),
        ("floor: Job -> first pod", latency_summary(figures.to_first_pod), None, ""),
        ("mirror lag (final status)", latency_summary(figures.mirror_lag), None, "p99 <= 1 s"),
        ("operator peak RSS (VmHWM)", rss, None, "<= 250 MB at 10,000"),
        ("API reads per reconcile", per_reconcile, None, "0 when unchanged"),
        ("operator API writes per OmveeJob", _writes(figures), base.get("writes"), ""),
        ("SIGKILL mid-burst: final after restart", _convergence(figures.restart_convergence),
         None, "max <= 30 s"),
        ("Jobs per run (both bursts)", ", ".join(map(str, figures.jobs_per_run)) or "-", None,
         "1"),
        ("operator CPU (product run)", "-" if figures.operator_cpu_seconds is None
         else f"{figures.operator_cpu_seconds:.1f} s", None, ""),
    ]  # fmt: skip
    widths = [max(len(row[i] or "-") for row in rows) for i in range(4)]
    lines = [
        "  ".join(
            (cell or ("-" if i == 2 else "")).ljust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]
    return "\n".join([*lines, f"API reads: GET+LIST on omveejobs, jobs, pods ({note})"])
