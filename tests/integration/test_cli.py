"""The installed `omvee` command against the local control plane, through both backends:
the cluster (an admin kubeconfig) and the REST API (a service token)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from kubernetes import client

from tests import factories
from tests.api_process import SERVICE_TOKEN, ApiProcess, upstream_job
from tests.local_service import saved_logs_env
from tests.omveejobs import OmveeJobs, manifest
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator")]

OMVEE = Path(sys.executable).parent / "omvee"
FAKE_LOG = [f"omvee fake job: step {i} of 3" for i in range(1, 4)]


def omvee(
    kubeconfig: Path, *args: str, ok: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OMVEE_")}
    result = subprocess.run(
        [str(OMVEE), *args],
        capture_output=True,
        text=True,
        env={**clean, "KUBECONFIG": str(kubeconfig), **(env or {})},
        timeout=120,
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def clock_past(timestamp: str, seconds: float) -> None:
    """Wait for the clock to be ``seconds`` past a (whole-second) Kubernetes timestamp."""
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    wait_for(lambda: datetime.now(UTC) >= moment, f"the clock to pass {moment}", seconds + 5)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failing command prints; it must exit 1 and print nothing else."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("omvee: error: "), result.stderr
    return lines[0].removeprefix("omvee: error: ")


def start(ojobs: OmveeJobs, job_type: str = "scene-generation", **annotations: Any) -> str:
    """Create an OmveeJob named as the API names them; return its job id."""
    body = manifest(
        "placeholder", job_type, pod_annotations=factories.pod_annotations(**annotations)
    )
    body["metadata"]["name"] = f"job-{body['spec']['jobId']}"
    ojobs.create(body)
    return str(body["spec"]["jobId"])


@pytest.fixture
def ojobs(k8s: client.ApiClient, job_namespace: str) -> OmveeJobs:
    return OmveeJobs(k8s, job_namespace)


def test_list_get_logs_and_watch_in_cluster_mode(
    kubeconfig: Path, ojobs: OmveeJobs, job_namespace: str
) -> None:
    done = start(ojobs)
    ojobs.wait_final(f"job-{done}")
    # creation times have whole seconds: the newest-first order must be clear
    clock_past(ojobs.get(f"job-{done}")["metadata"]["creationTimestamp"], 1)
    slow = start(ojobs, run_duration="3s")
    ns = ("-n", job_namespace)

    watched = omvee(kubeconfig, *ns, "jobs", "watch", slow)
    phases = [line.split()[1] for line in watched.stdout.splitlines()]
    assert phases[-1] == "Succeeded" and "Running" in phases, watched.stdout
    assert watched.stdout.splitlines()[-1].split()[2] == "100%"

    table = omvee(kubeconfig, *ns, "jobs", "list").stdout.splitlines()
    assert table[0].split() == [
        "NAMESPACE",
        "ID",
        "TYPE",
        "PHASE",
        "PROGRESS",
        "ATTEMPTS",
        "NODE",
        "AGE",
    ]
    rows = {line.split()[1]: line.split() for line in table[1:]}
    assert rows[done][:5] == [job_namespace, done, "scene-generation", "Succeeded", "100%"]
    assert rows[done][6].startswith("kwok-cpu-")
    assert set(rows) == {done, slow}

    listed = json.loads(omvee(kubeconfig, *ns, "jobs", "list", "-o", "json").stdout)
    assert [j["id"] for j in listed] == [slow, done]  # newest first
    assert listed[1] | {
        "node": None,
        "created_at": None,
        "started_at": None,
        "finished_at": None,
        "project_id": None,
        "message": None,
    } == {
        "namespace": job_namespace,
        "name": f"job-{done}",
        "id": done,
        "project_id": None,
        "type": "scene-generation",
        "phase": "Succeeded",
        "progress": 100,
        "progress_message": None,
        "attempts": 1,
        "run": 0,
        "reason": "Succeeded",
        "message": None,
        "node": None,
        "created_at": None,
        "started_at": None,
        "finished_at": None,
        "result": None,
        "result_links": {},
    }
    filtered = omvee(kubeconfig, "jobs", "list", "--phase", "Succeeded", "-o", "json", *ns)
    assert {j["id"] for j in json.loads(filtered.stdout)} == {done, slow}

    # by job id without -n (searched in every namespace), and by OmveeJob name
    detail = omvee(kubeconfig, "jobs", "get", done).stdout
    assert (
        f"Namespace:     {job_namespace}\nName:          job-{done}\nID:            {done}"
        in detail
    )
    assert "Phase:         Succeeded\nProgress:      100%" in detail
    got = json.loads(omvee(kubeconfig, "jobs", "get", f"job-{done}", "-o", "json").stdout)
    assert got == listed[1]

    log = omvee(kubeconfig, "jobs", "logs", done).stdout
    assert all(line in log for line in FAKE_LOG), log
    missing = omvee(kubeconfig, "jobs", "logs", done, "--attempt", "2", ok=False)
    assert error_line(missing) == f"job {done} has 1 attempt(s) so far, not 2"


def test_cancel_retry_and_errors_in_cluster_mode(kubeconfig: Path, ojobs: OmveeJobs) -> None:
    job_id = start(ojobs, run_duration="1h")
    name = f"job-{job_id}"
    ojobs.wait_status(name, "Running", lambda s: s.get("phase") == "Running")

    out = omvee(kubeconfig, "jobs", "cancel", job_id).stdout
    assert out == f"Cancelling job {job_id}: its pods stop, then it is Cancelled.\n"
    assert ojobs.wait_final(name)["phase"] == "Cancelled"
    again = omvee(kubeconfig, "jobs", "cancel", name, ok=False)
    assert error_line(again) == f"job {job_id} already ended (Cancelled); nothing to cancel"

    retried = json.loads(omvee(kubeconfig, "jobs", "retry", job_id, "-o", "json").stdout)
    assert (retried["id"], retried["phase"]) == (job_id, "Cancelled")
    status = ojobs.wait_status(
        name, "run 1 running", lambda s: s.get("run") == 1 and s.get("phase") == "Running"
    )
    assert status["attempts"] == 1
    refused = omvee(kubeconfig, "jobs", "retry", job_id, ok=False)
    assert error_line(refused) == (
        f"job {job_id} is Running; only Failed or Cancelled jobs can be retried"
    )

    unknown = str(uuid.uuid4())
    assert error_line(omvee(kubeconfig, "jobs", "get", unknown, ok=False)) == f"no job {unknown}"
    assert error_line(omvee(kubeconfig, "jobs", "get", "no-such-job", ok=False)) == (
        "no job no-such-job"
    )
    no_config = omvee(kubeconfig, "--kubeconfig", "/nonexistent", "jobs", "list", ok=False)
    assert error_line(no_config).startswith("no usable kubeconfig")
    usage = omvee(kubeconfig, "jobs", "frobnicate", ok=False)
    assert usage.returncode == 2 and "invalid choice: 'frobnicate'" in usage.stderr


def test_a_failing_job_is_watched_to_the_end_and_exits_1(
    kubeconfig: Path, ojobs: OmveeJobs, job_namespace: str
) -> None:
    body = manifest(
        "placeholder",
        retries=0,
        pod_annotations=factories.pod_annotations(exit_code=1, run_duration="1s"),
    )
    job_id = body["spec"]["jobId"]
    body["metadata"]["name"] = "failing"  # a kubectl-style name: found by spec.jobId
    ojobs.create(body)
    watched = omvee(
        kubeconfig, "-n", job_namespace, "jobs", "watch", job_id, "-o", "json", ok=False
    )
    assert watched.returncode == 1, watched.stderr
    events = [json.loads(line) for line in watched.stdout.splitlines()]
    assert events[-1]["phase"] == "Failed" and events[-1]["name"] == "failing"
    assert len({json.dumps(e, sort_keys=True) for e in events}) == len(events)  # changes only


def test_stats_in_cluster_mode(kubeconfig: Path, ojobs: OmveeJobs, job_namespace: str) -> None:
    running = start(ojobs, "transcription", run_duration="1h")  # a GPU type
    finished = start(ojobs)
    ojobs.wait_status(f"job-{running}", "Running", lambda s: s.get("phase") == "Running")
    ojobs.wait_final(f"job-{finished}")

    stats = json.loads(omvee(kubeconfig, "-n", job_namespace, "stats", "-o", "json").stdout)
    assert stats["total"] == 2
    assert stats["by_phase"]["Running"] == 1 and stats["by_phase"]["Succeeded"] == 1
    assert stats["by_type"]["transcription"]["Running"] == 1
    [entry] = stats["running"]
    assert (entry["id"], entry["type"], entry["namespace"]) == (
        running,
        "transcription",
        job_namespace,
    )
    node = entry["node"]
    assert node.startswith("kwok-gpu-")
    by_node = {n["node"]: n for n in stats["nodes"]}
    assert by_node[node]["pool"] == "gpu" and by_node[node]["running_jobs"] == 1
    assert by_node[node]["gpu_requested"] == by_node[node]["gpu_allocatable"] == 1
    assert by_node["kwok-cpu-0"]["pool"] == "cpu"
    pools = {p["pool"]: p for p in stats["pools"]}
    assert pools["gpu"]["nodes"] == 2 and pools["gpu"]["gpu_allocatable"] == 2
    assert stats["gpu"]["allocatable"] == 2 and stats["gpu"]["requested"] >= 1

    text = omvee(kubeconfig, "-n", job_namespace, "stats").stdout
    assert text.startswith("Jobs: 2   Pending 0   Running 1   Succeeded 1   Failed 0   Cancelled 0")
    assert "Running now: 1" in text and running in text
    # columns are as wide as their longest value (the real node and its pool, when it runs)
    assert re.search(r"^NODE +POOL +JOBS +GPUS USED$", text, re.MULTILINE), text
    assert re.search(rf"^{node} +gpu +1 +1/1$", text, re.MULTILINE), text


def test_purge_is_a_dry_run_until_yes(
    kubeconfig: Path, ojobs: OmveeJobs, job_namespace: str, api_server: ApiProcess
) -> None:
    done = [start(ojobs), start(ojobs)]
    running = start(ojobs, run_duration="1h")
    for job_id in done:
        ojobs.wait_final(f"job-{job_id}")
    ojobs.wait_status(f"job-{running}", "Running", lambda s: s.get("phase") == "Running")
    ns = ("-n", job_namespace)
    assert omvee(kubeconfig, *ns, "purge", "--older-than", "1h").stdout == (
        "No finished jobs older than 60m.\n"
    )
    for job_id in done:  # finishedAt has one-second precision
        clock_past(ojobs.status(f"job-{job_id}")["finishedAt"], 2)

    dry = omvee(kubeconfig, *ns, "purge", "--older-than", "1s").stdout.splitlines()
    assert dry[0].split() == ["NAMESPACE", "NAME", "TYPE", "PHASE", "FINISHED"]
    assert {line.split()[1] for line in dry[1:-1]} == {f"job-{j}" for j in done}
    assert dry[-1] == "2 job(s) would be deleted. Nothing changed: run again with --yes."
    as_json = json.loads(omvee(kubeconfig, *ns, "purge", "--older-than", "1s", "-o", "json").stdout)
    assert as_json["dry_run"] is True and as_json["deleted"] == []
    assert sorted(as_json["jobs"]) == sorted(f"{job_namespace}/job-{j}" for j in done)
    assert (
        len(
            ojobs.custom.list_namespaced_custom_object(
                "omvee.io", "v1alpha1", job_namespace, "omveejobs"
            )["items"]
        )
        == 3
    )

    deleted = omvee(kubeconfig, *ns, "purge", "--older-than", "1s", "--yes").stdout
    assert deleted.splitlines()[-1] == "Deleted 2 job(s)."
    left = ojobs.custom.list_namespaced_custom_object(
        "omvee.io", "v1alpha1", job_namespace, "omveejobs"
    )["items"]
    assert [o["metadata"]["name"] for o in left] == [f"job-{running}"]

    through_api = omvee(
        kubeconfig,
        "--api",
        api_server.url,
        "--token",
        SERVICE_TOKEN,
        "purge",
        "--older-than",
        "1d",
        ok=False,
    )
    assert error_line(through_api) == (
        "purge deletes OmveeJobs and needs the cluster (a kubeconfig), not --api"
    )


@pytest.mark.postgres
def test_stuck_rows_through_omvee(kubeconfig: Path, mirror_db: str) -> None:
    stuck = str(uuid.uuid4())
    with psycopg.connect(mirror_db, autocommit=True) as connection:
        connection.execute(
            "insert into public.jobs (id, project_id, type, status, input, updated_at) "
            "values (%s, %s, 'transcription', 'queued', %s, now() - interval '2 hours')",
            [stuck, str(uuid.uuid4()), json.dumps({"audioUrl": "https://media.example.com/a.mp3"})],
        )
    out = omvee(kubeconfig, "stuck-rows", "--dsn", mirror_db, "--older-than", "1h").stdout
    assert out.startswith("1 stuck row(s)")
    assert f"{stuck}  transcription     queued" in out
    assert f"can be resubmitted as job-{stuck}" in out and "Nothing changed" in out
    assert error_line(omvee(kubeconfig, "stuck-rows", ok=False)) == (
        "no database: pass --dsn or set OMVEE_MIRROR_DSN"
    )


def submit(http: httpx.Client, **annotations: Any) -> str:
    job_id, project = str(uuid.uuid4()), str(uuid.uuid4())
    response = http.post(
        "/v1/jobs",
        json={
            "type": "scene-generation",
            "project_id": project,
            "job_id": job_id,
            "input": {"transcript_job_id": upstream_job(http, project)},
            "pod_annotations": factories.pod_annotations(**annotations),
        },
    )
    assert response.status_code == 202, response.text
    return job_id


def test_every_job_command_through_the_api(
    kubeconfig: Path, api_server: ApiProcess, http: httpx.Client
) -> None:
    api = ("--api", api_server.url, "--token", SERVICE_TOKEN)
    job_id = submit(http, run_duration="3s")
    watched = omvee(kubeconfig, *api, "jobs", "watch", job_id)
    phases = [line.split()[1] for line in watched.stdout.splitlines()]
    assert phases[-1] == "Succeeded" and "Running" in phases, watched.stdout

    listed = json.loads(
        omvee(kubeconfig, *api, "jobs", "list", "-o", "json", "--limit", "0").stdout
    )
    mine = next(j for j in listed if j["id"] == job_id)
    assert mine == http.get(f"/v1/jobs/{job_id}").json()  # the API's own view, unchanged
    table = omvee(kubeconfig, *api, "jobs", "list", "--limit", "0").stdout.splitlines()
    assert table[0].split()[0] == "ID"  # no namespace column through the API
    assert any(line.split()[:3] == [job_id, "scene-generation", "Succeeded"] for line in table)
    detail = omvee(kubeconfig, "jobs", "get", f"job-{job_id}", *api).stdout
    assert f"ID:            {job_id}" in detail and "Namespace:" not in detail
    log = omvee(kubeconfig, *api, "jobs", "logs", job_id).stdout
    assert all(line in log for line in FAKE_LOG), log

    slow = submit(http, run_duration="1h")
    assert omvee(kubeconfig, *api, "jobs", "cancel", slow).stdout.startswith(
        f"Cancelling job {slow}"
    )
    cancelled = omvee(kubeconfig, *api, "jobs", "watch", slow, ok=False)
    assert cancelled.returncode == 1 and cancelled.stdout.splitlines()[-1].split()[1] == "Cancelled"
    retried = json.loads(omvee(kubeconfig, *api, "jobs", "retry", slow, "-o", "json").stdout)
    assert retried["id"] == slow
    twice = omvee(kubeconfig, *api, "jobs", "retry", slow, ok=False)
    assert error_line(twice) in (
        f"job {slow} is already being retried",
        f"job {slow} is Running; only Failed or Cancelled jobs can be retried",
        f"job {slow} is Pending; only Failed or Cancelled jobs can be retried",
    )
    http.post(f"/v1/jobs/{slow}/cancel")

    stats = json.loads(omvee(kubeconfig, *api, "stats", "-o", "json").stdout)
    assert stats["total"] >= len(listed) + 1  # the slow job came after the listing
    assert stats["gpu"] is None and stats["pools"] is None
    assert "cluster mode only" in omvee(kubeconfig, *api, "stats").stdout

    unknown = str(uuid.uuid4())
    assert error_line(omvee(kubeconfig, *api, "jobs", "get", unknown, ok=False)) == (
        f"no job {unknown}"
    )
    assert error_line(omvee(kubeconfig, *api, "jobs", "get", "failing", ok=False)) == (
        "no job failing: the API knows jobs by their id (a UUID)"
    )
    bad_token = omvee(
        kubeconfig, "--api", api_server.url, "--token", "wrong", "jobs", "list", ok=False
    )
    assert error_line(bad_token).startswith("the API refused the token")
    down = omvee(kubeconfig, "--api", "http://127.0.0.1:9", "jobs", "list", ok=False)
    assert error_line(down).startswith("cannot reach the API (http://127.0.0.1:9/v1/jobs")


def test_logs_of_every_attempt_after_the_pods_are_gone(
    kubeconfig: Path, ojobs: OmveeJobs, batch: client.BatchV1Api, job_namespace: str
) -> None:
    body = manifest(
        "placeholder",
        retries=1,
        pod_annotations=factories.pod_annotations(exit_code=4, run_duration="1s"),
    )
    job_id = body["spec"]["jobId"]
    name = body["metadata"]["name"] = f"job-{job_id}"
    ojobs.create(body)
    assert ojobs.wait_final(name)["phase"] == "Failed"
    wait_for(lambda: len(ojobs.status(name).get("logs") or []) == 2, "both logs saved", 30)
    batch.delete_namespaced_job(
        ojobs.status(name)["jobName"], job_namespace, propagation_policy="Foreground"
    )
    wait_for(lambda: not ojobs.pods(name) and not ojobs.jobs(name), "the pods to be gone", 60)

    ns = ("-n", job_namespace)
    unconfigured = omvee(kubeconfig, *ns, "jobs", "logs", job_id, ok=False)
    assert "no log store is configured here" in error_line(unconfigured)
    for attempt in ("1", "2"):
        result = omvee(
            kubeconfig, *ns, "jobs", "logs", job_id, "--attempt", attempt, env=saved_logs_env()
        )
        header, *lines = result.stdout.splitlines()
        assert header.startswith(f"# omvee: run 0 attempt {attempt}, pod {name}-r0-")
        assert "exit code 4" in header
        assert lines == FAKE_LOG
