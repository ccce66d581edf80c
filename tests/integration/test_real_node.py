"""The real node: pods really run (containerd + runc + kubelet), reach the API server through
the `kubernetes` Service, and kwok's fake nodes keep ordinary pods off themselves."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.localcluster.cluster import LocalCluster
from tests.localcluster.commands import SERVICE_IP
from tests.localcluster.nodes import FAKE_TAINT
from tests.localcluster.staticimage import PROBE_IMAGE, ensure_probe_image
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        os.environ.get("OMVEE_REAL_NODE", "1") == "0", reason="OMVEE_REAL_NODE=0: no real node"
    ),
]


@pytest.fixture(scope="module")
def probe(local_cluster: LocalCluster) -> str:
    local_cluster.import_image(ensure_probe_image())
    return PROBE_IMAGE


@pytest.fixture
def namespace(k8s: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(k8s)
    name = f"real-node-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_for(
        lambda: (
            core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        ),
        "the default ServiceAccount",
        30,
    )
    yield name
    core.delete_namespace(name)


def _spec(image: str, args: list[str], node: str) -> dict[str, Any]:
    return {
        "restartPolicy": "Never",
        "nodeSelector": {"omvee.io/pool": "local"},
        "containers": [{"name": "main", "image": image, "imagePullPolicy": "Never", "args": args}],
    }


def _finished(core: client.CoreV1Api, namespace: str, name: str) -> client.V1Pod:
    def done() -> client.V1Pod | None:
        pod = core.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase in ("Succeeded", "Failed") else None

    result: client.V1Pod = wait_for(done, f"pod {name} to finish", 90)
    return result


def test_a_pod_runs_on_the_real_node_with_exit_code_and_logs(
    k8s: client.ApiClient, local_cluster: LocalCluster, probe: str, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    assert local_cluster.node is not None
    node = local_cluster.node.name
    core.create_namespaced_pod(
        namespace,
        {"metadata": {"name": "hello"}, "spec": _spec(probe, ["echo", "hi", "there"], node)},
    )
    core.create_namespaced_pod(
        namespace, {"metadata": {"name": "fails"}, "spec": _spec(probe, ["exit", "7"], node)}
    )
    hello = _finished(core, namespace, "hello")
    assert hello.spec.node_name == node and hello.status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("hello", namespace) == "hi there\n"
    fails = _finished(core, namespace, "fails")
    assert fails.status.phase == "Failed"
    assert fails.status.container_statuses[0].state.terminated.exit_code == 7


def test_a_job_is_retried_on_the_real_node(
    k8s: client.ApiClient, local_cluster: LocalCluster, probe: str, namespace: str
) -> None:
    assert local_cluster.node is not None
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    spec = _spec(probe, ["exit", "3"], local_cluster.node.name)
    batch.create_namespaced_job(
        namespace,
        {"metadata": {"name": "retry"}, "spec": {"backoffLimit": 1, "template": {"spec": spec}}},
    )
    wait_for(
        lambda: (batch.read_namespaced_job("retry", namespace).status.failed or 0) >= 2,
        "two failed attempts",
        120,
    )
    pods = core.list_namespaced_pod(namespace, label_selector="job-name=retry").items
    assert len(pods) == 2
    assert {p.spec.node_name for p in pods} == {local_cluster.node.name}


def test_a_pod_reaches_the_api_server_through_the_kubernetes_service(
    k8s: client.ApiClient, local_cluster: LocalCluster, probe: str, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    assert local_cluster.node is not None
    node = local_cluster.node.name
    token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    core.create_namespaced_pod(
        namespace,
        {"metadata": {"name": "svc"}, "spec": _spec(probe, ["connect", SERVICE_IP, "443"], node)},
    )
    core.create_namespaced_pod(
        namespace, {"metadata": {"name": "token"}, "spec": _spec(probe, ["file", token], node)}
    )
    assert _finished(core, namespace, "svc").status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("svc", namespace) == f"connected to {SERVICE_IP}:443\n"
    assert _finished(core, namespace, "token").status.phase == "Succeeded"
    endpoints = core.read_namespaced_endpoints("kubernetes", "default")
    assert endpoints.subsets[0].addresses[0].ip == local_cluster.node.ip


def test_fake_nodes_are_tainted_and_the_real_node_is_not(
    k8s: client.ApiClient, local_cluster: LocalCluster
) -> None:
    assert local_cluster.node is not None
    for node in client.CoreV1Api(k8s).list_node().items:
        taints = [(t.key, t.value, t.effect) for t in node.spec.taints or []]
        fake = (FAKE_TAINT["key"], FAKE_TAINT["value"], FAKE_TAINT["effect"]) in taints
        assert fake is (node.metadata.name != local_cluster.node.name), node.metadata.name
