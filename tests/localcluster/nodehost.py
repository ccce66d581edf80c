"""Run the real node (containerd, kubelet, kube-proxy) on this host, and undo it on `down`.

The rendering is in ``realnode.py``; this module acts. `prepare_host` records what `up` may
change (``HostRecord``) and claims the machine (one real node per machine: kube-proxy's chains
and ip_forward are host-wide); `start` runs the daemons; `teardown` removes pods through CRI,
stops the daemons and restores the host from the record.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.localcluster import realnode
from tests.localcluster.processes import ProcessTable
from tests.localcluster.realnode import CLAIM_FILE, HostRecord, NodeSettings
from tests.localcluster.staticimage import ensure_pause_image
from tests.waiting import WaitTimeout, wait_for

NODE_PROCESSES = ("containerd", "kubelet", "kube-proxy")
READY_TIMEOUT = 120.0


class NodeError(RuntimeError):
    """The real node could not be started, or another cluster's real node runs; says why."""


def _log(message: str) -> None:
    print(f"[node] {message}", file=sys.stderr, flush=True)


def _run(
    argv: list[str], check: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)


def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key


def _read_sysctls() -> dict[str, str]:
    values = {}
    for key in realnode.SYSCTLS:
        with contextlib.suppress(OSError):
            values[key] = _sysctl_path(key).read_text().strip()
    return values


def _iptables_save(family: str) -> str:
    binary = shutil.which(f"{family}-save")
    if not binary:
        return ""
    result = _run([binary])
    return result.stdout if result.returncode == 0 else ""


def _netns() -> list[str]:
    try:
        return sorted(p.name for p in realnode.NETNS_DIR.iterdir())
    except OSError:
        return []


def _lo_addresses() -> list[str]:
    result = _run(["ip", "-o", "-4", "addr", "show", "dev", "lo"])
    return [line.split()[3] for line in result.stdout.splitlines() if len(line.split()) > 3]


def _log_links() -> dict[str, str]:
    try:
        entries = list(realnode.VAR_LOG_CONTAINERS.iterdir())
    except OSError:
        return {}
    return {e.name: str(e.readlink()) if e.is_symlink() else "" for e in entries}


def record_host(state_dir: Path) -> HostRecord:
    """What the host looks like now, in the parts `up` may change."""
    return HostRecord(
        state_dir=str(state_dir),
        sysctls=_read_sysctls(),
        chains={
            f"{family}/{table}": chains
            for family in ("iptables", "ip6tables")
            for table, chains in realnode.chains_of(_iptables_save(family)).items()
        },
        netns=_netns(),
        existed={str(path): path.exists() for path in realnode.TRACKED_PATHS},
        var_log_containers=sorted(_log_links()),
        lo_addresses=_lo_addresses(),
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_claim() -> dict[str, object] | None:
    """The claim of the real node running on this machine, if its containerd still runs."""
    try:
        claim = json.loads(CLAIM_FILE.read_text())
    except (OSError, ValueError):
        return None
    table = ProcessTable(Path(str(claim.get("processes", ""))))
    if any(table.alive(name) for name in NODE_PROCESSES):
        return dict(claim)
    return None


class RealNode:
    """The real node of one local cluster."""

    def __init__(self, settings: NodeSettings, table: ProcessTable) -> None:
        self.settings = settings
        self.table = table

    # -- up ------------------------------------------------------------------------------------

    def check_free(self) -> None:
        """Refuse to start without root (containerd, the kubelet's mounts and cgroups, iptables
        and addresses on `lo` need it), or when another cluster's real node runs here."""
        if os.geteuid() != 0:
            raise NodeError(
                "the real node (containerd, kubelet, kube-proxy) needs root: run as root, or "
                "start the cluster without it: OMVEE_REAL_NODE=0 (kwok's fake nodes only; no "
                "job does real work then)"
            )
        claim = live_claim()
        if claim and claim.get("state_dir") != str(self.settings.root.parent):
            raise NodeError(
                "another local cluster already runs the real node on this machine (state dir "
                f"{claim.get('state_dir')}, port base {claim.get('port_base')}); only one can, "
                "since kube-proxy's iptables chains and ip_forward are host-wide. Stop it with "
                f"`OMVEE_STATE_DIR={Path(str(claim.get('state_dir'))).parent} "
                f"OMVEE_PORT_BASE={claim.get('port_base')} python -m tests.localcluster down`, "
                "or start this cluster without one: OMVEE_REAL_NODE=0."
            )

    def prepare_host(self) -> None:
        """Record the host, claim the machine, put the node address on `lo`."""
        node = self.settings
        self.check_free()
        node.root.mkdir(parents=True, exist_ok=True)
        if not node.host_record.exists():
            node.host_record.write_text(record_host(node.root.parent).to_json())
        CLAIM_FILE.write_text(
            json.dumps(
                {
                    "state_dir": str(node.root.parent),
                    "port_base": node.ports.base,
                    "processes": str(self.table.directory),
                }
            )
        )
        if f"{node.node_ip}/32" not in _lo_addresses():
            _run(["ip", "addr", "add", f"{node.node_ip}/32", "dev", "lo"], check=True)

    def write_configs(self) -> None:
        node = self.settings
        for folder in (node.cni_conf_dir, node.cni_data_dir, node.kubelet_root, node.pod_logs):
            folder.mkdir(parents=True, exist_ok=True)
        node.containerd_config.write_text(realnode.render_containerd_config(node))
        (node.cni_conf_dir / "10-omvee.conflist").write_text(
            json.dumps(realnode.render_cni_conflist(node), indent=2)
        )
        node.kubelet_config.write_text(yaml.safe_dump(realnode.render_kubelet_config(node)))
        node.kube_proxy_config.write_text(yaml.safe_dump(realnode.render_kube_proxy_config(node)))
        node.crictl_config.write_text(realnode.render_crictl_config(node))

    def start(self, binaries: dict[str, str], api: object) -> None:
        """Start containerd (importing the pause image), the kubelet (until the Node is Ready)
        and kube-proxy (until healthy). ``api`` is a kubernetes CoreV1Api."""
        node = self.settings
        self.write_configs()
        containerd = shutil.which("containerd")
        if not containerd:
            raise NodeError("containerd is not installed: run `make sysdeps`")
        _log("starting containerd")
        self.table.start("containerd", realnode.containerd_command(containerd, node))
        wait_for(
            lambda: self._ctr("version").returncode == 0,
            "containerd's socket",
            60,
            lambda: self.table.check_running("containerd"),
        )
        self.import_image(ensure_pause_image(realnode.PAUSE_IMAGE))
        _log("starting kubelet")
        started = time.monotonic()
        self.table.start("kubelet", realnode.kubelet_command(binaries["kubelet"], node))
        wait_for(
            lambda: self._node_ready(api),
            f"node {node.name} to be Ready",
            READY_TIMEOUT,
            lambda: self.table.check_running("kubelet"),
        )
        _log(f"node {node.name} Ready {time.monotonic() - started:.1f}s after kubelet start")
        _log("starting kube-proxy")
        self.table.start("kube-proxy", realnode.kube_proxy_command(binaries["kube-proxy"], node))
        from tests.localcluster.cluster import _status_of

        wait_for(
            lambda: _status_of(f"http://127.0.0.1:{node.kube_proxy_healthz_port}/healthz") == 200,
            "kube-proxy /healthz",
            60,
            lambda: self.table.check_running("kube-proxy"),
        )

    def _node_ready(self, api: object) -> bool:
        from kubernetes.client.exceptions import ApiException

        try:
            found = api.read_node(self.settings.name)  # type: ignore[attr-defined]
        except ApiException:
            return False
        conditions = {c.type: c.status for c in found.status.conditions or []}
        return conditions.get("Ready") == "True"

    def _ctr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return _run(
            ["ctr", "--address", str(self.settings.containerd_socket), "-n", "k8s.io", *args],
            timeout=timeout,
        )

    def import_image(self, archive: Path) -> None:
        """Import a docker-archive or OCI archive into the node's containerd (namespace k8s.io),
        where the kubelet finds it; pods use it with ``imagePullPolicy: Never``.

        Raises NodeError when containerd is not running or refuses the archive."""
        if not self.table.alive("containerd"):
            raise NodeError("the real node's containerd is not running: start the cluster first")
        result = self._ctr("images", "import", "--all-platforms", str(archive), timeout=600)
        if result.returncode != 0:
            raise NodeError(f"ctr images import {archive} failed:\n{result.stderr[-2000:]}")
        _log(f"imported {archive.name}: {result.stdout.strip()}")

    def image_refs(self) -> dict[str, str]:
        """The image names the node's containerd holds (namespace k8s.io) and the digest each
        names; empty when it does not run."""
        if not self.table.alive("containerd"):
            return {}
        result = self._ctr("images", "ls")
        if result.returncode != 0:
            return {}
        rows = [line.split() for line in result.stdout.splitlines()[1:]]  # REF TYPE DIGEST ...
        return {row[0]: row[2] for row in rows if len(row) >= 3}

    # -- down ----------------------------------------------------------------------------------

    def teardown(self, crictl: str | None, kube_proxy: str | None) -> list[str]:
        """Stop the node and undo, from the host record, every host-wide change `up` made.
        Returns the names of the processes that were running."""
        node = self.settings
        stopped = []
        if self.table.stop("kubelet"):
            stopped.append("kubelet")
        if crictl and self.table.alive("containerd"):
            for args in (["rmp", "--all", "--force"], ["rm", "--all", "--force"]):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    _run([crictl, f"--config={node.crictl_config}", *args], timeout=90)
        if self.table.stop("kube-proxy"):
            stopped.append("kube-proxy")
        record = None
        with contextlib.suppress(OSError, ValueError, TypeError):
            record = HostRecord.from_json(node.host_record.read_text())
        if kube_proxy and record is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                _run(realnode.kube_proxy_cleanup_command(kube_proxy), timeout=60)
        if self.table.stop("containerd"):
            stopped.append("containerd")
        self._kill_leftovers()
        for point in realnode.mounts_under(Path("/proc/mounts").read_text(), node.root):
            if _run(["umount", point]).returncode != 0:
                _run(["umount", "-l", point])
        if record is not None:
            self._restore(record)
        if _run(["ip", "link", "show", node.bridge]).returncode == 0:
            _run(["ip", "link", "delete", node.bridge])
        with contextlib.suppress(OSError, ValueError):
            if json.loads(CLAIM_FILE.read_text()).get("state_dir") == str(node.root.parent):
                CLAIM_FILE.unlink()
        node.host_record.unlink(missing_ok=True)
        return stopped

    def _kill_leftovers(self) -> None:
        """containerd-shim processes serving our containerd, and containers in our runc root."""
        socket = str(self.settings.containerd_socket)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                if b"containerd-shim" in argv[0] and socket.encode() in argv:
                    os.kill(int(proc.name), signal.SIGKILL)
        runc_root = self.settings.runc_root
        for namespace in runc_root.glob("*") if runc_root.exists() else []:
            listed = _run(["runc", "--root", str(namespace), "list", "-q"])
            for container in listed.stdout.split():
                _run(["runc", "--root", str(namespace), "delete", "--force", container])

    def _restore(self, record: HostRecord) -> None:
        node = self.settings
        for name in realnode.plan_netns_removals(record.netns, _netns()):
            _run(["ip", "netns", "delete", name])
        if node.bridge and _run(["ip", "link", "show", node.bridge]).returncode == 0:
            _run(["ip", "link", "delete", node.bridge])
        for family in ("iptables", "ip6tables"):
            before = {
                key.split("/", 1)[1]: chains
                for key, chains in record.chains.items()
                if key.startswith(f"{family}/")
            }
            plan = realnode.plan_iptables_undo(family, before, _iptables_save(family), node.network)
            for step in plan:
                _run([family, *step.argv])
            nft_family = "ip" if family == "iptables" else "ip6"
            for table in realnode.plan_table_removals(before, _iptables_save(family)):
                _run(["nft", "delete", "table", nft_family, table])
        for key, value in realnode.plan_sysctl_restores(record.sysctls, _read_sysctls()).items():
            with contextlib.suppress(OSError):
                _sysctl_path(key).write_text(value)
        if f"{node.node_ip}/32" not in record.lo_addresses:
            _run(["ip", "addr", "del", f"{node.node_ip}/32", "dev", "lo"])
        # CNI caches of our network (libcni keeps them under /var/lib/cni whatever we say).
        for pattern in (f"results/{node.network}-*", f"networks/{node.network}"):
            for path in realnode.VAR_LIB_CNI.glob(pattern):
                _remove(path)
        for name in realnode.plan_log_link_removals(
            record.var_log_containers, _log_links(), node.pod_logs
        ):
            (realnode.VAR_LOG_CONTAINERS / name).unlink(missing_ok=True)
        for cgroup in Path("/sys/fs/cgroup").glob("*/kubepods"):
            if not record.existed.get("/sys/fs/cgroup/cpu/kubepods", True):
                _remove_cgroup(cgroup)
        for path in realnode.plan_path_removals(record.existed):
            if path.is_dir() and not str(path).startswith("/sys/"):
                # Folders the kubelet, containerd or CNI made for our node alone.
                _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _remove_cgroup(root: Path) -> None:
    """rmdir a cgroup v1 tree depth-first (cgroup folders are removed empty of children)."""
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            folder.rmdir()
    with contextlib.suppress(OSError):
        root.rmdir()


def wait_quietly(condition: Callable[[], bool], what: str, timeout: float) -> bool:
    with contextlib.suppress(WaitTimeout):
        wait_for(condition, what, timeout)
        return True
    return False
