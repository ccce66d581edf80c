"""Jobs that cannot start say why: refused pod creation, quota, a deadline passed while waiting,
a job id held by another OmveeJob, an upstream of another project."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kubernetes import client

from tests import factories
from tests.omveejobs import OmveeJobs, manifest
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator")]


def omvee_cli(kubeconfig: Path, *args: str) -> dict[str, Any]:
    """What `omvee` prints as JSON (the CLI a person would use)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "omvee"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        timeout=60,
        check=True,
    )
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


def mirrored(dsn: str, job_id: str) -> dict[str, Any] | None:
    with psycopg.connect(dsn) as connection:
        cursor = connection.execute(
            "select k8s_name, status from public.jobs where id = %s", [job_id]
        )
        found = cursor.fetchone()
    return {"k8s_name": found[0], "status": found[1]} if found else None


def test_a_namespace_without_the_job_runner_account_says_so_then_fails(
    k8s: client.ApiClient, namespace: str, kubeconfig: Path
) -> None:
    ojobs = OmveeJobs(k8s, namespace)  # the job-runner RBAC was never applied here
    body = manifest("no-account")
    ojobs.create(body)
    expected = (
        f"cannot create pods: serviceaccount omvee-job-runner not found in namespace "
        f"{namespace}; apply charts/omvee/examples/job-runner-rbac.yaml in it"
    )
    waiting = ojobs.wait_status(
        "no-account",
        "the refusal",
        lambda s: s.get("reason") == "PodCreationRefused",
        timeout=25,
    )
    assert (waiting["phase"], waiting["message"]) == ("Pending", expected)
    shown = omvee_cli(kubeconfig, "jobs", "get", body["spec"]["jobId"], "-o", "json")
    assert (shown["reason"], shown["message"]) == ("PodCreationRefused", expected)
    failed = ojobs.wait_final("no-account", timeout=60)
    assert (failed["phase"], failed["reason"], failed["message"]) == (
        "Failed",
        "PodCreationRefused",
        expected,
    )
    wait_for(lambda: not ojobs.jobs("no-account"), "its Job to be deleted", 30)
    events = [(e.type, e.reason) for e in ojobs.events("no-account")]
    assert ("Warning", "PodCreationRefused") in events


def test_a_full_quota_is_waited_for_and_named_then_the_job_runs(
    k8s: client.ApiClient, job_namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_resource_quota(
        job_namespace, {"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}}
    )
    ojobs = OmveeJobs(k8s, job_namespace)
    ojobs.create(manifest("over-quota"))
    waiting = ojobs.wait_status(
        "over-quota", "waiting for quota", lambda s: s.get("reason") == "QuotaExceeded", timeout=25
    )
    assert waiting["phase"] == "Pending"
    assert waiting["message"].startswith(
        "waiting for quota: cannot create pods: exceeded quota: no-pods, requested: pods=1"
    )
    core.patch_namespaced_resource_quota(
        "no-pods", job_namespace, {"spec": {"hard": {"pods": "10"}}}
    )
    done = ojobs.wait_final("over-quota", timeout=120)
    assert (done["phase"], done["attempts"]) == ("Succeeded", 1)


def test_a_deadline_that_passes_while_waiting_for_a_gpu_says_so(
    k8s: client.ApiClient, job_namespace: str
) -> None:
    ojobs = OmveeJobs(k8s, job_namespace)
    long_run = factories.pod_annotations(run_duration="1h")
    busy = ("gpu-busy-a", "gpu-busy-b")
    for name in busy:
        ojobs.create(manifest(name, "transcription", pod_annotations=long_run))
    for name in busy:
        ojobs.wait_status(name, "Running", lambda s: s.get("phase") == "Running")
    try:
        ojobs.create(manifest("gpu-late", "transcription", timeoutSeconds=6))
        failed = ojobs.wait_final("gpu-late", timeout=60)
        assert (failed["phase"], failed["reason"]) == ("Failed", "DeadlineExceeded")
        # every node counts: kwok's four and the real node, when it runs
        assert re.match(
            r"the 6s deadline passed before the job could start; it was waiting for a GPU node: "
            r"0/\d+ nodes are available",
            failed["message"],
        ), failed["message"]
        assert "Insufficient nvidia.com/gpu" in failed["message"]
        assert failed.get("startedAt") is None
    finally:
        for name in busy:
            ojobs.patch_spec(name, {"cancel": True})
        for name in busy:
            ojobs.wait_final(name)


def test_a_second_omveejob_with_the_same_job_id_fails_and_leaves_the_row_alone(
    k8s: client.ApiClient, job_namespace: str, operator_mirror_dsn: str
) -> None:
    ojobs = OmveeJobs(k8s, job_namespace)
    original = manifest("dup-1")
    job_id = original["spec"]["jobId"]
    copy = manifest("dup-2")
    copy["spec"] |= {"jobId": job_id, "projectId": original["spec"]["projectId"]}
    ojobs.create(original)
    ojobs.create(copy)  # the same instant, as far as creationTimestamp tells
    assert ojobs.wait_final("dup-1")["phase"] == "Succeeded"
    lost = ojobs.wait_final("dup-2")
    assert (lost["phase"], lost["reason"], lost["message"]) == (
        "Failed",
        "DuplicateJobId",
        f"job id {job_id} already belongs to OmveeJob dup-1; dup-2 was not run "
        "(give it a job id of its own)",
    )
    assert ojobs.jobs("dup-2") == []
    wait_for(
        lambda: (
            mirrored(operator_mirror_dsn, job_id) == {"k8s_name": "dup-1", "status": "succeeded"}
        ),
        "the owner's row",
        30,
    )
    # A later look (the resync offers every OmveeJob) never hands the row to the loser.
    ojobs.patch_spec("dup-2", {"rerun": 1})
    again = ojobs.wait_status(
        "dup-2", "its rerun refused", lambda s: s.get("run") == 1 and s.get("phase") == "Failed"
    )
    assert again["reason"] == "DuplicateJobId"
    assert mirrored(operator_mirror_dsn, job_id) == {"k8s_name": "dup-1", "status": "succeeded"}


def test_duplicates_created_while_the_operator_is_down_keep_the_oldest(
    k8s: client.ApiClient, job_namespace: str, operator: OperatorProcess
) -> None:
    ojobs = OmveeJobs(k8s, job_namespace)
    job_id = str(uuid.uuid4())
    project = str(uuid.uuid4())
    names = ("twin-b", "twin-a", "twin-c")
    operator.kill()
    try:
        for name in names:
            body = manifest(name)
            body["spec"] |= {"jobId": job_id, "projectId": project}
            ojobs.create(body)
    finally:
        operator.start()
    created = {name: ojobs.get(name)["metadata"]["creationTimestamp"] for name in names}
    owner = min(names, key=lambda n: (created[n], n))  # the oldest, then the first by name
    outcome = {name: ojobs.wait_final(name) for name in names}
    assert outcome[owner]["phase"] == "Succeeded"
    for name in names:
        if name != owner:
            assert (outcome[name]["phase"], outcome[name]["reason"]) == ("Failed", "DuplicateJobId")
            assert f"already belongs to OmveeJob {owner};" in outcome[name]["message"]
            assert ojobs.jobs(name) == []


def test_an_upstream_of_another_project_fails_before_any_pod(
    k8s: client.ApiClient, job_namespace: str
) -> None:
    ojobs = OmveeJobs(k8s, job_namespace)
    theirs = manifest("their-transcript", "transcription")
    ojobs.create(theirs)
    assert ojobs.wait_final("their-transcript")["phase"] == "Succeeded"
    upstream = theirs["spec"]["jobId"]
    mine = manifest("my-scenes", input={"transcriptJobId": upstream})
    ojobs.create(mine)
    failed = ojobs.wait_final("my-scenes")
    assert (failed["phase"], failed["reason"], failed["message"]) == (
        "Failed",
        "UpstreamNotFound",
        f"input.transcriptJobId: there is no job {upstream} of project "
        f"{mine['spec']['projectId']} in namespace {job_namespace}",
    )
    assert ojobs.jobs("my-scenes") == [] and ojobs.pods("my-scenes") == []


def test_a_quota_on_jobs_is_waited_for_and_named_then_the_job_runs(
    k8s: client.ApiClient, job_namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_resource_quota(
        job_namespace,
        {"metadata": {"name": "no-jobs"}, "spec": {"hard": {"count/jobs.batch": "0"}}},
    )
    ojobs = OmveeJobs(k8s, job_namespace)
    ojobs.create(manifest("no-job-room"))
    waiting = ojobs.wait_status(
        "no-job-room", "waiting for quota", lambda s: s.get("reason") == "QuotaExceeded", 25
    )
    assert waiting["phase"] == "Pending"
    assert waiting["message"].startswith("waiting for quota: cannot create the Job: ")
    assert "exceeded quota: no-jobs" in waiting["message"]
    core.patch_namespaced_resource_quota(
        "no-jobs", job_namespace, {"spec": {"hard": {"count/jobs.batch": "5"}}}
    )
    assert ojobs.wait_final("no-job-room", timeout=60)["phase"] == "Succeeded"
