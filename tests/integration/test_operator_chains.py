"""Chains of OmveeJobs on kwok: each step's input names the step before (its upstream); all are
applied at once, as `kubectl apply -f chain.yaml` would. A step starts only once its upstream
succeeded, ends at once when it failed, and starts again when it is retried; killing the
operator mid-chain loses nothing and runs nothing twice."""

from __future__ import annotations

import itertools
import subprocess
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests import factories
from tests.localcluster.stages import EXIT_CODE
from tests.omveejobs import FINAL, OmveeJobs, manifest
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator")]

# The pipeline order; each step's single upstream field names the step before.
STEPS = (
    ("transcription", None),
    ("scene-generation", "transcriptJobId"),
    ("visual-prompts", "scenesJobId"),
    ("image-generation", "promptsJobId"),
    ("video-generation", "imagesJobId"),
)


@pytest.fixture
def ojobs(k8s: client.ApiClient, job_namespace: str) -> OmveeJobs:
    return OmveeJobs(k8s, job_namespace)


def chain(
    prefix: str, annotations: list[dict[str, str]] | None = None, **first: Any
) -> list[dict[str, Any]]:
    """Five OmveeJob manifests of one project, step i's input naming step i-1's job id;
    ``annotations`` per step (kwok's run), ``first``: extra spec fields of the first step."""
    project = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in STEPS]
    manifests = []
    for i, (job_type, field) in enumerate(STEPS):
        job_input = (
            {"audioUrl": "https://media.example.com/episode.mp3"}
            if field is None
            else {field: ids[i - 1]}
        )
        body = manifest(
            f"{prefix}-{i + 1}-{job_type}",
            job_type,
            input=job_input,
            pod_annotations=(annotations or [factories.pod_annotations()] * len(STEPS))[i],
            **(first if i == 0 else {}),
        )
        body["spec"] |= {"projectId": project, "jobId": ids[i]}
        manifests.append(body)
    return manifests


def seconds(earlier: str, later: str) -> float:
    """Seconds from one RFC 3339 status time to another."""
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def names(manifests: list[dict[str, Any]]) -> list[str]:
    return [m["metadata"]["name"] for m in manifests]


def apply(kubeconfig: Path, namespace: str, manifests: list[dict[str, Any]]) -> None:
    """`kubectl apply` of the manifests as one multi-document YAML file, all at once."""
    subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "-n", namespace, "apply", "-f", "-"],
        input=yaml.safe_dump_all(manifests),
        text=True,
        check=True,
        capture_output=True,
    )


def wait_all_final(ojobs: OmveeJobs, steps: list[str], timeout: float = 60) -> dict[str, Any]:
    def every() -> dict[str, Any] | None:
        found = {name: ojobs.status(name) for name in steps}
        return found if all(s.get("phase") in FINAL for s in found.values()) else None

    statuses: dict[str, Any] = wait_for(every, "every step to end", timeout)
    return statuses


def job_created(ojobs: OmveeJobs, name: str, run: int = 0) -> str:
    [job] = [j for j in ojobs.jobs(name) if j.metadata.name == f"{name}-r{run}"]
    return str(job.metadata.creation_timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"))


def assert_in_order(ojobs: OmveeJobs, steps: list[str], run: int = 0) -> None:
    """Each step's Job of ``run`` was created only after its upstream had succeeded."""
    for upstream, downstream in itertools.pairwise(steps):
        finished = ojobs.status(upstream)["finishedAt"]
        assert job_created(ojobs, downstream, run) >= finished, (upstream, downstream)


def test_a_five_step_chain_applied_at_once_runs_step_by_step(
    ojobs: OmveeJobs, kubeconfig: Path
) -> None:
    manifests = chain("story")
    steps = names(manifests)
    apply(kubeconfig, ojobs.namespace, manifests)
    last = ojobs.wait_status(
        steps[-1], "waiting", lambda s: s.get("reason") == "WaitingForUpstream", timeout=20
    )
    assert last["phase"] == "Pending"
    assert last["message"].startswith(
        f"waiting for image-generation {manifests[3]['spec']['jobId']} ("
    )
    assert last["upstream"]["jobId"] == manifests[3]["spec"]["jobId"]
    scheduled = {c["type"]: c for c in last["conditions"]}["Scheduled"]
    assert (scheduled["status"], scheduled["reason"]) == ("False", "WaitingForUpstream")
    assert ojobs.jobs(steps[-1]) == [] and ojobs.pods(steps[-1]) == []

    statuses = wait_all_final(ojobs, steps)
    assert {n: (s["phase"], s["attempts"]) for n, s in statuses.items()} == {
        n: ("Succeeded", 1) for n in steps
    }
    assert all(s.get("upstream") is None for s in statuses.values())
    assert_in_order(ojobs, steps)
    for name in steps:
        assert [j.metadata.name for j in ojobs.jobs(name)] == [f"{name}-r0"]
    events = [(e.type, e.reason) for e in ojobs.events(steps[2])]
    assert events[0] == ("Normal", "WaitingForUpstream")
    assert events[-1] == ("Normal", "Succeeded")


def failing_chain(ojobs: OmveeJobs, kubeconfig: Path, prefix: str) -> list[dict[str, Any]]:
    """Apply a chain whose first step fails both its attempts; returns its manifests once every
    step has ended."""
    broken = [factories.pod_annotations(exit_code=1)] + [factories.pod_annotations()] * 4
    manifests = chain(prefix, broken, retries=1)
    apply(kubeconfig, ojobs.namespace, manifests)
    return manifests


def test_an_upstream_failing_after_its_retries_ends_every_downstream_at_once(
    ojobs: OmveeJobs, kubeconfig: Path
) -> None:
    manifests = failing_chain(ojobs, kubeconfig, "broken")
    steps = names(manifests)
    statuses = wait_all_final(ojobs, steps, timeout=60)
    first = statuses[steps[0]]
    assert (first["phase"], first["reason"], first["attempts"]) == (
        "Failed",
        "BackoffLimitExceeded",
        2,
    )
    first_id = manifests[0]["spec"]["jobId"]
    for i, name in enumerate(steps[1:], start=1):
        status = statuses[name]
        upstream = manifests[i - 1]["spec"]
        assert (status["phase"], status["reason"]) == ("Failed", "UpstreamFailed"), name
        assert status["message"].startswith(
            f"upstream {upstream['type']} {upstream['jobId']} failed: "
        )
        assert first_id in status["message"]  # down the chain, the first failure is quoted
        assert status["upstream"] == {
            "jobId": upstream["jobId"],
            "type": upstream["type"],
            "run": 0,
            "phase": "Failed",
        }
        assert status["attempts"] == 0 and status.get("jobUid") is None
        assert ojobs.jobs(name) == [] and ojobs.pods(name) == []
        # at once: no wait, no timeout
        assert seconds(first["finishedAt"], status["finishedAt"]) <= 10, (name, status)
    warnings = [e.reason for e in ojobs.events(steps[1]) if e.type == "Warning"]
    assert warnings == ["UpstreamFailed"]


def test_retrying_the_failed_upstream_brings_the_chain_back_to_succeeded(
    ojobs: OmveeJobs, kubeconfig: Path
) -> None:
    manifests = failing_chain(ojobs, kubeconfig, "retried")
    steps = names(manifests)
    wait_all_final(ojobs, steps, timeout=60)
    # Retry the first step as a person would: the next run, without what made it fail (a merge
    # patch: null removes the annotation).
    ojobs.patch_spec(steps[0], {"rerun": 1, "cancel": False, "podAnnotations": {EXIT_CODE: None}})
    ojobs.wait_status(
        steps[-1],
        "run 1 of the last step to succeed",
        lambda s: s.get("run") == 1 and s.get("phase") == "Succeeded",
        timeout=60,
    )
    for name in steps:
        status = ojobs.status(name)
        assert (status["run"], status["phase"], status["attempts"]) == (1, "Succeeded", 1), name
        assert ojobs.get(name)["spec"]["rerun"] == 1  # the downstreams' raised by the operator
    assert sorted(j.metadata.name for j in ojobs.jobs(steps[0])) == [
        f"{steps[0]}-r0",
        f"{steps[0]}-r1",
    ]
    for name in steps[1:]:  # run 0 ended without a Job; run 1 has exactly one
        assert [j.metadata.name for j in ojobs.jobs(name)] == [f"{name}-r1"]
    assert_in_order(ojobs, steps, run=1)


def test_a_chain_survives_the_operator_sigkilled_mid_way(
    ojobs: OmveeJobs, kubeconfig: Path, operator: OperatorProcess
) -> None:
    manifests = chain("killed", [factories.pod_annotations(run_duration="2s")] * len(STEPS))
    steps = names(manifests)
    apply(kubeconfig, ojobs.namespace, manifests)
    ojobs.wait_status(steps[1], "Running", lambda s: s.get("phase") == "Running", timeout=30)
    operator.kill()
    try:
        # step 2's Job completes while no operator runs: step 3 is started by the new one
        wait_for(
            lambda: any((j.status.succeeded or 0) >= 1 for j in ojobs.jobs(steps[1])),
            f"{steps[1]}'s Job to complete while the operator is down",
            30,
        )
    finally:
        operator.start()
    statuses = wait_all_final(ojobs, steps, timeout=90)
    assert {n: (s["phase"], s["attempts"]) for n, s in statuses.items()} == {
        n: ("Succeeded", 1) for n in steps
    }
    for name in steps:  # one Job per step run, the one its status names, one pod
        assert [j.metadata.uid for j in ojobs.jobs(name)] == [statuses[name]["jobUid"]]
        assert len(ojobs.pods(name)) == 1
    assert_in_order(ojobs, steps)


def test_a_job_naming_itself_fails_at_once_as_a_cycle(ojobs: OmveeJobs) -> None:
    body = manifest("loop", "scene-generation")
    body["spec"]["input"] = {"transcriptJobId": body["spec"]["jobId"]}
    ojobs.create(body)
    status = ojobs.wait_final("loop", timeout=30)
    assert (status["phase"], status["reason"]) == ("Failed", "UpstreamCycle")
    assert ojobs.jobs("loop") == []
