"""The launcher: reuse, stale-state cleanup, clear errors, and a kubeconfig people can use."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcluster.cluster import ClusterError, LocalCluster, port_in_use
from tests.localcluster.layout import REPO_ROOT, Layout, Ports
from tests.private_checkout import make_private_checkout, run_from
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster


def free_port_base(start: int) -> int:
    """The first port base from ``start`` on (in steps of 100) none of whose ports (base ..
    base+99) is taken on 127.0.0.1, so another cluster on this machine is never hit."""
    for base in range(start, 65400, 100):
        ports = range(base, base + 100)
        if not any(port_in_use(port) for port in ports):
            return base
    raise RuntimeError(f"no free block of 100 ports from {start} on")


@pytest.fixture
def second_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    base = free_port_base(Ports.from_env().base + 1000)  # clear of the session cluster's ports
    cluster = LocalCluster(Layout(tmp_path / "cluster"), Ports.from_base(base))
    yield cluster
    cluster.down(quiet=True)


def test_kubeconfig_command_prints_a_path_kubectl_can_use(local_cluster: LocalCluster) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "tests.localcluster", "kubeconfig"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert printed == f"{local_cluster.layout.kubeconfig}\n"
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed on PATH for this check"
    nodes = subprocess.run(
        [kubectl, "--kubeconfig", printed.strip(), "get", "nodes", "-o", "name"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert {"node/kwok-cpu-0", "node/kwok-gpu-0"} <= set(nodes)


def test_status_command_reports_every_component(local_cluster: LocalCluster) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.localcluster", "status"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    for name in (
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "fates",
    ):
        assert f"{name} " in result.stdout
    assert "stopped" not in result.stdout


def test_a_taken_port_is_named(second_cluster: LocalCluster) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", second_cluster.ports.apiserver))
        squatter.listen()
        with pytest.raises(ClusterError) as raised:
            second_cluster.up()
    message = str(raised.value)
    assert f"{second_cluster.ports.apiserver} (kube-apiserver)" in message
    assert "OMVEE_PORT_BASE" in message
    assert not second_cluster.table.names()  # nothing was started


def test_a_half_dead_cluster_is_cleaned_up_and_restarted(second_cluster: LocalCluster) -> None:
    second_cluster.up()
    old_etcd = second_cluster.table.alive("etcd")
    apiserver = second_cluster.table.alive("kube-apiserver")
    assert old_etcd and apiserver
    os.kill(apiserver.pid, signal.SIGKILL)

    wait_for(lambda: not second_cluster.status()["kube-apiserver"], "the apiserver to die", 10)
    assert not second_cluster.is_up()
    second_cluster.up()

    assert second_cluster.is_up()
    new_etcd = second_cluster.table.alive("etcd")
    assert new_etcd and new_etcd.pid != old_etcd.pid
    assert not Path(f"/proc/{old_etcd.pid}").exists() or Path(
        f"/proc/{old_etcd.pid}/stat"
    ).read_text().split(") ")[1].startswith("Z")

    stopped = second_cluster.down()
    assert set(stopped) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "fates",
    }
    assert not second_cluster.layout.root.exists()


def test_starts_from_a_checkout_other_users_cannot_enter(tmp_path: Path) -> None:
    """Every control-plane process runs as this user, so the cluster's state (keys, kubeconfigs)
    stays in the private checkout, where `kubeconfig` finds it."""
    checkout = make_private_checkout(tmp_path)
    base = str(free_port_base(Ports.from_env().base + 2000))  # clear of the others

    def launcher(command: str) -> subprocess.CompletedProcess[str]:
        # kwok only: the session's cluster holds this machine's one real node
        return run_from(
            checkout,
            ["-m", "tests.localcluster", command],
            OMVEE_PORT_BASE=base,
            OMVEE_REAL_NODE="0",
        )

    kubeconfig = checkout / ".run/cluster/kubeconfig"
    try:
        up = launcher("up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"kubeconfig: {kubeconfig}" in up.stdout
        assert launcher("kubeconfig").stdout == f"{kubeconfig}\n"
        status = launcher("status")
        assert status.returncode == 0, status.stdout + status.stderr
        kubectl = shutil.which("kubectl")
        assert kubectl, "kubectl is needed on PATH for this check"
        nodes = subprocess.run(
            [kubectl, "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "name"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        assert "node/kwok-gpu-0" in nodes
    finally:
        down = launcher("down")
    assert down.returncode == 0, down.stderr
    assert not kubeconfig.parent.exists()
