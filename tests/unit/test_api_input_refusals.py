"""What the API refuses at submission, field by field: URLs a pod must not be sent to fetch,
earlier jobs that are not the submitting project's (answered like unknown ids), and pod
annotation keys Kubernetes would refuse; and a URL whose name cannot be resolved just now,
which is a 503 to retry, not a refusal."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.rest.errors import NameResolutionUnavailable
from api.rest.main import create_app
from api.rest.schemas import JobCreate
from api.rest.settings import Settings
from api.rest.submit import input_problems
from api.urlpolicy import ResolutionUnavailable, UrlPolicy
from tests import fakedns
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
        # public DNS answers 127.0.0.1 (tests.fakedns says the same)
        ("http://localtest.me/a.mp3", "URL host localtest.me resolves to a non-public address"),
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


@contextmanager
def dns(answers: dict[str, Callable[[], list[str]]]) -> Iterator[None]:
    """getaddrinfo answers ``answers[host]()`` (addresses, or it raises), else as before."""
    before = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))
                for address in answers[host]()
            ]
        return before(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = before


def fails(code: int, text: str) -> Callable[[], list[str]]:
    def answer() -> list[str]:
        raise socket.gaierror(code, text)

    return answer


def test_an_internal_answer_is_refused_without_telling_the_address(http: TestClient) -> None:
    """Split-horizon DNS: a name answering a private address inside is refused, and the
    answer does not tell the address (callers must not map the internal DNS with it)."""
    with dns({"files.corp.example": lambda: ["93.184.215.14", "10.0.5.7"]}):
        response = http.post(
            f"/v1/projects/{uuid.uuid4()}/transcriptions",
            json={"audio_url": "https://files.corp.example/a.mp3"},
        )
    assert refusal(response) == (
        422,
        ["body", "audio_url"],
        "URL host files.corp.example resolves to a non-public address",
    )
    assert "10.0.5.7" not in response.text
    # an address the caller wrote itself is named, as are the rules it breaks
    response = http.post(
        f"/v1/projects/{uuid.uuid4()}/transcriptions",
        json={"audio_url": "http://[64:ff9b::a00:5]/a.mp3"},
    )
    assert refusal(response)[2] == "URL host 64:ff9b::a00:5 is a private address"


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (socket.EAI_AGAIN, "Temporary failure in name resolution"),
        (socket.EAI_FAIL, "Non-recoverable failure in name resolution"),
    ],
)
def test_a_temporary_dns_failure_is_a_503_that_creates_nothing(code: int, text: str) -> None:
    store = ProjectStore()
    body = {"audio_url": "https://media.example.com/a.mp3"}
    with api(store) as http:
        with dns({"media.example.com": fails(code, text)}):
            response = http.post(f"/v1/projects/{uuid.uuid4()}/transcriptions", json=body)
        assert response.status_code == 503, response.text
        assert response.json() == {
            "code": "name_resolution_unavailable",
            "message": "the host of input.audio_url, media.example.com, cannot be resolved "
            f"just now ({text}); nothing was created, try again later",
        }
        assert store.objects == {}
        # the same request, once the name resolves: accepted
        again = http.post(f"/v1/projects/{uuid.uuid4()}/transcriptions", json=body)
        assert again.status_code == 202, again.text


def test_a_name_that_does_not_exist_is_a_422_not_a_503(http: TestClient) -> None:
    with dns({"gone.example.net": fails(socket.EAI_NONAME, "Name or service not known")}):
        response = http.post(
            f"/v1/projects/{uuid.uuid4()}/transcriptions",
            json={"audio_url": "https://gone.example.net/a.mp3"},
        )
    assert refusal(response) == (
        422,
        ["body", "audio_url"],
        "URL host gone.example.net does not resolve",
    )


def test_a_request_refused_anyway_is_a_422_even_when_dns_fails(http: TestClient) -> None:
    """A 503 says "try again"; a request that can never succeed as it is gets its 422."""
    with dns({"media.example.com": fails(socket.EAI_AGAIN, "Temporary failure")}):
        response = http.post(
            f"/v1/projects/{uuid.uuid4()}/transcriptions",
            json={
                "audio_url": "https://media.example.com/a.mp3",
                "pod_annotations": {"example.org/not-allowed": "x"},
            },
        )
    assert refusal(response)[:2] == (422, ["body", "pod_annotations", "example.org/not-allowed"])


def transcription(url: str) -> JobCreate:
    return JobCreate.model_validate(
        {"type": "transcription", "project_id": str(uuid.uuid4()), "input": {"audio_url": url}}
    )


def test_each_kind_of_resolver_answer_at_submission() -> None:
    """With an injected resolver: addresses, none (no such name), or unavailable (a temporary
    failure, a timeout)."""
    policy, url = UrlPolicy(), "https://media.example.com/a.mp3"

    def unavailable(reason: str) -> Callable[[str], list[str]]:
        def resolver(host: str) -> list[str]:
            raise ResolutionUnavailable(host, reason)

        return resolver

    spec, problems = input_problems(
        transcription(url), policy=policy, resolver=lambda host: ["93.184.215.14"]
    )
    assert (spec["audioUrl"], problems) == (url, [])
    _, problems = input_problems(transcription(url), policy=policy, resolver=lambda host: [])
    assert [p["msg"] for p in problems] == ["URL host media.example.com does not resolve"]
    for reason in ("Temporary failure in name resolution", "no answer within 5 s"):
        with pytest.raises(NameResolutionUnavailable) as raised:
            input_problems(transcription(url), policy=policy, resolver=unavailable(reason))
        assert (raised.value.status, raised.value.code) == (503, "name_resolution_unavailable")
        assert raised.value.message == (
            "the host of input.audio_url, media.example.com, cannot be resolved just now "
            f"({reason}); nothing was created, try again later"
        )
    # another refusal of the same input wins over "try again"
    _, problems = input_problems(
        transcription("http://127.0.0.1/a.mp3"), policy=policy, resolver=unavailable("down")
    )
    assert [p["msg"] for p in problems] == ["URL host 127.0.0.1 is a loopback address"]


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
