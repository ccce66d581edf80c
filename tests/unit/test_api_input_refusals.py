"""What the API refuses at submission, field by field: URLs a pod must not be sent to fetch,
earlier jobs that are not the submitting project's (answered like unknown ids), and pod
annotation keys Kubernetes would refuse. The API resolves no name: a host name is accepted
whatever it resolves to, and the job pod checks its addresses when it fetches."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.rest.main import create_app
from api.rest.schemas import JobCreate
from api.rest.settings import Settings
from api.rest.submit import input_problems
from api.urlpolicy import UrlPolicy
from tests.unit.test_metrics_api import TOKEN, MemoryStore

ANNOTATION_PREFIX = "cluster-autoscaler.kubernetes.io/"


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
    with api(ProjectStore()) as test:
        yield test


@contextmanager
def api(store: ProjectStore) -> Iterator[TestClient]:
    settings = Settings(service_tokens=[TOKEN], pod_annotation_prefixes=[ANNOTATION_PREFIX])
    app = create_app(settings, store)
    with TestClient(app, raise_server_exceptions=False) as test:
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
        ("http://127.0.0.1/a.mp3", "URL host 127.0.0.1 is a loopback address"),
    ],
)
def test_malformed_urls_and_refused_addresses_are_a_field_level_422(
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
    assert msg == message


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
            ["body", "transcript_job_id"],
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
            ["body", field],
            f"no job {theirs} in this project",
        )


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """socket.getaddrinfo raises, as a resolver that is down would: the hosts it was asked."""
    asked: list[Any] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize(
    "host",
    [
        "media.example.com",
        "nothing.invalid",  # does not exist (RFC 6761)
        "localtest.me",  # public DNS answers 127.0.0.1
        "files.corp.example",  # split horizon: a private address inside
    ],
)
def test_a_submission_resolves_no_name(http: TestClient, no_dns: list[Any], host: str) -> None:
    """A host name is accepted whatever it resolves to, and whether it resolves at all: the
    request makes no DNS call (a slow name server cannot hold it). The job pod resolves the
    name when it fetches and refuses a non-public address (exit 65)."""
    project = str(uuid.uuid4())
    url = f"https://{host}/a.mp3"
    typed = http.post(f"/v1/projects/{project}/transcriptions", json={"audio_url": url})
    assert typed.status_code == 202, typed.text
    generic = http.post(
        "/v1/jobs",
        json={"type": "transcription", "project_id": project, "input": {"audio_url": url}},
    )
    assert generic.status_code == 202, generic.text
    later = http.post(
        f"/v1/projects/{project}/scenes", json={"transcript_job_id": typed.json()["id"]}
    )
    assert later.status_code == 202, later.text
    assert no_dns == []


def test_an_address_the_caller_wrote_is_checked_and_named(
    http: TestClient, no_dns: list[Any]
) -> None:
    """An IP-literal host needs no DNS: its address rules apply at submission, IPv4 inside
    IPv6 included, and the answer names the rule it breaks."""
    response = http.post(
        f"/v1/projects/{uuid.uuid4()}/transcriptions",
        json={"audio_url": "http://[64:ff9b::a00:5]/a.mp3"},
    )
    assert refusal(response) == (
        422,
        ["body", "audio_url"],
        "URL host 64:ff9b::a00:5 is a private address",
    )
    assert no_dns == []


def transcription(url: str) -> JobCreate:
    return JobCreate.model_validate(
        {"type": "transcription", "project_id": str(uuid.uuid4()), "input": {"audio_url": url}}
    )


@pytest.mark.parametrize(
    ("url", "messages"),
    [
        ("https://media.example.com/a.mp3", []),
        ("https://nothing.invalid/a.mp3", []),
        ("http://127.0.0.1/a.mp3", ["URL host 127.0.0.1 is a loopback address"]),
        ("http://[::ffff:10.0.5.7]/a.mp3", ["URL host ::ffff:10.0.5.7 is a private address"]),
        ("http://minio.storage.svc/a.mp3", ["URL host minio.storage.svc is internal"]),
        ("https://media.example.com:8443/a.mp3", ["URL must use port 80 or 443"]),
    ],
)
def test_input_problems_is_pure(no_dns: list[Any], url: str, messages: list[str]) -> None:
    spec, problems = input_problems(transcription(url), policy=UrlPolicy())
    assert spec["audioUrl"] == url
    assert [p["msg"] for p in problems] == messages
    assert {tuple(p["loc"]) for p in problems} <= {("body", "input", "audio_url")}
    assert no_dns == []


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (f"{ANNOTATION_PREFIX}a\tb", "control characters or unpaired surrogates (found U+0009)"),
        (f"{ANNOTATION_PREFIX}a\rb", "control characters or unpaired surrogates (found U+000D)"),
        (f"{ANNOTATION_PREFIX}a\nb", "control characters or unpaired surrogates (found U+000A)"),
        (f"{ANNOTATION_PREFIX}a\x00", "control characters or unpaired surrogates (found U+0000)"),
        (f"{ANNOTATION_PREFIX}a b", "the key must have a name of at most 63 characters"),
        (f"{ANNOTATION_PREFIX}-a", "the key must have a name of at most 63 characters"),
        (f"{ANNOTATION_PREFIX}a.", "the key must have a name of at most 63 characters"),
        (f"{ANNOTATION_PREFIX}{'a' * 64}", "the key must have a name of at most 63 characters"),
        (f"{ANNOTATION_PREFIX}", "the key must have a name"),
        (f"{ANNOTATION_PREFIX}a/b", "the key must hold at most one '/'"),
        ("/a", "the key must not have an empty prefix before '/'"),
        (
            "Cluster-Autoscaler.kubernetes.io/a",
            "the key must have a prefix that is a DNS subdomain",
        ),
        (f"{'a' * 251}.io/a", "the key must have a prefix that is a DNS subdomain"),
        ("a_b.io/a", "the key must have a prefix that is a DNS subdomain"),
    ],
)
def test_pod_annotation_keys_must_be_kubernetes_qualified_names(
    http: TestClient, key: str, message: str
) -> None:
    response = http.post(
        f"/v1/projects/{uuid.uuid4()}/transcriptions",
        json={"audio_url": "https://media.example.com/a.mp3", "pod_annotations": {key: "x"}},
    )
    status, loc, msg = refusal(response)
    assert (status, loc) == (422, ["body", "pod_annotations", key, "[key]"])
    assert message in msg
    generic = http.post(
        "/v1/jobs",
        json={
            "type": "transcription",
            "project_id": str(uuid.uuid4()),
            "input": {"audio_url": "https://media.example.com/a.mp3"},
            "pod_annotations": {key: "x"},
        },
    )
    assert refusal(generic) == (status, loc, msg)


@pytest.mark.parametrize(
    "key",
    [
        f"{ANNOTATION_PREFIX}safe-to-evict",
        f"{ANNOTATION_PREFIX}A.b_c-9",
        f"{ANNOTATION_PREFIX}{'a' * 63}",
        f"{ANNOTATION_PREFIX}x",
    ],
)
def test_qualified_annotation_keys_are_accepted(http: TestClient, key: str) -> None:
    response = http.post(
        f"/v1/projects/{uuid.uuid4()}/transcriptions",
        json={
            "audio_url": "https://media.example.com/a.mp3",
            "pod_annotations": {key: "line\nbreak\tand tab"},
        },
    )
    assert response.status_code == 202, response.text
