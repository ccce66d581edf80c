"""What the API refuses at submission, field by field: URLs a pod must not be sent to fetch,
and earlier jobs that are not the submitting project's (answered like unknown ids)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.rest.main import create_app
from api.rest.settings import Settings
from tests import fakedns
from tests.unit.test_metrics_api import TOKEN, MemoryStore


class ProjectStore(MemoryStore):
    """MemoryStore with the lookup of a job id in a project."""

    def find_in_project(self, job_id: str, project_id: str) -> dict[str, Any] | None:
        for body in self.objects.values():
            spec = body["spec"]
            if spec["jobId"] == job_id.lower() and spec["projectId"] == project_id.lower():
                return body
        return None


@pytest.fixture
def http() -> Iterator[TestClient]:
    app = create_app(Settings(service_tokens=[TOKEN]), ProjectStore())
    with fakedns.installed(), TestClient(app, raise_server_exceptions=False) as test:
        test.headers["Authorization"] = f"Bearer {TOKEN}"
        yield test


def refusal(response: Any) -> tuple[int, list[str], str]:
    [error] = response.json()["detail"]
    return response.status_code, error["loc"], error["msg"]


@pytest.mark.parametrize(
    ("audio_url", "message"),
    [
        ("https://exa mple.org/a.mp3", "URL host 'exa mple.org' must not contain spaces"),
        ("https://exa%20mple.org/a.mp3", "URL host exa%20mple.org is not a valid host name"),
        ("https:///a.mp3", "URL has no host"),
        ("http://nothing.invalid/a.mp3", "URL host nothing.invalid does not resolve"),
        ("http://localtest.me/a.mp3", "URL host localtest.me"),  # no DNS, or 127.0.0.1
    ],
)
def test_malformed_or_unresolvable_urls_are_a_field_level_422(
    http: TestClient, audio_url: str, message: str
) -> None:
    response = http.post(
        "/v1/jobs",
        json={
            "type": "transcription",
            "project_id": str(uuid.uuid4()),
            "input": {"audio_url": audio_url},
        },
    )
    status, loc, msg = refusal(response)
    assert (status, loc) == (422, ["body", "input", "audio_url"])
    assert msg.startswith(message)


@pytest.mark.parametrize("host", ["exa\tmple.org", "exa\nmple.org", "exa\x01mple.org"])
def test_control_characters_in_the_host_are_a_field_level_422(http: TestClient, host: str) -> None:
    response = http.post(
        f"/v1/projects/{uuid.uuid4()}/transcriptions", json={"audio_url": f"https://{host}/a.mp3"}
    )
    status, loc, msg = refusal(response)
    assert (status, loc[-1]) == (422, "audio_url")
    assert "control character" in msg


def test_a_job_of_another_project_is_answered_like_an_unknown_id(http: TestClient) -> None:
    project_a, project_b = str(uuid.uuid4()), str(uuid.uuid4())
    audio = {"audio_url": "https://media.example.com/a.mp3"}
    theirs = http.post(f"/v1/projects/{project_a}/transcriptions", json=audio).json()["id"]
    unknown = str(uuid.uuid4())
    answers = {
        job_id: http.post(f"/v1/projects/{project_b}/scenes", json={"transcript_job_id": job_id})
        for job_id in (theirs, unknown)
    }
    for job_id, response in answers.items():
        assert refusal(response) == (
            422,
            ["body", "input", "transcript_job_id"],
            f"no job {job_id} in this project",
        )
    mine = http.post(f"/v1/projects/{project_a}/scenes", json={"transcript_job_id": theirs})
    assert mine.status_code == 202, mine.text
    # every field naming another job, on every route
    for path, field in (
        ("visual-prompts", "scenes_job_id"),
        ("images", "prompts_job_id"),
        ("videos", "images_job_id"),
    ):
        response = http.post(f"/v1/projects/{project_b}/{path}", json={field: theirs})
        assert refusal(response) == (
            422,
            ["body", "input", field],
            f"no job {theirs} in this project",
        )
