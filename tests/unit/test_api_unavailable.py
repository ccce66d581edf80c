"""With the Kubernetes API unreachable, the REST API answers 503 with a clear message."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from kubernetes import client

from api.rest.main import create_app
from api.rest.settings import Settings
from api.rest.store import JobStore

TOKEN = "service-token-for-unit-tests-0123456789"


@pytest.fixture
def dead_cluster_app() -> Iterator[TestClient]:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configuration = client.Configuration()
    configuration.host = f"https://127.0.0.1:{port}"
    configuration.retries = 0
    store = JobStore(client.ApiClient(configuration), "omvee")
    settings = Settings(service_tokens=[TOKEN])
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as test:
        test.headers["Authorization"] = f"Bearer {TOKEN}"
        yield test


def test_every_route_says_the_cluster_is_unreachable(dead_cluster_app: TestClient) -> None:
    job = str(uuid.uuid4())
    calls = [
        (
            "POST",
            "/v1/jobs",
            {
                "type": "transcription",
                "project_id": str(uuid.uuid4()),
                "input": {"audio_url": "https://media.example.com/a.mp3"},
            },
        ),
        ("GET", f"/v1/jobs/{job}", None),
        ("GET", "/v1/jobs", None),
        ("POST", f"/v1/jobs/{job}/cancel", None),
        ("POST", f"/v1/jobs/{job}/retry", None),
        ("GET", f"/v1/jobs/{job}/logs", None),
        ("GET", "/readyz", None),
    ]
    for method, path, body in calls:
        response = dead_cluster_app.request(method, path, json=body)
        assert response.status_code == 503, (path, response.text)
        answer = response.json()
        assert answer["code"] == "kubernetes_unavailable"
        assert answer["message"].startswith("the Kubernetes API is unreachable, could not ")
    assert dead_cluster_app.get("/healthz").status_code == 200


def test_insecure_settings_are_refused_outside_development() -> None:
    with pytest.raises(ValueError, match="set OMVEE_API_JWT_SECRET or OMVEE_API_SERVICE_TOKENS"):
        Settings()
    with pytest.raises(ValueError, match="shorter than 32 characters"):
        Settings(jwt_secret="short")
    assert Settings(environment="development").environment == "development"
