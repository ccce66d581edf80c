"""Two operator replicas sharing a kopf peering object, as the chart deploys them, each with the
chart's operator token: only the higher-priority one acts, and the other takes over when the
first stops."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.helm import Helm
from tests.identities import service_account_kubeconfig
from tests.namespaces import create_namespace
from tests.omveejobs import OmveeJobs, manifest
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster


def log_text(process: OperatorProcess) -> str:
    return process.log.read_text(errors="replace") if process.log.exists() else ""


@pytest.fixture
def namespaced_release(
    helm: Helm, k8s: client.ApiClient, kubeconfig: Path, crd: object, tmp_path: Path
) -> Iterator[tuple[str, str, Path]]:
    """A release watching one namespace; its operator runs below as two local processes."""
    suffix = uuid.uuid4().hex[:6]
    namespace = create_namespace(k8s, f"peering-{suffix}")
    release = f"peer-{suffix}"
    helm.install(release, namespace, "--set", "api.enabled=false", "--set", "operator.replicas=0")
    peering = f"{release}-omvee-operator"
    token = service_account_kubeconfig(k8s, kubeconfig, namespace, peering, tmp_path / "op.yaml")
    yield namespace, peering, token
    helm.uninstall(release, namespace)
    client.CoreV1Api(k8s).delete_namespace(namespace)


def test_one_replica_acts_and_the_other_takes_over(
    namespaced_release: tuple[str, str, Path], operator: OperatorProcess, k8s: client.ApiClient
) -> None:
    namespace, peering, token = namespaced_release
    replicas = []
    for number, priority in ((1, 200), (2, 100)):
        replica = OperatorProcess(
            token,
            port_offset=83 + number,
            namespaces=(namespace,),
            log_name=f"operator-peer-{number}.log",
            env={
                "OMVEE_PEERING": peering,
                "OMVEE_PEERING_PRIORITY": str(priority),
                "POD_NAME": f"replica-{number}",
                "OMVEE_MIRROR": "off",
            },
        )
        replica.log.unlink(missing_ok=True)
        replicas.append(replica)
    first, second = replicas
    ojobs = OmveeJobs(k8s, namespace)
    operator.stop()  # the session's cluster-wide operator would act in this namespace too
    try:
        first.start()
        wait_for(lambda: "Active: no live peer" in log_text(first), "replica 1 active", 30)
        second.start()
        wait_for(lambda: "Standing by" in log_text(second), "replica 2 standing by", 30)

        ojobs.create(manifest("while-first-acts"))
        assert ojobs.wait_final("while-first-acts")["phase"] == "Succeeded"
        assert f"{namespace}/while-first-acts" in log_text(first)
        assert f"{namespace}/while-first-acts" not in log_text(second)

        first.stop()  # a clean stop leaves the peering at once, so there is no lifetime to wait
        wait_for(lambda: "Active: no live peer" in log_text(second), "replica 2 taking over", 30)
        ojobs.create(manifest("after-handover"))
        assert ojobs.wait_final("after-handover")["phase"] == "Succeeded"
        assert f"{namespace}/after-handover" in log_text(second)
        assert "replica-1" in log_text(second)  # it named who it was waiting for
    finally:
        for replica in replicas:
            replica.stop()
        operator.start()
