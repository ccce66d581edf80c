"""SIGKILL the operator at random moments, five times, during 200 jobs of which one in ten
fails its first attempt: every OmveeJob still ends in the right phase with the right number
of attempts, and every run has exactly one Job."""

from __future__ import annotations

import random
import time

import pytest
from kubernetes import client

from tests import factories
from tests.omveejobs import FINAL, OmveeJobs, manifest
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster

JOBS = 200
KILLS = 5


def test_five_sigkills_during_200_jobs_lose_nothing_and_run_nothing_twice(
    operator: OperatorProcess, k8s: client.ApiClient, job_namespace: str
) -> None:
    ojobs = OmveeJobs(k8s, job_namespace)
    rng = random.Random(15)
    expected: dict[str, tuple[str, int]] = {}  # name -> (phase, attempts)
    kills = 0
    for i in range(JOBS):
        name = f"chaos-{i}"
        duration = f"{rng.randint(1, 4)}s"
        if i % 10 == 3:  # the first attempt fails, the retry succeeds
            annotations = factories.pod_annotations(
                exit_code=1, fail_attempts=1, run_duration=duration
            )
            ojobs.create(manifest(name, retries=1, pod_annotations=annotations))
            expected[name] = ("Succeeded", 2)
        else:
            annotations = factories.pod_annotations(run_duration=duration)
            ojobs.create(manifest(name, pod_annotations=annotations))
            expected[name] = ("Succeeded", 1)
        if i in (20, 60, 110, 160, 199):  # the kills, spread through the burst and after it
            time.sleep(rng.uniform(0.2, 3.0))
            operator.kill()
            kills += 1
            time.sleep(rng.uniform(0.0, 2.0))
            operator.start()

    def all_final() -> bool:
        return all(ojobs.status(name).get("phase") in FINAL for name in expected)

    wait_for(all_final, "every OmveeJob to reach a final phase", 300)
    assert kills == KILLS
    outcome = {}
    for name in expected:
        status = ojobs.status(name)
        outcome[name] = (status["phase"], status["attempts"])
    wrong = {
        name: (outcome[name], want) for name, want in expected.items() if outcome[name] != want
    }
    assert not wrong, wrong
    # One Job per run, the one its status names, and one pod per attempt: a Job deleted and
    # made again under the same name would show as a second uid or as extra pods.
    odd = {}
    for name, (_, attempts) in expected.items():
        jobs = ojobs.jobs(name)
        uids = [job.metadata.uid for job in jobs]
        pods = len(ojobs.pods(name))
        if uids != [ojobs.status(name).get("jobUid")] or pods != attempts:
            odd[name] = (uids, pods)
    assert not odd, odd
