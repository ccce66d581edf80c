"""SIGKILL the operator with 50 jobs in flight: nothing is lost and nothing runs twice."""

from __future__ import annotations

import random

import pytest
from kubernetes import client

from tests import factories
from tests.omveejobs import FINAL, OmveeJobs, manifest
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster


def test_killed_operator_resumes_every_job(
    operator: OperatorProcess, k8s: client.ApiClient, job_namespace: str
) -> None:
    ojobs = OmveeJobs(k8s, job_namespace)
    rng = random.Random(7)
    expected: dict[str, tuple[str, int]] = {}  # name -> (phase, attempts)

    def submit(name: str, kind: int) -> None:
        if kind == 0:  # fails every time, no retries
            annotations = factories.pod_annotations(exit_code=1, run_duration="1s")
            ojobs.create(manifest(name, retries=0, pod_annotations=annotations))
            expected[name] = ("Failed", 1)
        elif kind == 1:  # first attempt fails, the retry succeeds
            annotations = factories.pod_annotations(exit_code=1, fail_attempts=1, run_duration="1s")
            ojobs.create(manifest(name, retries=1, pod_annotations=annotations))
            expected[name] = ("Succeeded", 2)
        else:
            duration = f"{rng.randint(1, 8)}s"
            ojobs.create(
                manifest(name, pod_annotations=factories.pod_annotations(run_duration=duration))
            )
            expected[name] = ("Succeeded", 1)

    for i in range(50):
        submit(f"inflight-{i}", i % 10)
    wait_for(
        lambda: sum(1 for i in range(50) if ojobs.status(f"inflight-{i}").get("jobName")) >= 20,
        "20 jobs to have their Job",
        60,
    )

    operator.kill()
    try:
        for i in range(5):  # submitted while the operator is down
            submit(f"while-down-{i}", 2)
        # Jobs keep running and finishing without the operator.
        wait_for(
            lambda: (
                sum(
                    1
                    for j in client.BatchV1Api(k8s).list_namespaced_job(job_namespace).items
                    if j.status.succeeded
                )
                >= 10
            ),
            "10 Jobs to finish",
            60,
        )
    finally:
        operator.start()

    def all_final() -> bool:
        return all(ojobs.status(name).get("phase") in FINAL for name in expected)

    wait_for(all_final, "every OmveeJob to reach a final phase", 180)
    outcome = {}
    for name in expected:
        status = ojobs.status(name)
        outcome[name] = (status["phase"], status["attempts"])
    assert outcome == expected
    jobs_per_ojob = {name: len(ojobs.jobs(name)) for name in expected}
    assert set(jobs_per_ojob.values()) == {1}, jobs_per_ojob
