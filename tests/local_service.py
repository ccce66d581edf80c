"""A Python service of ours run as a real local process (``python -m <module>``) for tests:
started, health-checked on /healthz, killed (SIGKILL) or stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.localcluster.layout import REPO_ROOT, Ports, state_root
from tests.localcluster.processes import log_tail
from tests.waiting import wait_for


def saved_logs_env() -> dict[str, str]:
    return {"OMVEE_LOGS": "directory", "OMVEE_LOGS_DIR": str(state_root() / "job-logs")}


class LocalService:
    module = ""  # set by subclasses

    def __init__(self, port_offset: int, log_name: str) -> None:
        self.port = Ports.from_env().base + port_offset
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: Path = state_root() / log_name
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        # The operator saves finished attempts' logs where the API reads them.
        return {**os.environ, **saved_logs_env()}

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return int(response.status) == 200
        except OSError:
            return False

    def _alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"{self.module} exited during start-up:\n" + log_tail(self.log, 40))

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                cwd=REPO_ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._healthy, f"{self.module}'s /healthz", 60, self._alive)

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a node dies under it."""
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

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log, lines)
