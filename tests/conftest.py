"""Shared fixtures: the local control plane, a namespace per test, and PostgreSQL.

Both servers are session-scoped: started once when a test first needs them, reused when they are
already up (``make up``, ``make cluster-up``), and stopped at the end only if this session started
them. Unit tests request neither, so ``pytest tests/unit`` starts nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.crds import install_crd
from tests.localcluster.cluster import LocalCluster
from tests.localpostgres import LocalPostgres
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    cluster = LocalCluster.default()
    started_here = not cluster.is_up()
    if started_here:
        cluster.up()
    yield cluster
    if started_here:
        cluster.down()


@pytest.fixture(scope="session")
def kubeconfig(local_cluster: LocalCluster) -> Path:
    return local_cluster.layout.kubeconfig


@pytest.fixture(scope="session")
def k8s(kubeconfig: Path) -> client.ApiClient:
    """An admin API client for the local cluster."""
    return config.new_client_from_config(str(kubeconfig))


@pytest.fixture(scope="session")
def core(k8s: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(k8s)


@pytest.fixture(scope="session")
def batch(k8s: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(k8s)


@pytest.fixture
def namespace(core: client.CoreV1Api, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted (with everything in it) afterwards."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"omvee.io/test": "true"}}})
    # The ServiceAccount admission plugin refuses pods until the default ServiceAccount exists.
    wait_for(
        lambda: (
            core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        ),
        f"ServiceAccount {name}/default",
        30,
    )
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="session")
def local_postgres() -> Iterator[LocalPostgres]:
    server = LocalPostgres.default()
    started_here = not server.running()
    if started_here:
        server.up()
    yield server
    if started_here:
        server.down()


@pytest.fixture(scope="session")
def postgres_url(local_postgres: LocalPostgres) -> str:
    """A superuser connection URL (``postgresql://postgres@127.0.0.1:<port>/postgres``)."""
    return local_postgres.url


@pytest.fixture(scope="session")
def crd(k8s: client.ApiClient) -> dict[str, object]:
    """The OmveeJob CRD from the chart, installed (or updated) and Established."""
    return install_crd(k8s)


@pytest.fixture(scope="session")
def operator(
    crd: dict[str, object], kubeconfig: Path, local_cluster: LocalCluster
) -> Iterator[OperatorProcess]:
    """The operator running as a local process for the whole session.

    A `make up` operator is paused meanwhile: two operators on one cluster would both act.
    """
    from tests.devstack import stack_processes, start_operator

    paused = stack_processes().stop("operator")
    process = OperatorProcess(kubeconfig)
    process.start()
    yield process
    process.stop()
    if paused:
        start_operator(local_cluster)


@pytest.fixture
def job_namespace(namespace: str, k8s: client.ApiClient) -> str:
    """A namespace ready for OmveeJobs: the job pods' ServiceAccount and Role applied."""
    import yaml
    from kubernetes import utils

    from tests.localcluster.layout import REPO_ROOT

    rbac = REPO_ROOT / "charts/omvee/examples/job-runner-rbac.yaml"
    utils.create_from_yaml(
        k8s, yaml_objects=list(yaml.safe_load_all(rbac.read_text())), namespace=namespace
    )
    return namespace
