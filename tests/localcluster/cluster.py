"""Start, inspect and stop the local control plane: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok (fake nodes and pods) and the fates helper.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.localcluster import commands, pki
from tests.localcluster.binaries import BuildError, build_dir, ensure_binaries, real_node_enabled
from tests.localcluster.layout import REPO_ROOT, Layout, Ports
from tests.localcluster.nodehost import NODE_PROCESSES, NodeError, RealNode
from tests.localcluster.nodes import build_nodes
from tests.localcluster.processes import ProcessError, ProcessTable
from tests.localcluster.realnode import POOL, POOL_LABEL, NodeSettings, with_real_node
from tests.localcluster.stages import build_logs, build_stages, render_config
from tests.waiting import WaitTimeout, wait_for

CPU_NODES = int(os.environ.get("OMVEE_CPU_NODES", "2"))
GPU_NODES = int(os.environ.get("OMVEE_GPU_NODES", "2"))

# Started in this order, stopped in reverse.
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "fates",
)
STARTUP_TIMEOUT = 90.0
# What `kubectl logs` shows for every pod (kwok serves it; nothing really runs), in the CRI log
# format a kubelet keeps.
POD_LOG = "".join(
    f"2026-01-01T00:00:0{i}.000000000Z stdout F omvee fake job: step {i} of 3\n"
    for i in range(1, 4)
)
# Kept on new nodes until the node-lifecycle controller has seen them Ready.
NOT_READY_TAINT = "node.kubernetes.io/not-ready"


class ClusterError(RuntimeError):
    """The local cluster could not be brought up; the message says why."""


def _log(message: str) -> None:
    print(f"[cluster] {message}", file=sys.stderr, flush=True)


def _status_of(url: str, context: ssl.SSLContext | None = None) -> int:
    """The HTTP status of a GET, or 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ssl.SSLError):
        return 0


def port_in_use(port: int) -> bool:
    """Whether something listens on (or holds) ``port`` on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def _insecure_context() -> ssl.SSLContext:
    """For the self-signed health endpoints of controller-manager and scheduler."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def write_kubeconfig(path: Path, server: str, pki_dir: Path, stem: str, user: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "omvee-local",
                "cluster": {"server": server, "certificate-authority": str(pki_dir / "ca.crt")},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(pki_dir / f"{stem}.crt"),
                    "client-key": str(pki_dir / f"{stem}.key"),
                },
            }
        ],
        "contexts": [{"name": "omvee-local", "context": {"cluster": "omvee-local", "user": user}}],
        "current-context": "omvee-local",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@dataclass(frozen=True)
class NodeInfo:
    """The real node, for the lead's tests: an address on this host that pods reach (for a file
    server or PostgreSQL listening on it), the Node's name, its pool label and the pod CIDR."""

    ip: str
    name: str
    pool_label: tuple[str, str]
    pod_cidr: str


@dataclass
class LocalCluster:
    layout: Layout
    ports: Ports
    # A real node (containerd + kubelet + kube-proxy) besides kwok's fake ones: OMVEE_REAL_NODE.
    real_node: bool = False

    @classmethod
    def default(cls) -> LocalCluster:
        return cls(Layout.default(), Ports.from_env(), real_node_enabled())

    @property
    def node_settings(self) -> NodeSettings:
        return NodeSettings.for_cluster(self.layout.root, self.ports)

    @property
    def node(self) -> NodeInfo | None:
        """The real node's address, name, pool label and pod CIDR; None when it is off."""
        if not self.real_node:
            return None
        settings = self.node_settings
        return NodeInfo(settings.node_ip, settings.name, (POOL_LABEL, POOL), settings.pod_cidr)

    @property
    def real(self) -> RealNode:
        return RealNode(self.node_settings, self.table)

    def import_image(self, archive: Path) -> None:
        """Import a docker-archive/OCI tarball into the real node's containerd (k8s.io
        namespace). Raises NodeError when the real node does not run."""
        self.real.import_image(archive)

    def image_refs(self) -> dict[str, str]:
        """The image names the real node already holds, with their digests (empty without
        one)."""
        return self.real.image_refs() if self.real_node else {}

    @property
    def components(self) -> tuple[str, ...]:
        return (*COMPONENTS, *NODE_PROCESSES) if self.real_node else COMPONENTS

    @property
    def table(self) -> ProcessTable:
        return ProcessTable(self.layout.processes)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def apiserver_ready(self) -> bool:
        pki_dir = self.layout.pki
        if not (pki_dir / "admin.crt").is_file():
            return False
        context = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
        context.load_cert_chain(pki_dir / "admin.crt", pki_dir / "admin.key")
        return _status_of(f"{self.server}/readyz", context) == 200

    def status(self) -> dict[str, bool]:
        """Which components are running, by name."""
        return {name: self.table.alive(name) is not None for name in self.components}

    def is_up(self) -> bool:
        return all(self.status().values()) and self.apiserver_ready()

    # -- start ---------------------------------------------------------------------------------

    def up(self) -> None:
        binaries = {name: str(path) for name, path in ensure_binaries(self.real_node).items()}
        if self.real_node:
            self.real.check_free()
        if self.is_up():
            _log(f"already up, reusing it: {self.server}")
            return
        if self.table.names() or self.layout.root.exists():
            running = [name for name, alive in self.status().items() if alive] or ["nothing"]
            _log(
                f"found a stale or half-started cluster (running: {', '.join(running)}); "
                "cleaning it up"
            )
            self.down(quiet=True)
        busy = [
            f"{port} ({name})" for name, port in self.ports.named().items() if port_in_use(port)
        ]
        if busy:
            raise ClusterError(
                f"port(s) {', '.join(busy)} on 127.0.0.1 already in use by another program. "
                "Stop it, or move the cluster with OMVEE_PORT_BASE=<port> "
                f"(now {self.ports.base})."
            )
        started = time.monotonic()
        try:
            self._start_all(binaries)
        except (ClusterError, ProcessError, WaitTimeout, NodeError):
            self.down(quiet=True, remove_state=False)
            _log(f"start-up failed; stopped what was started. Logs: {self.layout.processes}")
            raise
        _log(f"up in {time.monotonic() - started:.1f}s")

    def _start(
        self,
        name: str,
        argv: list[str],
        health_url: str,
        context: ssl.SSLContext | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        _log(f"starting {name}")
        self.table.start(name, argv, env=env)
        wait_for(
            lambda: _status_of(health_url, context) == 200,
            f"{name} {health_url}",
            STARTUP_TIMEOUT,
            lambda: self.table.check_running(name),
        )

    def _start_all(self, binaries: dict[str, str]) -> None:
        layout, ports = self.layout, self.ports
        layout.root.mkdir(parents=True, exist_ok=True)
        node = self.node_settings
        if self.real_node:
            self.real.prepare_host()
        pki.generate(layout.pki, commands.SERVICE_IP, (node.node_ip,) if self.real_node else ())
        write_kubeconfig(layout.kubeconfig, self.server, layout.pki, "admin", "admin")
        clients = list(pki.CLIENTS[1:])
        if self.real_node:
            pki.generate_node(layout.pki, node.name, node.node_ip)
            clients += [
                c for c in pki.node_clients(node.name) if c.stem != "apiserver-kubelet-client"
            ]
        for client in clients:
            write_kubeconfig(
                layout.component_kubeconfig(client.stem),
                self.server,
                layout.pki,
                client.stem,
                client.user,
            )
        layout.pod_log.write_text(POD_LOG)
        layout.kwok_config.write_text(
            render_config(build_stages(), [build_logs(str(layout.pod_log))])
        )
        layout.kwok_home.mkdir(exist_ok=True)

        self._start(
            "etcd",
            commands.etcd(binaries["etcd"], layout, ports),
            f"{commands.etcd_url(ports)}/health",
        )
        self._start(
            "kube-apiserver",
            with_real_node(commands.kube_apiserver(binaries["kube-apiserver"], layout, ports), node)
            if self.real_node
            else commands.kube_apiserver(binaries["kube-apiserver"], layout, ports),
            f"{self.server}/livez",
            _insecure_context(),
        )
        wait_for(
            self.apiserver_ready,
            "kube-apiserver /readyz",
            STARTUP_TIMEOUT,
            lambda: self.table.check_running("kube-apiserver"),
        )
        for name, build, port in (
            ("kube-controller-manager", commands.kube_controller_manager, ports.controller_manager),
            ("kube-scheduler", commands.kube_scheduler, ports.scheduler),
        ):
            self._start(
                name,
                build(binaries[name], layout, ports),
                f"https://127.0.0.1:{port}/healthz",
                _insecure_context(),
            )
        # kwok also reads ~/.kwok/kwok.yaml; a private HOME keeps a user's file out of it.
        self._start(
            "kwok",
            commands.kwok(binaries["kwok"], layout, ports),
            f"http://127.0.0.1:{ports.kwok}/healthz",
            env={**os.environ, "HOME": str(layout.kwok_home)},
        )
        self.table.start(
            "fates",
            [sys.executable, "-m", "tests.localcluster.fates", f"--kubeconfig={layout.kubeconfig}"],
            cwd=REPO_ROOT,
        )
        self._create_nodes()
        self.table.check_running("fates")
        if self.real_node:
            from kubernetes import client as k8s_client
            from kubernetes import config as k8s_config

            api = k8s_client.CoreV1Api(k8s_config.new_client_from_config(str(layout.kubeconfig)))
            self.real.start(binaries, api)

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
                if (
                    conditions.get("Ready") == "True"
                    and "node.kubernetes.io/not-ready" not in taints
                ):
                    ready.add(node.metadata.name)
            return names <= ready

        wait_for(
            schedulable,
            "the fake nodes to be Ready and untainted",
            STARTUP_TIMEOUT,
            lambda: self.table.check_running("kwok"),
        )
        wait_for(
            lambda: (
                api.list_namespaced_service_account(
                    "default", field_selector="metadata.name=default"
                ).items
            ),
            "the default ServiceAccount",
            STARTUP_TIMEOUT,
            lambda: self.table.check_running("kube-controller-manager"),
        )

    # -- stop ----------------------------------------------------------------------------------

    def down(self, quiet: bool = False, remove_state: bool = True) -> list[str]:
        """Stop the processes this launcher started and remove the cluster's state."""
        stopped: list[str] = []
        settings = self.node_settings
        if settings.host_record.exists() or any(self.table.read(n) for n in NODE_PROCESSES):
            stopped += self.real.teardown(self._node_tool("crictl"), self._node_tool("kube-proxy"))
        stopped += [name for name in reversed(COMPONENTS) if self.table.stop(name)]
        if remove_state and self.layout.root.exists():
            shutil.rmtree(self.layout.root)
        if not quiet:
            _log(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
        return stopped

    @staticmethod
    def _node_tool(name: str) -> str | None:
        """The cached crictl/kube-proxy binary for `down`, without building anything."""
        from tests.localcluster.binaries import NODE_COMPONENTS, _go, _go_version

        try:
            go_version = _go_version(_go())
        except (BuildError, OSError, subprocess.SubprocessError):  # no Go: manual undo only
            return None
        for component in NODE_COMPONENTS:
            if name in component.outputs:
                path = build_dir(component, go_version) / name
                return str(path) if path.is_file() else None
        return None
