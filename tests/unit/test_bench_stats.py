"""The operator benchmark's pure helpers (tests.bench.stats)."""

from __future__ import annotations

from typing import Any

from tests.bench.stats import (
    Figures,
    api_reads,
    floor_job,
    latencies,
    latency_summary,
    metric_total,
    peak_rss_mb,
    table,
)


def request_line(resource: str, verb: str, value: int, subresource: str = "") -> str:
    labels = f'code="200",resource="{resource}",subresource="{subresource}",verb="{verb}"'
    return f"apiserver_request_total{{{labels}}} {value}"


APISERVER_METRICS = "\n".join(
    [
        "# HELP apiserver_request_total Counter of apiserver requests.",
        "# TYPE apiserver_request_total counter",
        request_line("jobs", "GET", 7),
        request_line("pods", "LIST", 3),
        request_line("omveejobs", "GET", 2),
        request_line("omveejobs", "GET", 100, subresource="status"),
        request_line("pods", "WATCH", 50),
        request_line("jobs", "POST", 40),
        request_line("nodes", "GET", 9),
        "",
    ]
)


def operator_built_job() -> dict[str, Any]:
    controller = {"controller-uid": "u1", "batch.kubernetes.io/controller-uid": "u1"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "bench-template-0",
            "uid": "u1",
            "resourceVersion": "42",
            "ownerReferences": [{"kind": "OmveeJob", "name": "bench-template"}],
            "labels": {"omvee.io/omveejob": "bench-template", **controller},
            "annotations": {"omvee.io/note": "x"},
        },
        "spec": {
            "backoffLimit": 3,
            "selector": {"matchLabels": controller},
            "manualSelector": False,
            "template": {
                "metadata": {
                    "labels": {
                        "omvee.io/omveejob": "bench-template",
                        "job-name": "bench-template-0",
                        "batch.kubernetes.io/job-name": "bench-template-0",
                        **controller,
                    }
                },
                "spec": {"nodeSelector": {"type": "kwok"}, "tolerations": [{"key": "kwok"}]},
            },
        },
        "status": {"succeeded": 1},
    }


def test_floor_job_keeps_the_template_and_placement_and_drops_what_the_server_sets() -> None:
    built = operator_built_job()
    copy = floor_job(built, "floor-7")
    assert copy["metadata"] == {
        "name": "floor-7",
        "labels": {"omvee.io/omveejob": "bench-template"},
        "annotations": {"omvee.io/note": "x"},
    }
    assert "status" not in copy
    assert "selector" not in copy["spec"] and "manualSelector" not in copy["spec"]
    assert copy["spec"]["backoffLimit"] == 3
    template = copy["spec"]["template"]
    assert template["metadata"]["labels"] == {"omvee.io/omveejob": "bench-template"}
    assert template["spec"] == {"nodeSelector": {"type": "kwok"}, "tolerations": [{"key": "kwok"}]}
    assert built == operator_built_job()  # not changed


def test_api_reads_count_get_and_list_of_the_resources_asked_whatever_the_code() -> None:
    assert api_reads(APISERVER_METRICS, ["omveejobs", "jobs", "pods"]) == 12
    assert api_reads(APISERVER_METRICS, ["nodes"]) == 9
    assert api_reads("", ["pods"]) == 0


def test_metric_total_sums_the_first_named_sample_found() -> None:
    text = (
        "# TYPE omvee_reconcile_duration_seconds histogram\n"
        'omvee_reconcile_duration_seconds_bucket{le="+Inf"} 5\n'
        "omvee_reconcile_duration_seconds_count 5\n"
        "omvee_reconcile_duration_seconds_sum 0.5\n"
    )
    names = ("omvee_reconciles_total", "omvee_reconcile_duration_seconds_count")
    assert metric_total(text, names) == 5
    assert metric_total(APISERVER_METRICS, names) is None


def test_peak_rss_is_vmhwm_in_megabytes() -> None:
    status = "Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  125000 kB\nVmRSS:\t  100000 kB\n"
    assert peak_rss_mb(status) == 128.0
    assert peak_rss_mb("Name:\tpython\n") is None


def test_latencies_pair_keys_seen_at_both_ends() -> None:
    assert latencies({"a": 1.0, "b": 2.0}, {"a": 1.5, "c": 9.0}) == [0.5]
    assert latency_summary([]) == "-"
    assert latency_summary([float(i) for i in range(101)]) == "p50 50.00 s, p99 99.00 s"


def test_table_prints_the_baseline_beside_the_measured_figures() -> None:
    figures = Figures(
        count=1000,
        floor_seconds=50.0,
        product_seconds=55.0,
        to_job=[0.1, 0.2],
        to_first_pod=[0.3],
        mirror_lag=[0.05],
        peak_rss_mb=120.0,
        reads=500,
        background_reads=10,
        reconciles=None,
    )
    text = table(figures)
    assert "57.2 s" in text and "50.0 s" in text
    assert "1.10" in text and "1.54" in text
    assert "p50 16.8 s, p99 33.4 s" in text
    assert "0.50 per OmveeJob" in text and "10 in the floor run" in text
    assert "120 MB" in text
    with_counter = table(Figures(**{**figures.__dict__, "count": 7, "reconciles": 250.0}))
    assert "500 reads over 250 reconciles" in with_counter
    assert "57.2" not in with_counter  # no baseline for this N
