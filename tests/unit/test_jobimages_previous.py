"""A job takes input only from an earlier job of its own project: the runtime checks the
project before it reads anything, and answers another project's job like a missing one."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from jobimages.runtime import previous, results
from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.job import Job
from jobimages.runtime.results import LocalResults, results_dir_from_env
from jobimages.runtime.run import execute
from jobimages.scene_generation.__main__ import generate
from tests.recorder import recording_server
from tests.unit.test_jobimages_egress import Notes

MINE, THEIRS = str(uuid.uuid4()), str(uuid.uuid4())


class FakeOmveeJobs:
    """list_namespaced_custom_object over some OmveeJobs, with field selectors on spec.jobId."""

    def __init__(self, *items: dict[str, Any]) -> None:
        self.items = list(items)
        self.selectors: list[str] = []

    def list_namespaced_custom_object(self, *args: Any, field_selector: str) -> dict[str, Any]:
        self.selectors.append(field_selector)
        job_id = field_selector.removeprefix("spec.jobId=")
        return {"items": [i for i in self.items if i["spec"]["jobId"] == job_id]}


def transcription(project: str, job_id: str, transcript: Path) -> dict[str, Any]:
    return {
        "metadata": {"name": f"job-{job_id}", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"type": "transcription", "projectId": project, "jobId": job_id},
        "status": {"phase": "Succeeded", "result": {"files": {"json": transcript.as_uri()}}},
    }


@pytest.fixture
def transcript(tmp_path: Path) -> Path:
    path = tmp_path / "transcript.json"
    segments = [{"start": 0.0, "end": 2.0, "text": "One quick fox.", "words": []}]
    path.write_text(json.dumps({"segments": segments, "duration": 2.0, "language": "en"}))
    return path


def scenes_job(project: str, upstream: str) -> Job:
    return Job(
        "scene-generation",
        project,
        str(uuid.uuid4()),
        {"transcriptJobId": upstream},
        name="scenes",
        namespace="omvee",
    )


def run(
    job: Job, api: FakeOmveeJobs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, list[str]]:
    """The scene-generation entrypoint's exit code and what it said."""
    monkeypatch.setattr(previous, "_custom_objects", lambda: api)
    monkeypatch.setenv("OMVEE_RESULTS_DIR", str(tmp_path))  # where the fixtures' results lie
    notes = Notes()
    code = execute(generate, job, notes, LocalResults(tmp_path / "results"))
    return code, notes.notes


def test_another_projects_job_is_refused_without_reading_its_result(
    tmp_path: Path, transcript: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = str(uuid.uuid4())
    api = FakeOmveeJobs(transcription(THEIRS, theirs, transcript))
    read: list[str] = []
    monkeypatch.setattr(previous, "read_location", lambda location, **_: read.append(location))
    assert run(scenes_job(MINE, theirs), api, tmp_path, monkeypatch) == (
        65,
        [f"permanent failure: there is no job {theirs} in project {MINE} to take input from"],
    )
    assert read == []
    # exactly what a job id that exists nowhere gets
    missing = str(uuid.uuid4())
    assert run(scenes_job(MINE, missing), api, tmp_path, monkeypatch) == (
        65,
        [f"permanent failure: there is no job {missing} in project {MINE} to take input from"],
    )


def test_a_job_of_the_same_project_is_read(
    tmp_path: Path, transcript: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = str(uuid.uuid4())
    api = FakeOmveeJobs(
        transcription(THEIRS, upstream, tmp_path / "not-this-one.json"),  # a duplicate id
        transcription(MINE.upper(), upstream, transcript),  # ids compare case-blind
    )
    assert run(scenes_job(MINE, upstream.upper()), api, tmp_path, monkeypatch) == (0, [])
    assert api.selectors == [f"spec.jobId={upstream.upper()}", f"spec.jobId={upstream}"]


def test_a_result_file_is_read_only_from_the_result_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    (results / "p" / "j").mkdir(parents=True)
    (results / "p" / "j" / "transcript.json").write_text("{}")
    secret = tmp_path / "secret.txt"
    secret.write_text("token")
    monkeypatch.setenv("OMVEE_RESULTS_DIR", str(results))
    assert previous.read_location((results / "p/j/transcript.json").as_uri()) == b"{}"
    for outside in (secret.as_uri(), f"file://{results}/../secret.txt", "file:///etc/hostname"):
        with pytest.raises(PermanentError, match="outside the result directory"):
            previous.read_location(outside)


def test_scene_generation_reads_a_transcription_stored_on_the_shared_results_volume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both pods mount the store at one path ($OMVEE_RESULTS_DIR): the file:// location the
    transcription stored is valid in the scene-generation pod, whose own result lands beside
    it under <project>/<job>/run-<n>/."""
    volume = tmp_path / "var-lib-omvee-results"
    monkeypatch.setenv("OMVEE_RESULTS_DIR", str(volume))
    upstream = str(uuid.uuid4())
    segments = [{"start": 0.0, "end": 2.0, "text": "One quick fox.", "words": []}]
    location = LocalResults(results_dir_from_env()).put(
        f"{MINE}/{upstream}/run-0/transcript.json",
        json.dumps({"segments": segments, "duration": 2.0}).encode(),
        "application/json",
    )
    assert location == (volume / MINE / upstream / "run-0" / "transcript.json").as_uri()
    ojob = transcription(MINE, upstream, Path(unquote(urlsplit(location).path)))
    monkeypatch.setattr(previous, "_custom_objects", lambda: FakeOmveeJobs(ojob))
    job = scenes_job(MINE, upstream)
    reported = Notes()
    assert execute(generate, job, reported, LocalResults(results_dir_from_env())) == 0
    scenes = volume / MINE / job.job_id / "run-0" / "scenes.json"
    assert json.loads(scenes.read_text())["scenes"][0]["text"] == "One quick fox."
    assert not list(volume.rglob("*.partial"))  # written whole, then renamed


def test_a_supabase_result_is_read_from_the_own_bucket_with_the_service_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def answer(path: str, body: object) -> tuple[int, object]:
        return 200, {"segments": []}

    with recording_server(answer) as server:
        monkeypatch.setenv("OMVEE_RESULTS", "supabase")
        monkeypatch.setenv("SUPABASE_URL", server.url)
        monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", "service-key")
        monkeypatch.setenv("OMVEE_RESULTS_BUCKET", "job-results")
        key = f"{MINE}/{uuid.uuid4()}/run-0/transcript.json"
        own = f"{server.url}/storage/v1/object/job-results/{key}"
        assert json.loads(previous.read_location(own)) == {"segments": []}
        # another bucket of the same host: read, but without the key
        previous.read_location(f"{server.url}/storage/v1/object/public/other/{key}")
    own_request, _ = server.requests
    assert (own_request["method"], own_request["path"]) == (
        "GET",
        f"/storage/v1/object/job-results/{key}",
    )
    assert server.headers(0)["authorization"] == "Bearer service-key"
    assert server.headers(0)["apikey"] == "service-key"
    assert "authorization" not in server.headers(1) and "apikey" not in server.headers(1)


def test_the_service_key_goes_only_to_the_own_bucket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMVEE_RESULTS", "supabase")
    monkeypatch.setenv("SUPABASE_URL", "https://project.supabase.co")
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", "service-key")
    own = "https://project.supabase.co/storage/v1/object/job-results/p/j/run-0/a.json"
    assert results.supabase_results_auth(own)["apikey"] == "service-key"
    for elsewhere in (
        "https://project.supabase.co.evil.example/storage/v1/object/job-results/p/a.json",
        "https://project.supabase.co/storage/v1/object/job-results/../other/a.json",
        "https://project.supabase.co/storage/v1/object/other-bucket/p/a.json",
    ):
        assert results.supabase_results_auth(elsewhere) == {}
    monkeypatch.setenv("OMVEE_RESULTS", "")
    assert results.supabase_results_auth(own) == {}
