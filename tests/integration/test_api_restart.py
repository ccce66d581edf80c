"""Kill the API (SIGKILL) during 100 submissions and restart it: every accepted job exists and
completes, retried submissions are not duplicated, and rejected ones left nothing behind."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from tests import factories
from tests.api_process import SERVICE_TOKEN, ApiProcess, upstream_job
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster


def test_api_killed_mid_submissions(api_server: ApiProcess) -> None:
    project = str(uuid.uuid4())
    with httpx.Client(
        base_url=api_server.url, timeout=10, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    ) as session:
        upstream = upstream_job(session, project)  # what every scene job takes input from
    accepted: dict[int, str] = {}
    rejected: list[int] = []
    connection_errors = 0
    killed = threading.Event()

    def submit(i: int, session: httpx.Client) -> httpx.Response:
        nonlocal connection_errors
        body = {
            "type": "scene-generation",
            "project_id": project,
            "input": {"transcript_job_id": upstream if i % 10 else "bad"},
            "pod_annotations": factories.pod_annotations(run_duration="1s"),
        }
        deadline = time.monotonic() + 60
        while True:  # what a careful client does: retry with the same key
            try:
                return session.post("/v1/jobs", json=body, headers={"Idempotency-Key": f"k{i}"})
            except httpx.TransportError:
                connection_errors += 1
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def killer() -> None:
        wait_for(lambda: len(accepted) >= 30, "30 accepted submissions", 60)
        api_server.kill()
        killed.set()
        wait_for(lambda: connection_errors > 0, "a submission to find the API gone", 30)
        api_server.start()

    thread = threading.Thread(target=killer)
    thread.start()
    with httpx.Client(
        base_url=api_server.url, timeout=10, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    ) as session:
        for i in range(100):
            response = submit(i, session)
            if response.status_code == 202:
                accepted[i] = response.json()["id"]
            else:
                assert response.status_code == 422, response.text
                rejected.append(i)
        thread.join()
        assert killed.is_set() and connection_errors > 0

        assert len(accepted) == 90 and len(rejected) == 10
        assert len(set(accepted.values())) == 90

        def all_succeeded() -> bool:
            listed, cursor = [], None
            while True:
                page = session.get(
                    "/v1/jobs",
                    params={
                        "project_id": project,
                        "limit": 500,
                        **({"cursor": cursor} if cursor else {}),
                    },
                )
                listed += page.json()["items"]
                if not (cursor := page.json()["next"]):
                    break
            assert {job["id"] for job in listed} == {*accepted.values(), upstream}  # nothing else
            return all(job["phase"] == "Succeeded" for job in listed)

        wait_for(all_succeeded, "the 90 accepted jobs to succeed", 180)
