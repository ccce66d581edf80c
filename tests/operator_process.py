"""The operator as a real local process (``python -m controller``) against the local cluster,
exactly as it runs out-of-cluster. Tests can kill and restart it.
"""

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


class OperatorProcess:
    def __init__(
        self,
        kubeconfig: Path,
        resync_seconds: float = 2.0,
        port_offset: int = 81,
        namespaces: tuple[str, ...] = (),
        log_name: str = "operator-test.log",
        env: dict[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.port = Ports.from_env().base + port_offset
        self.log = state_root() / log_name
        self.resync_seconds = resync_seconds
        self.namespaces = namespaces
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return int(r.status) == 200
        except OSError:
            return False

    def _alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError("the operator exited during start-up:\n" + log_tail(self.log, 40))

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "OMVEE_RESYNC_SECONDS": str(self.resync_seconds),
            "OMVEE_HEALTH_PORT": str(self.port),
            "OMVEE_NAMESPACES": ",".join(self.namespaces),
            **self.extra_env,
        }
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "controller"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._healthy, "the operator's /healthz", 60, self._alive)

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
