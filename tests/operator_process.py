"""The operator as a real local process (``python -m controller``) against the local cluster,
exactly as it runs out-of-cluster. Tests can kill and restart it.
"""

from __future__ import annotations

from pathlib import Path

from tests.kwokplacement import kwok_profiles
from tests.local_service import LocalService


class OperatorProcess(LocalService):
    module = "controller"

    def __init__(
        self,
        kubeconfig: Path,
        resync_seconds: float = 2.0,
        port_offset: int = 81,
        namespaces: tuple[str, ...] = (),
        log_name: str = "operator-test.log",
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(port_offset, log_name)
        self.kubeconfig = kubeconfig
        self.resync_seconds = resync_seconds
        self.namespaces = namespaces
        self.extra_env = env or {}

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "KUBECONFIG": str(self.kubeconfig),
            "OMVEE_RESYNC_SECONDS": str(self.resync_seconds),
            "OMVEE_HEALTH_PORT": str(self.port),
            "OMVEE_NAMESPACES": ",".join(self.namespaces),
            # kwok plays the job pods unless a test gives its own catalog
            "OMVEE_PROFILES": str(kwok_profiles()),
            **self.extra_env,
        }
