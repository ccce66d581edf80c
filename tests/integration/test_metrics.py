"""Scrape the session operator's and API's /metrics before and after a known set of jobs and
check the deltas: counters exactly, histograms' _count, _sum and buckets exactly against the
times in each job's final status. The operator serves the whole session (and the cluster), so
only deltas are compared, and gauges only as at-least."""

from __future__ import annotations

import math
import uuid
from typing import Any

import httpx
import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from api.v1alpha1 import constants
from api.v1alpha1.names import omveejob_name
from controller.metrics.registry import QUEUE_BUCKETS, RUN_BUCKETS
from controller.status import parse_time
from tests import factories
from tests.api_process import ApiProcess, upstream_job
from tests.omveejobs import FINAL, OmveeJobs
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    text = httpx.get(f"{url}/metrics", timeout=10).raise_for_status().text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


INPUT_FIELDS = {
    "transcription": "audio_url",
    "scene-generation": "transcript_job_id",
    "visual-prompts": "scenes_job_id",
    "video-generation": "images_job_id",
}


def submit(
    http: httpx.Client,
    job_type: str,
    annotations: dict[str, str],
    upstream: tuple[str, str],
    **extra: Any,
) -> str:
    """``upstream``: (project, its job that every job but a transcription takes input from)."""
    job_id = str(uuid.uuid4())
    project, upstream_id = upstream
    value = "https://media.example.com/a.mp3" if job_type == "transcription" else upstream_id
    body = {
        "type": job_type,
        "project_id": project,
        "job_id": job_id,
        "input": {INPUT_FIELDS[job_type]: value},
        "pod_annotations": annotations,
        **extra,
    }
    response = http.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return job_id


def settle(k8s: client.ApiClient) -> None:
    """Let jobs left by earlier tests end first, so they add nothing to the deltas, and let
    namespaces being deleted go: the operator still reconciles their OmveeJobs meanwhile, and
    one whose Job the namespace's deletion removes ends Failed (JobDeleted), counted then."""
    custom, core = client.CustomObjectsApi(k8s), client.CoreV1Api(k8s)

    def quiet() -> bool:
        terminating = {
            ns.metadata.name
            for ns in core.list_namespace().items
            if ns.status.phase == "Terminating"
        }
        items = custom.list_cluster_custom_object(
            constants.GROUP, constants.VERSION, constants.PLURAL
        )["items"]
        return not terminating and not [
            o
            for o in items
            if (o.get("status") or {}).get("phase") not in FINAL
            and not o["metadata"].get("deletionTimestamp")
        ]

    wait_for(quiet, "earlier tests' OmveeJobs to end and their namespaces to go", 120)


def seconds(start: str | None, end: str | None) -> float | None:
    begin, finish = parse_time(start), parse_time(end)
    return (finish - begin).total_seconds() if begin and finish else None


def expected_histogram(values: list[float], buckets: tuple[float, ...]) -> dict[str, float]:
    out = {f"{float(b)}": float(sum(v <= b for v in values)) for b in buckets}
    return out | {"+Inf": float(len(values)), "count": float(len(values)), "sum": sum(values)}


def histogram_delta(
    before: Samples, after: Samples, name: str, buckets: tuple[float, ...], **labels: str
) -> dict[str, float]:
    out = {
        f"{float(b)}": delta(before, after, f"{name}_bucket", **labels, le=f"{float(b)}")
        for b in buckets
    }
    return out | {
        "+Inf": delta(before, after, f"{name}_bucket", **labels, le="+Inf"),
        "count": delta(before, after, f"{name}_count", **labels),
        "sum": delta(before, after, f"{name}_sum", **labels),
    }


def test_metrics_after_a_known_set_of_jobs(
    operator: OperatorProcess,
    api_server: ApiProcess,
    http: httpx.Client,
    k8s: client.ApiClient,
    api_namespace: str,
) -> None:
    ojobs = OmveeJobs(k8s, api_namespace)
    project = str(uuid.uuid4())
    upstream = (project, upstream_job(http, project))  # ended before the figures are read
    ojobs.wait_final(omveejob_name(upstream[1]), timeout=60)
    settle(k8s)
    op_before, api_before = scrape(operator.url), scrape(api_server.url)

    quick = factories.pod_annotations(run_duration="1s")
    long_run = factories.pod_annotations(run_duration="1h")
    succeeded = [submit(http, "visual-prompts", quick, upstream) for _ in range(2)]
    failing = submit(
        http, "scene-generation", factories.pod_annotations(exit_code=1), upstream, retries=2
    )  # 3 attempts, then BackoffLimitExceeded
    # two GPU nodes with one GPU each: the video job takes one, a transcription the other, and
    # the second transcription waits for a GPU
    video = submit(http, "video-generation", long_run, upstream)
    wait_for(lambda: ojobs.status(omveejob_name(video)).get("phase") == "Running", "video", 30)
    gpu_jobs = [submit(http, "transcription", long_run, upstream) for _ in range(2)]

    def one_waiting() -> str | None:
        reasons = {j: ojobs.status(omveejob_name(j)).get("reason") for j in gpu_jobs}
        waiting = [j for j, r in reasons.items() if r == "Unschedulable"]
        running = [j for j, r in reasons.items() if r == "Running"]
        return waiting[0] if len(waiting) == 1 and len(running) == 1 else None

    waiting: str = wait_for(one_waiting, "one transcription waiting for a GPU", 30)
    pending = {"type": "transcription", "reason": "Unschedulable"}
    wait_for(
        lambda: (
            scrape(operator.url).get(("omvee_jobs_pending", frozenset(pending.items())), 0) >= 1
        ),
        "omvee_jobs_pending to show the job waiting for a GPU",
        30,
    )
    # cancel the waiting one first, so it never gets the GPU the others free
    for job_id in (waiting, *[j for j in gpu_jobs if j != waiting], video):
        assert http.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
    ids = [*succeeded, failing, video, *gpu_jobs]
    final = {j: ojobs.wait_final(omveejob_name(j), timeout=150) for j in ids}
    created = {j: ojobs.get(omveejob_name(j))["metadata"]["creationTimestamp"] for j in ids}
    assert [final[j]["phase"] for j in succeeded] == ["Succeeded", "Succeeded"]
    assert (final[failing]["phase"], final[failing]["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert final[failing]["attempts"] == 3
    assert {final[j]["phase"] for j in (video, *gpu_jobs)} == {"Cancelled"}
    assert final[waiting].get("startedAt") is None

    def mirrored() -> Samples | None:
        samples = scrape(operator.url)
        # every job's final row written (its lag observed), the gauges past the last change
        rows = delta(op_before, samples, "omvee_mirror_lag_seconds_count")
        cancelled = samples.get(
            ("omvee_jobs", frozenset({"type": "video-generation", "phase": "Cancelled"}.items())), 0
        )
        return samples if rows >= len(ids) and cancelled >= 1 else None

    op_after: Samples = wait_for(mirrored, "the mirror and the gauges to catch up", 30)
    api_after = scrape(api_server.url)

    # API: every submission counted once, by type; requests by route template
    for job_type, count in (
        ("visual-prompts", 2),
        ("scene-generation", 1),
        ("video-generation", 1),
        ("transcription", 2),
        ("image-generation", 0),
    ):
        assert delta(api_before, api_after, "omvee_job_submissions_total", type=job_type) == count
    post = {"method": "POST", "route": "/v1/jobs"}
    assert delta(api_before, api_after, "omvee_api_requests_total", **post, code="202") == 6
    assert delta(api_before, api_after, "omvee_api_request_duration_seconds_count", **post) == 6
    cancel = {"method": "POST", "route": "/v1/jobs/{job_id}/cancel"}
    assert delta(api_before, api_after, "omvee_api_requests_total", **cancel, code="202") == 3
    assert not [key for key in api_after if any(j in str(key) for j in ids)]  # no ids as labels

    # operator counters
    assert delta(op_before, op_after, "omvee_job_retries_total", type="scene-generation") == 2
    for job_type in ("visual-prompts", "video-generation", "transcription"):
        assert delta(op_before, op_after, "omvee_job_retries_total", type=job_type) == 0
    failures = {"type": "scene-generation", "reason": "BackoffLimitExceeded"}
    assert delta(op_before, op_after, "omvee_job_failures_total", **failures) == 1
    assert delta(op_before, op_after, "omvee_reconcile_errors_total") == 0
    # the work loop: reconciles timed, none requeued for an error, a Job created for each job
    assert delta(op_before, op_after, "omvee_reconcile_duration_seconds_count") >= len(ids)
    assert delta(op_before, op_after, "omvee_workqueue_requeues_total", reason="Error") == 0
    assert delta(op_before, op_after, "omvee_kube_requests_total", method="POST") >= len(ids)
    assert ("omvee_workqueue_depth", frozenset()) in op_after
    for reason in ("Unavailable", "Rejected"):
        assert delta(op_before, op_after, "omvee_mirror_write_failures_total", reason=reason) == 0

    # operator histograms, from each job's own times
    by_key: dict[tuple[str, str], list[str]] = {}
    for j in ids:
        by_key.setdefault(
            (ojobs.get(omveejob_name(j))["spec"]["type"], final[j]["phase"]), []
        ).append(j)
    for (job_type, phase), jobs in by_key.items():
        runs = [seconds(final[j].get("startedAt"), final[j]["finishedAt"]) for j in jobs]
        ends = [seconds(created[j], final[j]["finishedAt"]) for j in jobs]
        labels = {"type": job_type, "phase": phase}
        assert histogram_delta(
            op_before, op_after, "omvee_job_run_seconds", RUN_BUCKETS, **labels
        ) == expected_histogram([r for r in runs if r is not None], RUN_BUCKETS), labels
        assert histogram_delta(
            op_before, op_after, "omvee_job_end_to_end_seconds", RUN_BUCKETS, **labels
        ) == expected_histogram([e for e in ends if e is not None], RUN_BUCKETS), labels
    for job_type in ("visual-prompts", "scene-generation", "video-generation", "transcription"):
        jobs = [j for (t, _), js in by_key.items() if t == job_type for j in js]
        waits = [seconds(created[j], final[j].get("startedAt")) for j in jobs]
        assert histogram_delta(
            op_before, op_after, "omvee_job_queue_wait_seconds", QUEUE_BUCKETS, type=job_type
        ) == expected_histogram([w for w in waits if w is not None], QUEUE_BUCKETS), job_type
    assert math.isfinite(op_after[("omvee_mirror_lag_seconds_sum", frozenset())])
    assert op_after[("omvee_operator_active", frozenset())] == 1
