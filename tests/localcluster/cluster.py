"""Start, inspect and stop the local control plane: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok (fake nodes and pods) and the fates helper.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.localcluster import pki
from tests.localcluster.binaries import ensure_binaries
from tests.localcluster.layout import REPO_ROOT, Layout, Ports
from tests.localcluster.nodes import build_nodes
from tests.localcluster.processes import ProcessError, ProcessTable
from tests.localcluster.stages import build_stages, render_config
from tests.waiting import WaitTimeout, wait_for

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service, first address of SERVICE_CIDR
CPU_NODES = int(os.environ.get("OMVEE_CPU_NODES", "2"))
GPU_NODES = int(os.environ.get("OMVEE_GPU_NODES", "2"))

# Started in this order, stopped in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
              "fates")
STARTUP_TIMEOUT = 90.0


class ClusterError(RuntimeError):
    """The local cluster could not be brought up; the message says why."""


def _log(message: str) -> None:
    print(f"[cluster] {message}", file=sys.stderr, flush=True)


def _get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except (OSError, ssl.SSLError):
        return 0, ""


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path,
                     user: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "omvee-local", "cluster": {
            "server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {
            "client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "omvee-local", "context": {
            "cluster": "omvee-local", "user": user}}],
        "current-context": "omvee-local",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@dataclass
class LocalCluster:
    layout: Layout
    ports: Ports

    @classmethod
    def default(cls) -> LocalCluster:
        return cls(Layout.default(), Ports.from_env())

    @property
    def table(self) -> ProcessTable:
        return ProcessTable(self.layout.processes)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def _client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.layout.pki / "ca.crt"))
        context.load_cert_chain(self.layout.pki / "admin.crt", self.layout.pki / "admin.key")
        return context

    def apiserver_ready(self) -> bool:
        if not (self.layout.pki / "admin.crt").is_file():
            return False
        status, _ = _get(f"{self.server}/readyz", self._client_context())
        return status == 200

    def status(self) -> dict[str, bool]:
        """Which components are running, by name."""
        return {name: self.table.alive(name) is not None for name in COMPONENTS}

    def is_up(self) -> bool:
        return all(self.status().values()) and self.apiserver_ready()

    # -- start ---------------------------------------------------------------------------------

    def up(self) -> None:
        binaries = ensure_binaries()
        if self.is_up():
            _log(f"already up, reusing it: {self.server}")
            return
        if self.table.names() or self.layout.root.exists():
            running = [name for name, alive in self.status().items() if alive]
            _log("found a stale or half-started cluster "
                 f"(running: {', '.join(running) or 'nothing'}); cleaning it up")
            self.down(quiet=True)
        busy = {name: port for name, port in self.ports.named().items() if _port_in_use(port)}
        if busy:
            taken = ", ".join(f"{port} ({name})" for name, port in busy.items())
            raise ClusterError(
                f"port(s) {taken} on 127.0.0.1 are already in use by another program. "
                "Stop it, or move the cluster with OMVEE_PORT_BASE=<port> "
                f"(now {self.ports.apiserver - 43})."
            )
        started = time.monotonic()
        try:
            self._start_all({name: str(path) for name, path in binaries.items()})
        except (ClusterError, ProcessError, WaitTimeout):
            self.down(quiet=True, remove_state=False)
            _log(f"start-up failed; stopped what was started. Logs: {self.layout.processes}")
            raise
        _log(f"up in {time.monotonic() - started:.1f}s")

    def _start_all(self, binaries: dict[str, str]) -> None:
        layout, ports, table = self.layout, self.ports, self.table
        layout.root.mkdir(parents=True, exist_ok=True)
        pki.generate(layout.pki, SERVICE_IP)
        p = layout.pki
        write_kubeconfig(layout.kubeconfig, self.server, p / "ca.crt", p / "admin.crt",
                         p / "admin.key", "admin")
        for client in pki.CLIENTS[1:]:
            write_kubeconfig(layout.component_kubeconfig(client.stem), self.server,
                             p / "ca.crt", p / f"{client.stem}.crt", p / f"{client.stem}.key",
                             client.user)

        _log(f"starting etcd on 127.0.0.1:{ports.etcd}")
        etcd_url = f"http://127.0.0.1:{ports.etcd}"
        peer_url = f"http://127.0.0.1:{ports.etcd_peer}"
        table.start("etcd", [
            binaries["etcd"], "--name=node0", f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=node0={peer_url}", "--unsafe-no-fsync=true",
            "--listen-metrics-urls=", "--log-level=warn",
        ])
        wait_for(lambda: _get(f"{etcd_url}/health")[0] == 200, "etcd /health",
                 STARTUP_TIMEOUT, lambda: table.check_running("etcd"))

        _log(f"starting kube-apiserver on {self.server}")
        table.start("kube-apiserver", [
            binaries["kube-apiserver"], f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={ports.apiserver}", f"--cert-dir={layout.root / 'apiserver-certs'}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC", "--allow-privileged=true",
            # 127.0.0.1 may not be a Service endpoint, so the `kubernetes` Service gets none.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ])
        wait_for(self.apiserver_ready, "kube-apiserver /readyz", STARTUP_TIMEOUT,
                 lambda: table.check_running("kube-apiserver"))

        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        for name, port, stem, extra in (
            ("kube-controller-manager", ports.controller_manager, "controller-manager", [
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                f"--cluster-signing-cert-file={p / 'ca.crt'}",
                f"--cluster-signing-key-file={p / 'ca.key'}",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
            ]),
            ("kube-scheduler", ports.scheduler, "scheduler", []),
        ):
            kubeconfig = layout.component_kubeconfig(stem)
            _log(f"starting {name} on 127.0.0.1:{port}")
            table.start(name, [
                binaries[name], f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={port}",
                f"--cert-dir={layout.root / (stem + '-certs')}", "--leader-elect=false",
                *extra,
            ])
        for name, port in (("kube-controller-manager", ports.controller_manager),
                           ("kube-scheduler", ports.scheduler)):
            wait_for(lambda port=port: _get(f"https://127.0.0.1:{port}/healthz", insecure)[0]
                     == 200, f"{name} /healthz", STARTUP_TIMEOUT,
                     lambda name=name: table.check_running(name))

        _log(f"starting kwok on 127.0.0.1:{ports.kwok}")
        layout.kwok_config.write_text(render_config(build_stages()))
        layout.kwok_home.mkdir(exist_ok=True)
        table.start("kwok", [
            binaries["kwok"], f"--kubeconfig={layout.component_kubeconfig('kwok')}",
            f"--config={layout.kwok_config}", "--manage-all-nodes=true",
            f"--server-address=127.0.0.1:{ports.kwok}", "--node-lease-duration-seconds=40",
        ], env={**os.environ, "HOME": str(layout.kwok_home)})
        wait_for(lambda: _get(f"http://127.0.0.1:{ports.kwok}/healthz")[0] == 200,
                 "kwok /healthz", STARTUP_TIMEOUT, lambda: table.check_running("kwok"))

        table.start("fates", [sys.executable, "-m", "tests.localcluster.fates",
                              f"--kubeconfig={layout.kubeconfig}"], cwd=REPO_ROOT)
        self._create_nodes()
        table.check_running("fates")

    def _create_nodes(self) -> None:
        from kubernetes import client, config

        api = client.CoreV1Api(config.new_client_from_config(str(self.layout.kubeconfig)))
        nodes = build_nodes(CPU_NODES, GPU_NODES)
        for node in nodes:
            api.create_node(node)
        names = {node["metadata"]["name"] for node in nodes}
        _log(f"created nodes {', '.join(sorted(names))}; waiting for them to be Ready")

        def schedulable() -> bool:
            ready = set()
            for node in api.list_node().items:
                conditions = {c.type: c.status for c in node.status.conditions or []}
                taints = {t.key for t in node.spec.taints or []}
                if (conditions.get("Ready") == "True"
                        and "node.kubernetes.io/not-ready" not in taints):
                    ready.add(node.metadata.name)
            return names <= ready

        wait_for(schedulable, "the fake nodes to be Ready and untainted", STARTUP_TIMEOUT,
                 lambda: self.table.check_running("kwok"))
        wait_for(lambda: bool(api.list_namespaced_service_account(
            "default", field_selector="metadata.name=default").items),
            "the default ServiceAccount", STARTUP_TIMEOUT,
            lambda: self.table.check_running("kube-controller-manager"))

    # -- stop ----------------------------------------------------------------------------------

    def down(self, quiet: bool = False, remove_state: bool = True) -> list[str]:
        """Stop the processes this launcher started and remove the cluster's state."""
        stopped = [name for name in reversed(COMPONENTS) if self.table.stop(name)]
        if remove_state and self.layout.root.exists():
            shutil.rmtree(self.layout.root)
        if not quiet:
            _log(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
        return stopped
