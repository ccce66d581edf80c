"""The pipeline routes on an in-memory store: the step OmveeJobs a submission creates, 422s,
replays and conflicts, a step that cannot be created (and the same submission completing it),
cancel and retry over every step, and who may see a pipeline."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.catalog.pipelines import PIPELINE_ORDER, step_job_id
from api.rest.errors import Conflict, Unavailable
from api.rest.main import create_app
from api.rest.settings import Settings
from tests.api_process import user_token
from tests.unit.test_api_unavailable import dead_cluster_app as dead_cluster_app
from tests.unit.test_metrics_api import TOKEN, MemoryStore

AUDIO = "https://media.example.com/episode-1.mp3"
JWT_SECRET = "test-jwt-secret-that-is-long-enough-0123456789"


class PipelineStore(MemoryStore):
    """MemoryStore that lists by field selector, reads by name and patches specs (with the
    resourceVersion check); ``fail_on`` makes the create of that job type fail once."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_on: str | None = None
        self.version = 0

    def create(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        if body["spec"]["type"] == self.fail_on:
            self.fail_on = None
            raise Unavailable("the Kubernetes API is unreachable, could not create the job")
        body = copy.deepcopy(body)
        self.version += 1
        body["metadata"] |= {
            "resourceVersion": str(self.version),
            "creationTimestamp": f"2026-01-01T00:00:{self.version:02d}Z",
        }
        return super().create(body)

    def select(self, field_selector: str) -> list[dict[str, Any]]:
        def matches(ojob: dict[str, Any], term: str) -> bool:
            path, _, value = term.partition("=")
            negated = path.endswith("!")
            found = ojob["spec"].get(path.removesuffix("!").removeprefix("spec."))
            return (found or "") != value if negated else (found or "") == value

        return [
            copy.deepcopy(o)
            for o in self.objects.values()
            if all(matches(o, term) for term in field_selector.split(","))
        ]

    def get_by_name(self, name: str) -> dict[str, Any] | None:
        found = self.objects.get(name)
        return copy.deepcopy(found) if found else None

    def patch_spec(self, ojob: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        stored = self.objects[ojob["metadata"]["name"]]
        if stored["metadata"]["resourceVersion"] != ojob["metadata"]["resourceVersion"]:
            raise Conflict("the job changed meanwhile; read it and try again")
        self.version += 1
        stored["spec"] |= spec
        stored["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(stored)

    def set_phase(self, job_id: str, phase: str) -> None:
        for ojob in self.objects.values():
            if ojob["spec"]["jobId"] == job_id:
                run = int(ojob["spec"].get("rerun") or 0)
                ojob["status"] = {"phase": phase, "run": run}
                self.version += 1
                ojob["metadata"]["resourceVersion"] = str(self.version)


@pytest.fixture
def store() -> PipelineStore:
    return PipelineStore()


@pytest.fixture
def http(store: PipelineStore) -> Iterator[TestClient]:
    settings = Settings(
        service_tokens=[TOKEN], jwt_secret=JWT_SECRET, pod_annotation_prefixes=["kwok.omvee.io/"]
    )
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as test:
        test.headers["Authorization"] = f"Bearer {TOKEN}"
        yield test


def project() -> str:
    return str(uuid.uuid4())


def test_a_pipeline_creates_every_step_linked_labelled_and_answers_their_ids(
    http: TestClient, store: PipelineStore
) -> None:
    pid = project()
    response = http.post(
        f"/v1/projects/{pid}/pipelines",
        json={"audio_url": AUDIO, "language": "en", "retries": 1},
        headers={"Idempotency-Key": "episode-1"},
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    pipeline = accepted["id"]
    assert response.headers["location"] == accepted["status_url"]
    assert accepted["status_url"].endswith(f"/v1/pipelines/{pipeline}")
    assert accepted["replayed"] is False
    assert [s["type"] for s in accepted["steps"]] == list(PIPELINE_ORDER)
    for step in accepted["steps"]:
        assert step["job_id"] == step_job_id(pipeline, step["type"])
        assert step["status_url"].endswith(f"/v1/jobs/{step['job_id']}")
    ojobs = {o["spec"]["type"]: o for o in store.objects.values()}
    assert len(ojobs) == 5
    ids = {t: step_job_id(pipeline, t) for t in PIPELINE_ORDER}
    for job_type, ojob in ojobs.items():
        assert ojob["spec"]["pipelineId"] == pipeline
        assert ojob["spec"]["retries"] == 1
        assert ojob["metadata"]["labels"]["omvee.io/pipeline-id"] == pipeline
        assert ojob["metadata"]["name"] == f"job-{ids[job_type]}"
    assert ojobs["transcription"]["spec"]["input"]["audioUrl"] == AUDIO
    assert ojobs["transcription"]["spec"]["input"]["language"] == "en"
    assert ojobs["scene-generation"]["spec"]["input"]["transcriptJobId"] == ids["transcription"]
    assert ojobs["video-generation"]["spec"]["input"] | {"fps": None} == {
        "imagesJobId": ids["image-generation"],
        "audioUrl": AUDIO,
        "fps": None,
    }
    view = http.get(f"/v1/pipelines/{pipeline}").json()
    assert (view["id"], view["project_id"], view["phase"]) == (pipeline, pid, "Pending")
    assert [s["id"] for s in view["steps"]] == list(ids.values())
    assert view["created_at"] == "2026-01-01T00:00:01Z"


def test_the_same_key_replays_and_a_different_request_under_it_is_a_conflict(
    http: TestClient, store: PipelineStore
) -> None:
    pid, key = project(), {"Idempotency-Key": "same"}
    body = {"audio_url": AUDIO, "steps": ["transcription", "scene-generation"]}
    first = http.post(f"/v1/projects/{pid}/pipelines", json=body, headers=key).json()
    again = http.post(f"/v1/projects/{pid}/pipelines", json=body, headers=key).json()
    assert again == first | {"replayed": True}
    assert len(store.objects) == 2
    for different in (
        body | {"steps": [*body["steps"], "visual-prompts"]},
        body | {"audio_url": AUDIO + "?v=2"},
        body | {"retries": 2},
    ):
        refused = http.post(f"/v1/projects/{pid}/pipelines", json=different, headers=key)
        assert refused.status_code == 409, refused.text
        assert "different request" in refused.json()["message"]
    assert len(store.objects) == 2
    other_key = http.post(f"/v1/projects/{pid}/pipelines", json=body).json()
    assert other_key["id"] != first["id"] and len(store.objects) == 4


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        ({"audio_url": AUDIO, "steps": ["scene-generation"]}, ["body", "steps"], "prefix"),
        ({"audio_url": AUDIO, "steps": []}, ["body", "steps"], "at least 1 item"),
        ({"audio_url": AUDIO, "steps": ["karaoke"]}, ["body", "steps", 0], "Input should be"),
        (
            {"audio_url": AUDIO, "steps": ["transcription", "visual-prompts"]},
            ["body", "steps"],
            "prefix of transcription, scene-generation",
        ),
        ({"audio_url": "ftp://x/a.mp3"}, ["body", "audio_url"], "String should match"),
        ({"audio_url": "http://10.96.0.1/a.mp3"}, ["body", "audio_url"], "blocked network"),
        ({"audio_url": AUDIO, "language": "English"}, ["body", "language"], "String should"),
        ({}, ["body", "audio_url"], "Field required"),
        ({"audio_url": AUDIO, "fps": 3}, ["body", "fps"], "Extra inputs"),
        (
            {"audio_url": AUDIO, "pod_annotations": {"sidecar.istio.io/inject": "false"}},
            ["body", "pod_annotations", "sidecar.istio.io/inject"],
            "not allowed",
        ),
    ],
)
def test_a_bad_body_is_one_field_level_422_and_creates_nothing(
    http: TestClient, store: PipelineStore, body: dict[str, Any], loc: list[Any], message: str
) -> None:
    response = http.post(f"/v1/projects/{project()}/pipelines", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc
    assert message in error["msg"]
    assert store.objects == {}


def test_a_step_not_created_is_named_and_the_same_submission_completes_the_pipeline(
    http: TestClient, store: PipelineStore
) -> None:
    pid, key = project(), {"Idempotency-Key": "flaky-cluster"}
    store.fail_on = "visual-prompts"
    failed = http.post(f"/v1/projects/{pid}/pipelines", json={"audio_url": AUDIO}, headers=key)
    assert failed.status_code == 503, failed.text
    answer = failed.json()
    assert answer["code"] == "pipeline_incomplete"
    assert "its visual-prompts step (job " in answer["message"]
    assert "steps created: transcription, scene-generation" in answer["message"]
    assert "with the same Idempotency-Key again" in answer["message"]
    assert len(store.objects) == 2
    done = http.post(f"/v1/projects/{pid}/pipelines", json={"audio_url": AUDIO}, headers=key)
    assert done.status_code == 202, done.text
    assert done.json()["replayed"] is True
    assert sorted(o["spec"]["type"] for o in store.objects.values()) == sorted(PIPELINE_ORDER)


def test_without_a_key_an_incomplete_pipeline_says_to_cancel_it(
    http: TestClient, store: PipelineStore
) -> None:
    store.fail_on = "scene-generation"
    failed = http.post(f"/v1/projects/{project()}/pipelines", json={"audio_url": AUDIO})
    assert failed.status_code == 503
    message = failed.json()["message"]
    assert "steps created: transcription; it had no Idempotency-Key, so cancel it" in message


def test_when_the_first_step_cannot_be_created_nothing_is_and_it_says_so(
    http: TestClient, store: PipelineStore
) -> None:
    store.fail_on = "transcription"
    failed = http.post(f"/v1/projects/{project()}/pipelines", json={"audio_url": AUDIO})
    assert failed.status_code == 503
    assert failed.json()["code"] == "kubernetes_unavailable"
    assert store.objects == {}


def test_cancel_every_unfinished_step_then_409(http: TestClient, store: PipelineStore) -> None:
    accepted = http.post(f"/v1/projects/{project()}/pipelines", json={"audio_url": AUDIO}).json()
    pipeline, steps = accepted["id"], [s["job_id"] for s in accepted["steps"]]
    store.set_phase(steps[0], "Succeeded")
    store.set_phase(steps[1], "Running")
    response = http.post(f"/v1/pipelines/{pipeline}/cancel")
    assert response.status_code == 202, response.text
    cancelled = {o["spec"]["jobId"]: o["spec"].get("cancel") for o in store.objects.values()}
    assert cancelled == {steps[0]: None} | {s: True for s in steps[1:]}
    for job_id in steps[1:]:
        store.set_phase(job_id, "Cancelled")
    assert http.get(f"/v1/pipelines/{pipeline}").json()["phase"] == "Cancelled"
    again = http.post(f"/v1/pipelines/{pipeline}/cancel")
    assert again.status_code == 409
    assert again.json()["message"].endswith("nothing to cancel")


def test_retry_every_failed_or_cancelled_step_then_409(
    http: TestClient, store: PipelineStore
) -> None:
    accepted = http.post(f"/v1/projects/{project()}/pipelines", json={"audio_url": AUDIO}).json()
    pipeline, steps = accepted["id"], [s["job_id"] for s in accepted["steps"]]
    assert http.post(f"/v1/pipelines/{pipeline}/retry").status_code == 409  # none ended
    store.set_phase(steps[0], "Succeeded")
    store.set_phase(steps[1], "Failed")
    for job_id in steps[2:]:
        store.set_phase(job_id, "Failed")
    assert http.get(f"/v1/pipelines/{pipeline}").json()["phase"] == "Failed"
    response = http.post(f"/v1/pipelines/{pipeline}/retry")
    assert response.status_code == 202, response.text
    reruns = {o["spec"]["jobId"]: o["spec"].get("rerun") for o in store.objects.values()}
    assert reruns == {steps[0]: None} | {s: 1 for s in steps[1:]}
    again = http.post(f"/v1/pipelines/{pipeline}/retry")  # each is already being retried
    assert again.status_code == 409
    assert "no Failed or Cancelled step" in again.json()["message"]


def test_another_projects_pipeline_is_a_404_and_lists_are_per_project(
    http: TestClient,
) -> None:
    mine, theirs = project(), project()
    own = http.post(f"/v1/projects/{mine}/pipelines", json={"audio_url": AUDIO}).json()["id"]
    other = http.post(f"/v1/projects/{theirs}/pipelines", json={"audio_url": AUDIO}).json()["id"]
    user = {"Authorization": f"Bearer {user_token([mine])}"}
    assert http.get(f"/v1/pipelines/{own}", headers=user).status_code == 200
    for method, path in (
        ("GET", f"/v1/pipelines/{other}"),
        ("POST", f"/v1/pipelines/{other}/cancel"),
        ("POST", f"/v1/pipelines/{other}/retry"),
        ("GET", f"/v1/pipelines/{uuid.uuid4()}"),
        ("GET", f"/v1/pipelines?project_id={theirs}"),
        ("POST", f"/v1/projects/{theirs}/pipelines"),
    ):
        response = http.request(method, path, headers=user, json={"audio_url": AUDIO})
        assert response.status_code == 404, (path, response.text)
    listed = http.get("/v1/pipelines", headers=user).json()["items"]
    assert [(p["id"], p["project_id"], p["step_count"]) for p in listed] == [(own, mine, 5)]
    everything = http.get("/v1/pipelines").json()["items"]
    assert [p["id"] for p in everything] == [other, own]  # newest first


def test_every_pipeline_route_says_the_cluster_is_unreachable(
    dead_cluster_app: TestClient,
) -> None:
    pipeline = str(uuid.uuid4())
    for method, path, body in (
        ("POST", f"/v1/projects/{project()}/pipelines", {"audio_url": AUDIO}),
        ("GET", f"/v1/pipelines/{pipeline}", None),
        ("GET", "/v1/pipelines", None),
        ("POST", f"/v1/pipelines/{pipeline}/cancel", None),
        ("POST", f"/v1/pipelines/{pipeline}/retry", None),
    ):
        response = dead_cluster_app.request(method, path, json=body)
        assert response.status_code == 503, (path, response.text)
        assert response.json()["code"] == "kubernetes_unavailable"


def test_a_user_of_several_projects_lists_the_pipelines_of_each_and_no_other(
    http: TestClient,
) -> None:
    first, second, theirs = project(), project(), project()
    ids = {
        p: http.post(f"/v1/projects/{p}/pipelines", json={"audio_url": AUDIO}).json()["id"]
        for p in (first, second, theirs)
    }
    user = {"Authorization": f"Bearer {user_token([first, second])}"}
    listed = http.get("/v1/pipelines", headers=user)
    assert listed.status_code == 200, listed.text
    assert {p["id"] for p in listed.json()["items"]} == {ids[first], ids[second]}
