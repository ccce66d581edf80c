"""Where the local control plane keeps its state, and which 127.0.0.1 ports it listens on.

Two places. The state root (``state_root()``: ``OMVEE_STATE_DIR``, else ``<repo>/.run``) holds
what only this user's processes read: the cluster's keys and kubeconfigs, pidfiles, logs. It may
sit in a private folder, and then stays private. The shared root (``shared_state_root()``) holds
what a process running as another user must reach, such as PostgreSQL's data (the server runs as
the ``postgres`` user under root): the state root when other users can enter the checkout, else
a per-checkout folder ``/tmp/omvee-<hash of the checkout's path>`` (``/var/tmp`` when ``/tmp``
will not do), created 0755 and used only while it is ours. Both are chosen from the checkout's
path alone, so every later command (``status``, ``down``) finds what ``up`` made.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parents[2]

# Below Linux's ephemeral range (32768+), away from the usual 6443/2379/10257/10259, so a
# kind cluster or a system etcd on the same machine does not clash.
DEFAULT_PORT_BASE = 26400

# Where a checkout that other users cannot enter gets its shared folder, in order of preference.
SHARED_BASES = (Path("/tmp"), Path("/var/tmp"))


class StateError(RuntimeError):
    """No usable place for state other users must reach; the message says why."""


def state_root() -> Path:
    return Path(os.environ.get("OMVEE_STATE_DIR") or REPO_ROOT / ".run")


@dataclass(frozen=True)
class SharedRoot:
    """The folder for state that processes of other users must reach, and why it is there."""

    path: Path
    # explicit: OMVEE_STATE_DIR; checkout: <repo>/.run; per-checkout: a folder outside the
    # checkout, named after it, checked to be ours before use and removed once empty.
    kind: Literal["explicit", "checkout", "per-checkout"]
    why: str

    @property
    def per_checkout(self) -> bool:
        return self.kind == "per-checkout"

    def describe(self) -> str:
        """For people: where, and why there."""
        return f"{self.path} ({self.why})"


def per_checkout_name(repo: Path) -> str:
    """``omvee-<hash>``: the same for every command run from one checkout, distinct between
    checkouts."""
    return "omvee-" + hashlib.sha256(str(repo).encode()).hexdigest()[:12]


def choose_shared_root(
    repo: Path,
    explicit: str | None,
    enterable: Callable[[Path], bool],
    usable_base: Callable[[Path], bool],
    bases: Sequence[Path] = SHARED_BASES,
) -> SharedRoot:
    """Pure: OMVEE_STATE_DIR if set; else ``<repo>/.run`` if other users can enter the checkout;
    else ``<base>/omvee-<hash>`` in the first usable base."""
    if explicit:
        return SharedRoot(Path(explicit), "explicit", "set by OMVEE_STATE_DIR")
    if enterable(repo):
        return SharedRoot(repo / ".run", "checkout", "in the checkout")
    for base in bases:
        if usable_base(base):
            return SharedRoot(
                base / per_checkout_name(repo),
                "per-checkout",
                f"outside the checkout, since other users cannot enter {repo}",
            )
    raise StateError(
        f"Other users cannot enter {repo}, and none of "
        f"{', '.join(str(b) for b in bases)} is a folder they can enter and this user can "
        "write (world-writable ones must be sticky), so there is no place for state the "
        "postgres user must reach. Set OMVEE_STATE_DIR to a folder other users can enter."
    )


def others_can_enter(path: Path) -> bool:
    """Whether users other than the owner can reach ``path``: it and every folder above it are
    searchable by others (o+x). False when any of them is missing."""
    try:
        resolved = path.resolve(strict=True)
        return all(folder.stat().st_mode & stat.S_IXOTH for folder in (resolved, *resolved.parents))
    except OSError:
        return False


def usable_base(base: Path) -> bool:
    """A folder to make a per-checkout folder in: others can enter it, this user can write it,
    and if anyone may write it, it is sticky (nobody else can rename or remove our folder)."""
    try:
        mode = base.stat().st_mode
    except OSError:
        return False
    if not stat.S_ISDIR(mode) or not others_can_enter(base):
        return False
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        return False
    return os.access(base, os.W_OK | os.X_OK)


def _check_ours(path: Path) -> os.stat_result:
    """An existing per-checkout folder must be a real folder of ours that nobody else can write:
    under a world-writable /tmp, another user could have made it first."""
    info = path.lstat()
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.geteuid()
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a folder"
        raise StateError(
            f"{path} is in the way: {kind}, owner uid {info.st_uid}, mode "
            f"{stat.filemode(info.st_mode)}; this checkout's state needs it to be a folder of "
            f"uid {os.geteuid()} that only its owner can write. Another user may have made it. "
            "Remove it, or set OMVEE_STATE_DIR to a folder other users can enter."
        )
    return info


def shared_state_root() -> SharedRoot:
    """The place for state other users' processes must reach (see the module's docstring). An
    existing per-checkout folder that is not ours is refused."""
    shared = choose_shared_root(
        REPO_ROOT, os.environ.get("OMVEE_STATE_DIR"), others_can_enter, usable_base, SHARED_BASES
    )
    if shared.per_checkout and os.path.lexists(shared.path):
        _check_ours(shared.path)
    return shared


def ensure_shared_root() -> SharedRoot:
    """The shared root, created if missing, searchable by other users when we chose it."""
    shared = shared_state_root()
    path = shared.path
    if shared.per_checkout:
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o755)
        info = _check_ours(path)  # again: another user may have made it since
        if stat.S_IMODE(info.st_mode) != 0o755:
            path.chmod(0o755)  # the umask may have taken bits off
    elif shared.kind == "checkout":
        path.mkdir(parents=True, exist_ok=True)
        info = path.stat()
        if info.st_uid == os.geteuid() and (info.st_mode & 0o011) != 0o011:
            path.chmod(stat.S_IMODE(info.st_mode) | 0o011)  # made under a strict umask
    else:
        path.mkdir(parents=True, exist_ok=True)
    return shared


def prune_shared_root(shared: SharedRoot) -> None:
    """Remove a per-checkout folder once nothing is left in it (``down``)."""
    if shared.per_checkout:
        with contextlib.suppress(OSError):  # missing, or something is still in it
            shared.path.rmdir()


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
