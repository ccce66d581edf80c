"""The API's metrics: requests by route template (never the raw path), submissions of new
jobs only, and where /metrics is served."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.rest.main import create_app
from api.rest.settings import Settings
from api.rest.store import JobStore

TOKEN = "service-token-for-unit-tests-0123456789"


class MemoryStore(JobStore):
    """Creates OmveeJobs in a dict (by name), as the API server would, 409 included."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}

    def create(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        name = body["metadata"]["name"]
        if name in self.objects:
            return self.objects[name], False
        self.objects[name] = body
        return body, True


def client(**settings: Any) -> TestClient:
    app = create_app(Settings(service_tokens=[TOKEN], **settings), MemoryStore())
    test = TestClient(app, raise_server_exceptions=False)
    test.headers["Authorization"] = f"Bearer {TOKEN}"
    return test


def scrape(http: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def test_requests_and_submissions_are_counted() -> None:
    http = client(max_body_bytes=2048)
    project = str(uuid.uuid4())
    transcription = {"audio_url": "https://media.example.com/a.mp3", "job_id": str(uuid.uuid4())}
    for _ in range(2):  # the second is an idempotent replay: not a new submission
        answer = http.post(f"/v1/projects/{project}/transcriptions", json=transcription)
        assert answer.status_code == 202, answer.text
    answer = http.post(
        "/v1/jobs",
        json={
            "type": "scene-generation",
            "project_id": project,
            "input": {"transcript_job_id": "x"},
        },
    )
    assert answer.status_code == 422
    assert http.post("/v1/jobs", content=b"{" + b" " * 4096 + b"}").status_code == 413
    assert http.get(f"/nowhere/{uuid.uuid4()}").status_code == 404
    seen = scrape(http)
    assert seen[key("omvee_job_submissions_total", type="transcription")] == 1
    assert seen[key("omvee_job_submissions_total", type="scene-generation")] == 0
    submit = {"method": "POST", "route": "/v1/projects/{project_id}/transcriptions"}
    assert seen[key("omvee_api_requests_total", **submit, code="202")] == 2
    assert seen[key("omvee_api_request_duration_seconds_count", **submit)] == 2
    assert seen[key("omvee_api_requests_total", method="POST", route="/v1/jobs", code="422")] == 1
    # refused before routing, and unknown paths: no route, and never the raw path
    assert seen[key("omvee_api_requests_total", method="POST", route="unmatched", code="413")] == 1
    assert seen[key("omvee_api_requests_total", method="GET", route="unmatched", code="404")] == 1
    assert not any(project in str(labels) for _, labels in seen)


def test_metrics_need_no_token() -> None:
    http = client()
    del http.headers["Authorization"]
    assert http.get("/metrics").status_code == 200
    assert http.get("/v1/jobs").status_code == 401


def test_with_a_metrics_port_the_api_port_does_not_serve_them() -> None:
    http = client(metrics_port=9090)
    assert http.get("/metrics").status_code == 404
    assert "/metrics" not in http.get("/openapi.json").json()["paths"]
