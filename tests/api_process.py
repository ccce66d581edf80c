"""The REST API as a real local process (``python -m api.rest``) against the local cluster,
and tokens to call it with."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import jwt

from tests import factories
from tests.local_service import LocalService
from tests.localcluster.layout import state_root

JWT_SECRET = "test-jwt-secret-that-is-long-enough-0123456789"
SERVICE_TOKEN = "test-service-token-0123456789abcdef"


def user_token(
    projects: list[str],
    *,
    expires_in: int = 3600,
    subject: str = "user-1",
    secret: str = JWT_SECRET,
) -> str:
    """A Supabase-style access token for a user of ``projects``."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "aud": "authenticated",
        "role": "authenticated",
        "iat": now,
        "exp": now + expires_in,
        "app_metadata": {"project_ids": projects},
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def upstream_job(http: httpx.Client, project: str) -> str:
    """The id of a new transcription of ``project`` (kwok plays it in 200 ms) for later jobs to
    take input from: the API accepts only an earlier job of the submitting project."""
    response = http.post(
        "/v1/jobs",
        json={
            "type": "transcription",
            "project_id": project,
            "input": {"audio_url": "https://media.example.com/upstream.mp3"},
            "pod_annotations": factories.pod_annotations(),
        },
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def results_dir() -> Path:
    """The results store the test API reads (OMVEE_RESULTS_DIR): what job pods would write."""
    return state_root() / "results"


class ApiProcess(LocalService):
    module = "api.rest"

    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        port_offset: int = 90,
        log_name: str = "api-test.log",
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(port_offset, log_name)
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.extra_env = env or {}

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "KUBECONFIG": str(self.kubeconfig),
            "OMVEE_API_NAMESPACE": self.namespace,
            "OMVEE_API_JWT_SECRET": JWT_SECRET,
            "OMVEE_API_SERVICE_TOKENS": f'["{SERVICE_TOKEN}"]',
            "OMVEE_API_HOST": "127.0.0.1",
            "OMVEE_API_PORT": str(self.port),
            # tests steer kwok's fake pods through these
            "OMVEE_API_POD_ANNOTATION_PREFIXES": '["kwok.omvee.io/"]',
            "OMVEE_RESULTS_DIR": str(results_dir()),
            **self.extra_env,
        }
