"""An app shaped like OMVEE's backend (tests/apps/omvee_backend.py, run by uvicorn as its own
process) moved off BackgroundTasks with api.client's Rollout, against the local stack: the API
process, the operator on kwok mirroring into real PostgreSQL.

- cluster (OMVEE_ROLLOUT unset): the route answers 202 at once, an OmveeJob exists, and the
  app's `jobs` row ends succeeded through the operator's mirror;
- the app SIGKILLed right after answering, while the job's pod still runs: nothing is lost, the
  row still ends succeeded, one OmveeJob for that job id;
- local (OMVEE_ROLLOUT={"transcription": "local"}): the same route runs real faster-whisper on
  espeak-ng speech in a child process of the app, which writes the same row.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from kubernetes import client

from api.urlpolicy import ENV_ALLOWED_NETWORKS
from api.v1alpha1 import constants
from tests.api_process import SERVICE_TOKEN, ApiProcess
from tests.localcluster.layout import REPO_ROOT
from tests.localcluster.processes import log_tail
from tests.localcluster.stages import RUN_DURATION
from tests.media import SENTENCE, serve, speak, word_error_rate
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]
AUDIO = "https://media.example.com/projects/backend.mp3"
FINAL = ("succeeded", "failed", "cancelled")
UVICORN = (sys.executable, "-m", "uvicorn", "tests.apps.omvee_backend:app")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class BackendApp:
    """``python -m uvicorn tests.apps.omvee_backend:app`` on a free 127.0.0.1 port, with
    ``env`` over this process's environment (OMVEE_ROLLOUT never inherited), logging to
    ``log``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        inherited = {k: v for k, v in os.environ.items() if k != "OMVEE_ROLLOUT"}
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [*UVICORN, "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=REPO_ROOT,
                env={**inherited, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._healthy, "the backend app's /healthz", 60, self.alive)

    def alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError("the backend app exited:\n" + log_tail(self.log, 40))

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def transcribe(self, project_id: str, audio_url: str) -> tuple[httpx.Response, float]:
        """POST the route; the answer and the seconds it took."""
        started = time.monotonic()
        answer = httpx.post(
            f"{self.url}/projects/{project_id}/transcription",
            json={"audio_url": audio_url},
            timeout=30,
        )
        return answer, time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL, as when the app's machine dies: no shutdown of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], BackendApp]]:
    apps: list[BackendApp] = []

    def start(env: dict[str, str]) -> BackendApp:
        app = BackendApp(env, tmp_path / f"backend-{len(apps)}.log")
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.stop()


def cluster_env(api_server: ApiProcess, run_duration: str) -> dict[str, str]:
    """The app's environment for cluster mode: the API and its token; kwok's pod runs for
    ``run_duration`` (a Go duration)."""
    return {
        "OMVEE_API_URL": api_server.url,
        "OMVEE_API_TOKEN": SERVICE_TOKEN,
        "BACKEND_POD_ANNOTATIONS": f'{{"{RUN_DURATION}": "{run_duration}"}}',
    }


def row(dsn: str, job_id: str) -> dict[str, Any] | None:
    """The app's `jobs` row for ``job_id`` (status, type, project_id, result, k8s_name), or
    None."""
    with psycopg.connect(dsn) as connection:
        found = connection.execute(
            "select status, type, project_id::text, result, k8s_name from jobs where id = %s",
            [job_id],
        ).fetchone()
    if found is None:
        return None
    return dict(zip(("status", "type", "project_id", "result", "k8s_name"), found, strict=True))


def history(dsn: str, job_id: str) -> list[str]:
    """Every status the row has had, in order (the session database's jobs_history)."""
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "select status from jobs_history where id = %s order by at", [job_id]
        ).fetchall()
    return [status for (status,) in rows]


def final_row(
    dsn: str, job_id: str, timeout: float, alive: Callable[[], None] | None = None
) -> dict[str, Any]:
    """The row once its status is final (within ``timeout`` seconds)."""

    def check() -> dict[str, Any] | None:
        found = row(dsn, job_id)
        return found if found and found["status"] in FINAL else None

    found = wait_for(check, f"the jobs row of {job_id} to end", timeout, alive)
    assert found is not None
    return found


def omveejobs(k8s: client.ApiClient, job_id: str) -> list[dict[str, Any]]:
    """Every OmveeJob, in any namespace, whose spec.jobId is ``job_id``."""
    listed = client.CustomObjectsApi(k8s).list_cluster_custom_object(
        constants.GROUP, constants.VERSION, constants.PLURAL
    )
    return [item for item in listed["items"] if item["spec"].get("jobId") == job_id]


def test_cluster_mode_answers_at_once_and_the_row_ends_succeeded_through_the_mirror(
    api_server: ApiProcess,
    k8s: client.ApiClient,
    operator_mirror_dsn: str,
    start_app: Callable[[dict[str, str]], BackendApp],
) -> None:
    app = start_app(cluster_env(api_server, "3s"))
    project = str(uuid.uuid4())
    answer, seconds = app.transcribe(project, AUDIO)
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    assert answer.json() == {"job_id": job_id, "status": "queued"}
    # at once: the answer came back while the job had not run yet (its pod runs 3 s)
    before = row(operator_mirror_dsn, job_id)
    assert before is None or before["status"] not in FINAL, before
    assert seconds < 10, seconds

    (job,) = wait_for(lambda: omveejobs(k8s, job_id), "the OmveeJob", 30)
    assert (job["spec"]["type"], job["spec"]["projectId"]) == ("transcription", project)
    final = final_row(operator_mirror_dsn, job_id, 120)
    assert (final["status"], final["type"], final["project_id"]) == (
        "succeeded",
        "transcription",
        project,
    )
    assert history(operator_mirror_dsn, job_id)[-1] == "succeeded"


def test_killing_the_app_right_after_it_answers_loses_nothing_in_cluster_mode(
    api_server: ApiProcess,
    k8s: client.ApiClient,
    operator_mirror_dsn: str,
    start_app: Callable[[dict[str, str]], BackendApp],
) -> None:
    # kwok plays the pod for 8 s: the app is gone long before the job ends
    app = start_app(cluster_env(api_server, "8s"))
    project = str(uuid.uuid4())
    answer, _ = app.transcribe(project, AUDIO)
    assert answer.status_code == 202, answer.text
    app.kill()
    job_id = answer.json()["job_id"]
    mid_job = row(operator_mirror_dsn, job_id)
    assert mid_job is None or mid_job["status"] not in FINAL, mid_job  # killed mid-job

    final = final_row(operator_mirror_dsn, job_id, 120)
    assert (final["status"], final["project_id"]) == ("succeeded", project)
    (job,) = omveejobs(k8s, job_id)  # exactly one job for the app's id
    assert job["status"]["phase"] == "Succeeded"
    statuses = history(operator_mirror_dsn, job_id)
    assert statuses[-1] == "succeeded" and statuses.count("succeeded") == 1, statuses
    assert "running" in statuses, statuses  # it really ran after the app died


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of espeak-ng's reading of SENTENCE, served on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("speech")
    speak(SENTENCE, folder / "speech.wav")
    with serve(folder) as url:
        yield f"{url}/speech.wav"


@pytest.mark.media
def test_local_mode_runs_the_same_route_in_a_child_of_the_app_and_the_row_ends_the_same(
    operator_mirror_dsn: str,
    speech: str,
    start_app: Callable[[dict[str, str]], BackendApp],
    tmp_path: Path,
) -> None:
    results = tmp_path / "results"
    app = start_app(
        {
            # nothing listens there: a local run must not need the API
            "OMVEE_API_URL": f"http://127.0.0.1:{free_port()}",
            "OMVEE_API_TOKEN": "unused",
            "OMVEE_ROLLOUT": '{"transcription": "local"}',
            # what the child's job runtime reads from the app's environment
            "OMVEE_MIRROR_DSN": operator_mirror_dsn,
            "OMVEE_RESULTS_DIR": str(results),
            ENV_ALLOWED_NETWORKS: '["127.0.0.1/32"]',  # the speech is served on 127.0.0.1
            "OMVEE_WHISPER_DEVICE": "cpu",
        }
    )
    project = str(uuid.uuid4())
    answer, seconds = app.transcribe(project, speech)
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    before = row(operator_mirror_dsn, job_id)
    assert before is None or before["status"] not in FINAL, before  # answered before the work
    assert seconds < 10, seconds

    final = final_row(operator_mirror_dsn, job_id, 300, app.alive)
    assert (final["status"], final["type"], final["project_id"]) == (
        "succeeded",
        "transcription",
        project,
    ), log_tail(app.log, 40)
    result = final["result"]
    assert word_error_rate(SENTENCE, result["preview"]) <= 0.3, result
    assert result["language"] == "en" and result["words"] >= 12, result
    transcript = Path(urlsplit(result["files"]["json"]).path)
    assert transcript.is_relative_to(results.resolve()) and transcript.is_file()
    assert history(operator_mirror_dsn, job_id)[-1] == "succeeded"
    assert final["k8s_name"] is None  # no OmveeJob: the app's own child did the work
    # the app's process started the child and reaped it (api.client.rollout's log line)
    exited = re.compile(rf"Local job {job_id} \(process \d+\) exited with code 0")
    wait_for(lambda: exited.search(app.log.read_text()), "the app to log the child's exit", 30)
