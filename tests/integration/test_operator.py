"""The operator against the real control plane: OmveeJob -> Job -> pods -> status."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
from kubernetes import client

from api.v1alpha1.constants import PERMANENT_FAILURE_EXIT_CODE
from tests import factories
from tests.localcluster.layout import REPO_ROOT
from tests.localcluster.stages import EXIT_CODE
from tests.omveejobs import OmveeJobs, manifest
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator")]


@pytest.fixture
def ojobs(k8s: client.ApiClient, job_namespace: str) -> OmveeJobs:
    return OmveeJobs(k8s, job_namespace)


def test_example_manifests_run_on_the_right_pool(ojobs: OmveeJobs, kubeconfig: Any) -> None:
    examples = REPO_ROOT / "charts/omvee/examples"
    for example in ("transcription.yaml", "scene-generation.yaml"):
        if example == "scene-generation.yaml":
            # It reads the transcription's result, as its comment says. Applied at once, it
            # would first wait for it (WaitingForUpstream: see test_operator_chains.py).
            ojobs.wait_final("transcribe-episode-1")
        subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(kubeconfig),
                "-n",
                ojobs.namespace,
                "apply",
                "-f",
                str(examples / example),
            ],
            check=True,
            capture_output=True,
        )
    for name, pool in (("transcribe-episode-1", "gpu"), ("scenes-episode-1", "cpu")):
        status = ojobs.wait_final(name)
        assert (status["phase"], status["attempts"], status["progress"]) == ("Succeeded", 1, 100)
        assert status["nodeName"].startswith(f"kwok-{pool}-")
        assert status["jobName"] == f"{name}-r0"
        assert status["startedAt"] and status["finishedAt"]
        conditions = {c["type"]: c for c in status["conditions"]}
        assert conditions["Finished"]["status"] == "True"
        assert conditions["Finished"]["reason"] == "Succeeded"
        [job] = ojobs.jobs(name)
        assert job.metadata.owner_references[0].kind == "OmveeJob"
        assert job.spec.backoff_limit == (1 if pool == "cpu" else 2)
        assert job.spec.pod_replacement_policy == "Failed"
    reasons = [e.reason for e in ojobs.events("scenes-episode-1")]
    assert reasons[0] == "Creating"
    assert reasons[-1] == "Succeeded"


def test_two_failures_then_success_counts_three_attempts(ojobs: OmveeJobs) -> None:
    annotations = factories.pod_annotations(exit_code=1, fail_attempts=2)
    ojobs.create(manifest("flaky", retries=3, pod_annotations=annotations))
    status = ojobs.wait_final("flaky", timeout=150)
    assert (status["phase"], status["attempts"]) == ("Succeeded", 3)
    assert status["message"] == "succeeded after 3 attempts"
    assert len(ojobs.pods("flaky")) == 3


def test_always_failing_job_fails_after_retries_with_the_exit_code(ojobs: OmveeJobs) -> None:
    ojobs.create(
        manifest("broken", retries=2, pod_annotations=factories.pod_annotations(exit_code=1))
    )
    status = ojobs.wait_final("broken", timeout=150)
    assert (status["phase"], status["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert status["message"] == "failed 3 times, last exit code 1"
    assert status["attempts"] == 3
    assert len(ojobs.pods("broken")) == 3
    assert "Retrying" in [e.reason for e in ojobs.events("broken")]


def test_permanent_failure_exit_code_is_not_retried(ojobs: OmveeJobs) -> None:
    annotations = factories.pod_annotations(exit_code=PERMANENT_FAILURE_EXIT_CODE)
    ojobs.create(manifest("bad-input", retries=3, pod_annotations=annotations))
    status = ojobs.wait_final("bad-input")
    assert (status["phase"], status["reason"]) == ("Failed", "PermanentFailure")
    assert f"exit code {PERMANENT_FAILURE_EXIT_CODE}" in status["message"]
    assert len(ojobs.pods("bad-input")) == 1


def test_deadline_shorter_than_the_run_fails_the_job(ojobs: OmveeJobs) -> None:
    ojobs.create(
        manifest(
            "slow", timeoutSeconds=3, pod_annotations=factories.pod_annotations(run_duration="60s")
        )
    )
    status = ojobs.wait_final("slow")
    assert (status["phase"], status["reason"]) == ("Failed", "DeadlineExceeded")
    assert status["message"] == "deadline exceeded after 3s"


def test_invalid_input_fails_before_any_pod(ojobs: OmveeJobs) -> None:
    ojobs.create(manifest("no-audio", "transcription", input={"audioUrl": "ftp://x/a.mp3"}))
    status = ojobs.wait_final("no-audio")
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidInput")
    assert "input.audioUrl" in status["message"]
    assert ojobs.jobs("no-audio") == []


def test_gpu_capacity_wait_pending_timeout_and_cancel(ojobs: OmveeJobs) -> None:
    long_run = factories.pod_annotations(run_duration="1h")
    for name in ("gpu-a", "gpu-b"):
        ojobs.create(manifest(name, "transcription", pod_annotations=long_run))
    for name in ("gpu-a", "gpu-b"):
        ojobs.wait_status(name, "Running", lambda s: s.get("phase") == "Running")

    ojobs.create(
        manifest("gpu-c", "transcription", pendingTimeoutSeconds=8, pod_annotations=long_run)
    )
    waiting = ojobs.wait_status(
        "gpu-c", "Unschedulable", lambda s: s.get("reason") == "Unschedulable", timeout=20
    )
    assert waiting["phase"] == "Pending"
    assert re.match(r"waiting for a GPU node: 0/\d+ nodes are available", waiting["message"])
    assert "Insufficient nvidia.com/gpu" in waiting["message"]
    scheduled = {c["type"]: c for c in waiting["conditions"]}["Scheduled"]
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")

    failed = ojobs.wait_final("gpu-c", timeout=30)
    assert (failed["phase"], failed["reason"]) == ("Failed", "PendingTimeout")
    assert failed["message"].startswith("did not start within 8s: waiting for a GPU node")
    wait_for(lambda: not ojobs.jobs("gpu-c"), "gpu-c's Job to be deleted", 30)

    for name in ("gpu-a", "gpu-b"):
        ojobs.patch_spec(name, {"cancel": True})
    for name in ("gpu-a", "gpu-b"):
        status = ojobs.wait_final(name)
        assert (status["phase"], status["reason"]) == ("Cancelled", "Cancelled")
        wait_for(
            lambda n=name: not ojobs.jobs(n) and not ojobs.pods(n),
            f"{name}'s Job and pods to go away",
            30,
        )


def test_retry_creates_a_new_job_and_keeps_the_old_one(ojobs: OmveeJobs) -> None:
    ojobs.create(
        manifest("retry-me", retries=0, pod_annotations=factories.pod_annotations(exit_code=2))
    )
    first = ojobs.wait_final("retry-me")
    assert first["phase"] == "Failed"
    # A merge patch: null removes the annotation that made run 0 fail.
    ojobs.patch_spec("retry-me", {"rerun": 1, "cancel": False, "podAnnotations": {EXIT_CODE: None}})
    second = ojobs.wait_status(
        "retry-me",
        "run 1 to succeed",
        lambda s: s.get("run") == 1 and s.get("phase") == "Succeeded",
    )
    assert second["jobName"] == "retry-me-r1"
    assert second["attempts"] == 1
    assert sorted(j.metadata.name for j in ojobs.jobs("retry-me")) == ["retry-me-r0", "retry-me-r1"]


def test_progress_from_the_job_pod_is_kept_and_never_lowered(
    ojobs: OmveeJobs, k8s: client.ApiClient
) -> None:
    ojobs.create(manifest("progress", pod_annotations=factories.pod_annotations(run_duration="8s")))
    ojobs.wait_status("progress", "Running", lambda s: s.get("phase") == "Running")
    # As the job pod would, with its ServiceAccount's rights only.
    as_pod = client.ApiClient(k8s.configuration)
    as_pod.set_default_header(
        "Impersonate-User", f"system:serviceaccount:{ojobs.namespace}:omvee-job-runner"
    )
    client.CustomObjectsApi(as_pod).patch_namespaced_custom_object_status(
        "omvee.io",
        "v1alpha1",
        ojobs.namespace,
        "omveejobs",
        "progress",
        {"status": {"progress": 40, "progressMessage": "decoding audio 40%"}},
    )
    running = ojobs.status("progress")
    assert (running["progress"], running["progressMessage"]) == (40, "decoding audio 40%")
    with pytest.raises(client.ApiException) as forbidden:
        client.CustomObjectsApi(as_pod).patch_namespaced_custom_object(
            "omvee.io",
            "v1alpha1",
            ojobs.namespace,
            "omveejobs",
            "progress",
            {"spec": {"cancel": True}},
        )
    assert forbidden.value.status == 403
    final = ojobs.wait_final("progress")
    assert final["progress"] == 100
    assert final["progressMessage"] == "decoding audio 40%"


def test_delete_cascades_even_with_the_operator_down(
    ojobs: OmveeJobs, operator: OperatorProcess
) -> None:
    ojobs.create(manifest("doomed", pod_annotations=factories.pod_annotations(run_duration="1h")))
    ojobs.wait_status("doomed", "Running", lambda s: s.get("phase") == "Running")
    operator.stop()
    try:
        ojobs.delete("doomed")
        wait_for(
            lambda: not ojobs.jobs("doomed") and not ojobs.pods("doomed"),
            "the Job and pods to be garbage-collected",
            60,
        )
        with pytest.raises(client.ApiException) as gone:
            ojobs.get("doomed")
        assert gone.value.status == 404
    finally:
        operator.start()
