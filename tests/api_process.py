"""The REST API as a real local process (``python -m api.rest``) against the local cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jwt

from tests.localcluster.layout import REPO_ROOT, Ports, state_root
from tests.localcluster.processes import log_tail
from tests.waiting import wait_for

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


class ApiProcess:
    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        port_offset: int = 90,
        log_name: str = "api-test.log",
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.port = Ports.from_env().base + port_offset
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = state_root() / log_name
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "OMVEE_API_NAMESPACE": self.namespace,
            "OMVEE_API_JWT_SECRET": JWT_SECRET,
            "OMVEE_API_SERVICE_TOKENS": f'["{SERVICE_TOKEN}"]',
            "OMVEE_API_HOST": "127.0.0.1",
            "OMVEE_API_PORT": str(self.port),
            # tests steer kwok's fake pods through these
            "OMVEE_API_POD_ANNOTATION_PREFIXES": '["kwok.omvee.io/"]',
        }

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return int(response.status) == 200
        except OSError:
            return False

    def _alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError("the API exited during start-up:\n" + log_tail(self.log, 40))

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.rest"],
                cwd=REPO_ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._healthy, "the API's /healthz", 60, self._alive)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
