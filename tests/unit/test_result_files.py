"""Result files: the links a job's view carries, and GET /v1/jobs/{id}/results/{file}, which
serves only files of the job's own folder, whatever its status names or the store holds."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from api.rest.errors import NotFound
from api.rest.main import create_app
from api.rest.results import SupabaseResultReader, VolumeResults, results_reader
from api.rest.settings import Settings
from api.rest.store import JobStore
from api.v1alpha1.public import to_public
from api.v1alpha1.resultfiles import result_files, result_links
from controller.cli import commands, tables
from controller.cli.backend import CliError
from controller.cli.remote import ApiBackend
from tests.api_process import JWT_SECRET, user_token
from tests.recorder import recording_server

TOKEN = "service-token-for-unit-tests-0123456789"
PROJECT, JOB, OTHER_JOB = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
ROOT = "/var/lib/omvee/results"  # where the pods saw the store


def location(name: str, job: str = JOB, run: int = 0, root: str = ROOT) -> str:
    return f"file://{root}/{PROJECT}/{job}/run-{run}/{name}"


RESULT = {
    "preview": "hello",
    "files": {
        "json": location("transcript.json"),
        "srt": location("transcript.srt"),
        "elsewhere": "file:///etc/passwd",
        "other_job": location("secret.json", job=OTHER_JOB),
        "dots": location("..", run=0),
    },
}


def ojob(result: dict[str, Any] | None = RESULT, project: str = PROJECT) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"job-{JOB}",
            "namespace": "omvee",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"type": "transcription", "projectId": project, "jobId": JOB},
        "status": {"phase": "Succeeded", "result": result},
    }


class OneJob:
    """The job store (the Kubernetes API) holding one OmveeJob."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item

    def get(self, job_id: str) -> dict[str, Any]:
        if job_id != self.item["spec"]["jobId"]:
            raise NotFound(f"no job {job_id}")
        return self.item


def test_links_name_only_files_of_the_jobs_own_folder() -> None:
    assert result_files(PROJECT, JOB, RESULT) == {
        "transcript.json": f"{PROJECT}/{JOB}/run-0/transcript.json",
        "transcript.srt": f"{PROJECT}/{JOB}/run-0/transcript.srt",
    }
    assert to_public(ojob()).result_links == {
        "transcript.json": f"/v1/jobs/{JOB}/results/transcript.json",
        "transcript.srt": f"/v1/jobs/{JOB}/results/transcript.srt",
    }
    supabase = {
        "files": {"json": f"https://x.supabase.co/storage/v1/object/b/{PROJECT}/{JOB}/run-2/s.json"}
    }
    assert result_links(PROJECT, JOB, supabase) == {"s.json": f"/v1/jobs/{JOB}/results/s.json"}
    assert result_links(PROJECT, JOB, None) == {} == result_links(PROJECT, JOB, {"files": "x"})


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    run = tmp_path / "results" / PROJECT / JOB / "run-0"
    run.mkdir(parents=True)
    (run / "transcript.json").write_text('{"segments": []}')
    (run / "scene-001.png").write_bytes(b"\x89PNG")
    other = tmp_path / "results" / PROJECT / OTHER_JOB / "run-0"
    other.mkdir(parents=True)
    (other / "secret.json").write_text("other job")
    (tmp_path / "outside.txt").write_text("outside")
    (run / "link.json").symlink_to(tmp_path / "outside.txt")
    return tmp_path / "results"


def client_for(item: dict[str, Any], results: Any, **settings: Any) -> TestClient:
    app = create_app(
        Settings(service_tokens=[TOKEN], jwt_secret=JWT_SECRET, **settings),
        cast(JobStore, OneJob(item)),
        results=results,
    )
    test = TestClient(app)
    test.headers["Authorization"] = f"Bearer {TOKEN}"
    return test


@pytest.fixture
def api(store_dir: Path) -> Iterator[TestClient]:
    with client_for(ojob(), VolumeResults(store_dir)) as test:
        yield test


def test_a_result_file_is_streamed_from_the_volume(api: TestClient) -> None:
    response = api.get(f"/v1/jobs/{JOB}/results/transcript.json")
    assert response.status_code == 200, response.text
    assert response.content == b'{"segments": []}'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == "16"
    # a file stored beside the named ones in the same run (an image images.json lists)
    image = api.get(f"/v1/jobs/{JOB}/results/scene-001.png")
    assert (image.status_code, image.headers["content-type"]) == (200, "image/png")


@pytest.mark.parametrize(
    "path",
    [
        "transcript.srt",  # named but not in the store
        "secret.json",  # another job's file
        "link.json",  # a symbolic link planted in the folder
        # ".." itself: the test client drops it; tests/integration/test_api.py sends it raw
        "%2E%2E",
        ".hidden",
        "..%2F..%2Foutside.txt",
        "%2Fetc%2Fpasswd",
        "run-0%2Ftranscript.json",
        "%2e%2e%2f" + OTHER_JOB + "%2frun-0%2fsecret.json",
        "transcript.json%00",
    ],
)
def test_nothing_outside_the_jobs_own_files_is_served(api: TestClient, path: str) -> None:
    response = api.get(f"/v1/jobs/{JOB}/results/{path}")
    assert response.status_code == 404, (path, response.text)


def test_a_symlinked_folder_is_not_followed(store_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "transcript.json").write_text("planted")
    (store_dir / PROJECT / JOB / "run-1").symlink_to(elsewhere)
    result = {"files": {"json": location("transcript.json", run=1)}}
    with client_for(ojob(result), VolumeResults(store_dir)) as test:
        assert test.get(f"/v1/jobs/{JOB}/results/transcript.json").status_code == 404


def test_results_are_scoped_to_the_callers_projects(store_dir: Path) -> None:
    with client_for(ojob(), VolumeResults(store_dir)) as test:
        path = f"/v1/jobs/{JOB}/results/transcript.json"
        other = {"Authorization": f"Bearer {user_token([str(uuid.uuid4())])}"}
        assert test.get(path, headers=other).status_code == 404
        mine = {"Authorization": f"Bearer {user_token([PROJECT])}"}
        assert test.get(path, headers=mine).status_code == 200
        assert test.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_without_a_store_result_files_are_404_with_the_setting_to_set() -> None:
    with client_for(ojob(), None) as test:
        response = test.get(f"/v1/jobs/{JOB}/results/transcript.json")
    assert response.status_code == 404
    assert "OMVEE_RESULTS_STORE" in response.json()["message"]


def test_supabase_results_are_streamed_with_the_service_key() -> None:
    key = f"{PROJECT}/{JOB}/run-0"

    def answer(path: str, body: object) -> tuple[int, object]:
        if path.endswith("transcript.json"):
            return 200, {"segments": []}
        if path.endswith("broken.json"):
            return 500, {"error": "internal"}
        return 400, {"statusCode": "404", "error": "not_found", "message": "Object not found"}

    with recording_server(answer) as server:
        settings = Settings(
            environment="development",
            results_store="supabase",
            supabase_url=server.url,
            supabase_service_role_key="service-key",
            results_bucket="job-results",
        )
        reader = results_reader(settings)
        assert isinstance(reader, SupabaseResultReader)
        base = f"https://project.supabase.co/storage/v1/object/job-results/{key}"
        result = {"files": {"json": f"{base}/transcript.json", "x": f"{base}/missing.json"}}
        result["files"]["y"] = f"{base}/broken.json"
        with client_for(ojob(result), reader) as test:
            found = test.get(f"/v1/jobs/{JOB}/results/transcript.json")
            missing = test.get(f"/v1/jobs/{JOB}/results/missing.json")
            broken = test.get(f"/v1/jobs/{JOB}/results/broken.json")
    assert (found.status_code, found.json()) == (200, {"segments": []})
    assert (missing.status_code, broken.status_code) == (404, 503)
    first = server.requests[0]
    assert (first["method"], first["path"]) == (
        "GET",
        f"/storage/v1/object/job-results/{key}/transcript.json",
    )
    assert server.headers(0)["authorization"] == "Bearer service-key"
    assert server.headers(0)["apikey"] == "service-key"


def test_api_results_settings() -> None:
    assert results_reader(Settings(environment="development")) is None
    off = Settings(environment="development", results_store="off", results_dir="/srv/results")
    assert results_reader(off) is None  # the operator's spelling of "none" is accepted too
    volume = Settings(environment="development", results_dir="/srv/results")
    assert volume.results_store == "volume"
    with pytest.raises(ValueError, match="supabase needs SUPABASE_URL"):
        Settings(environment="development", results_store="supabase")
    with pytest.raises(ValueError, match="volume needs OMVEE_RESULTS_DIR"):
        Settings(environment="development", results_store="volume")


def test_an_unreachable_supabase_is_503() -> None:
    reader = SupabaseResultReader("http://127.0.0.1:9", "k", "b", timeout=2)
    with pytest.raises(Exception) as raised:
        reader.open("p/j/run-0/a.json")
    assert "cannot be read" in str(raised.value)
    assert not isinstance(raised.value, httpx.HTTPError)


def cli_args(job: str, file: str | None = None, output: str = "table") -> argparse.Namespace:
    return argparse.Namespace(job=job, file=file, output=output)


def test_the_cli_prints_a_transcript_and_result_files_through_the_api(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = store_dir / PROJECT / JOB / "run-0"
    segments = [{"text": " Hello there. "}, {"text": "General Kenobi."}]
    (run / "transcript.json").write_text(json.dumps({"segments": segments}))
    (run / "transcript.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHello there.\n")
    with client_for(ojob(), VolumeResults(store_dir)) as test:
        backend = ApiBackend("http://testserver", None, http=test)
        assert commands.jobs_result(cli_args(JOB), backend) == 0
        assert capsys.readouterr().out == "Hello there.\nGeneral Kenobi.\n"
        assert commands.jobs_result(cli_args(JOB, "transcript.srt"), backend) == 0
        assert capsys.readouterr().out.endswith("Hello there.\n")
        with pytest.raises(CliError, match=r"has no result file .nothing\.txt."):
            commands.jobs_result(cli_args(JOB, "nothing.txt"), backend)
        detail = tables.job_detail(backend.get_job(JOB), datetime.now(UTC))
    assert f"  transcript.srt: /v1/jobs/{JOB}/results/transcript.srt" in detail
    assert "Result files (omvee jobs result <job> <file> prints one):" in detail


def test_the_cli_lists_the_files_of_a_job_that_is_no_transcription(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = {"files": {"json": location("scene-001.png")}}
    with client_for(ojob(result), VolumeResults(store_dir)) as test:
        backend = ApiBackend("http://testserver", None, http=test)
        assert commands.jobs_result(cli_args(JOB), backend) == 0
    assert capsys.readouterr().out == (
        f"scene-001.png  /v1/jobs/{JOB}/results/scene-001.png\n"
        f"(omvee jobs result {JOB} <file> prints one)\n"
    )
