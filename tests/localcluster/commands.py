"""Pure: the command line of each control-plane process, from the layout and the ports."""

from __future__ import annotations

from tests.localcluster.layout import Layout, Ports

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service: first address of SERVICE_CIDR


def etcd_url(ports: Ports) -> str:
    return f"http://127.0.0.1:{ports.etcd}"


def etcd(binary: str, layout: Layout, ports: Ports) -> list[str]:
    client, peer = etcd_url(ports), f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        binary,
        "--name=node0",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=node0={peer}",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def kube_apiserver(binary: str, layout: Layout, ports: Ports) -> list[str]:
    pki = layout.pki
    return [
        binary,
        f"--etcd-servers={etcd_url(ports)}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={layout.root / 'apiserver-certs'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        # 127.0.0.1 may not be a Service endpoint, so the `kubernetes` Service gets none.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
    ]


def _component(binary: str, layout: Layout, stem: str, port: int) -> list[str]:
    """Flags kube-controller-manager and kube-scheduler share."""
    kubeconfig = layout.component_kubeconfig(stem)
    return [
        binary,
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={layout.root / (stem + '-certs')}",
        "--leader-elect=false",
        # The defaults (20 QPS) throttle the Job controller well below what kwok can play.
        "--kube-api-qps=200",
        "--kube-api-burst=400",
    ]


def kube_controller_manager(binary: str, layout: Layout, ports: Ports) -> list[str]:
    pki = layout.pki
    return [
        *_component(binary, layout, "controller-manager", ports.controller_manager),
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        "--use-service-account-credentials=true",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
    ]


def kube_scheduler(binary: str, layout: Layout, ports: Ports) -> list[str]:
    return _component(binary, layout, "scheduler", ports.scheduler)


def kwok(binary: str, layout: Layout, ports: Ports) -> list[str]:
    return [
        binary,
        f"--kubeconfig={layout.component_kubeconfig('kwok')}",
        f"--config={layout.kwok_config}",
        # Only the fake nodes: the real node (if any) has a kubelet of its own.
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--server-address=127.0.0.1:{ports.kwok}",
        # signed by the cluster's CA: the apiserver verifies the kubelets it calls
        f"--tls-cert-file={layout.pki / 'kwok-serving.crt'}",
        f"--tls-private-key-file={layout.pki / 'kwok-serving.key'}",
        # Nodes advertise kwok's server as their kubelet, so `kubectl logs` reaches it.
        "--node-ip=127.0.0.1",
        f"--node-port={ports.kwok}",
        "--node-lease-duration-seconds=40",
    ]
