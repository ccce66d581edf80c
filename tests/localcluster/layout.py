"""Where the local control plane keeps its state, and which 127.0.0.1 ports it listens on."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Below Linux's ephemeral range (32768+), away from the usual 6443/2379/10257/10259, so a
# kind cluster or a system etcd on the same machine does not clash.
DEFAULT_PORT_BASE = 26400


def state_root() -> Path:
    return Path(os.environ.get("OMVEE_STATE_DIR") or REPO_ROOT / ".run")


@dataclass(frozen=True)
class Ports:
    """Every port is an offset from one base, so one setting moves the whole cluster."""

    base: int

    @classmethod
    def from_base(cls, base: int) -> Ports:
        return cls(base)

    @classmethod
    def from_env(cls) -> Ports:
        return cls(int(os.environ.get("OMVEE_PORT_BASE", DEFAULT_PORT_BASE)))

    @property
    def apiserver(self) -> int:
        return self.base + 43

    @property
    def kwok(self) -> int:
        return self.base + 47

    @property
    def controller_manager(self) -> int:
        return self.base + 57

    @property
    def scheduler(self) -> int:
        return self.base + 59

    @property
    def etcd(self) -> int:
        return self.base + 79

    @property
    def etcd_peer(self) -> int:
        return self.base + 80

    def named(self) -> dict[str, int]:
        return {
            "kube-apiserver": self.apiserver,
            "etcd": self.etcd,
            "etcd (peer)": self.etcd_peer,
            "kube-controller-manager": self.controller_manager,
            "kube-scheduler": self.scheduler,
            "kwok": self.kwok,
        }


@dataclass(frozen=True)
class Layout:
    """The files of one local cluster under ``<state>/cluster``."""

    root: Path

    @classmethod
    def default(cls) -> Layout:
        return cls(state_root() / "cluster")

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def processes(self) -> Path:
        return self.root / "run"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig people and tests use."""
        return self.root / "kubeconfig"

    def component_kubeconfig(self, stem: str) -> Path:
        return self.root / f"{stem}.kubeconfig"

    @property
    def kwok_config(self) -> Path:
        return self.root / "kwok.yaml"

    @property
    def pod_log(self) -> Path:
        return self.root / "pod.log"

    @property
    def kwok_home(self) -> Path:
        # kwok also reads ~/.kwok/kwok.yaml; a private HOME keeps a user's file out of it.
        return self.root / "kwok-home"
