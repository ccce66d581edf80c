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

import httpx
import pytest
import yaml
from kubernetes import client, config

from tests.api_process import SERVICE_TOKEN, ApiProcess
from tests.crds import install_crd
from tests.helm import Helm, Release, wait_operator_policy
from tests.identities import service_account_kubeconfig
from tests.localcluster.cluster import LocalCluster
from tests.localcluster.layout import state_root
from tests.localcluster.nodehost import record_host
from tests.localcluster.realnode import host_differences
from tests.localpostgres import LocalPostgres
from tests.mirrordb import fresh_database, record_status_history
from tests.namespaces import create_namespace
from tests.operator_process import OperatorProcess


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The session's cluster (reused when one is up). One this session starts with a real node
    is checked on the way out: `down` must leave the host as `up` found it (sysctls, iptables
    chains, network namespaces, host folders, log links, addresses on lo)."""
    cluster = LocalCluster.default()
    started_here = not cluster.is_up()
    before = record_host(tmp_path_factory.mktemp("host")) if started_here else None
    if started_here:
        cluster.up()
    yield cluster
    if started_here:
        cluster.down()
        if cluster.real_node and before is not None:
            left = host_differences(before, record_host(tmp_path_factory.mktemp("host")))
            assert not left, "make cluster-down left host-wide changes:\n" + "\n".join(left)


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
def namespace(
    k8s: client.ApiClient, core: client.CoreV1Api, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh namespace named after the test, deleted (with everything in it) afterwards."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = create_namespace(k8s, f"{slug}-{uuid.uuid4().hex[:6]}")
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
def operator_mirror_dsn(postgres_url: str) -> str:
    """The database the session operator mirrors into. Its jobs_history table records every
    status a row has been through (a trigger), so tests can check the sequence."""
    import psycopg

    from controller.mirror import migrate

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("drop database if exists omvee_operator with (force)")
        admin.execute("create database omvee_operator")
    dsn = postgres_url.rsplit("/", 1)[0] + "/omvee_operator"
    migrate.apply(dsn, local=True)
    return record_status_history(dsn)


@pytest.fixture(scope="session")
def helm(kubeconfig: Path) -> Helm:
    return Helm(kubeconfig)


@pytest.fixture(scope="session")
def chart_release(
    helm: Helm, k8s: client.ApiClient, kubeconfig: Path, crd: dict[str, object], api_namespace: str
) -> Iterator[Release]:
    """The chart installed as in a cluster (operator cluster-wide, the API serving
    api_namespace), with kubeconfigs holding tokens of its operator and API ServiceAccounts:
    the session's operator and API run with exactly the rights the chart grants."""
    release = Release(
        name="omvee-tests",
        namespace=create_namespace(k8s, f"omvee-system-{uuid.uuid4().hex[:6]}"),
        operator_kubeconfig=state_root() / "chart-operator.kubeconfig",
        api_kubeconfig=state_root() / "chart-api.kubeconfig",
    )
    helm.install(
        release.name,
        release.namespace,
        "--set",
        "operator.clusterWide=true",
        "--set",
        f"api.namespace={api_namespace}",
    )
    wait_operator_policy(k8s, release)
    for account, target in (
        ("operator", release.operator_kubeconfig),
        ("api", release.api_kubeconfig),
    ):
        service_account_kubeconfig(
            k8s, kubeconfig, release.namespace, f"{release.fullname}-{account}", target
        )
    yield release
    helm.uninstall(release.name, release.namespace)
    client.CoreV1Api(k8s).delete_namespace(release.namespace)


@pytest.fixture(scope="session")
def operator(
    chart_release: Release,
    local_cluster: LocalCluster,
    operator_mirror_dsn: str,
) -> Iterator[OperatorProcess]:
    """The operator running as a local process for the whole session, as the chart's operator
    ServiceAccount, mirroring into PostgreSQL. A `make up` operator is paused meanwhile: two
    operators would both act.
    """
    from tests.devstack import stack_processes, start_operator

    paused = stack_processes().stop("operator")
    process = OperatorProcess(
        chart_release.operator_kubeconfig, env={"OMVEE_MIRROR_DSN": operator_mirror_dsn}
    )
    process.start()
    yield process
    process.stop()
    if paused:
        start_operator(local_cluster)


@pytest.fixture
def job_namespace(namespace: str, k8s: client.ApiClient) -> str:
    """A namespace ready for OmveeJobs: the job pods' ServiceAccount and Role applied."""
    from kubernetes import utils

    from tests.namespaces import JOB_RUNNER_RBAC

    utils.create_from_yaml(
        k8s, namespace=namespace, yaml_objects=list(yaml.safe_load_all(JOB_RUNNER_RBAC.read_text()))
    )
    return namespace


@pytest.fixture
def mirror_db(postgres_url: str) -> Iterator[str]:
    """A fresh database with the mirror's migrations applied (plus Supabase's roles)."""

    from controller.mirror import migrate

    with fresh_database(postgres_url, "mirror") as dsn:
        migrate.apply(dsn, local=True)
        yield dsn


@pytest.fixture(scope="session")
def api_namespace(core: client.CoreV1Api, k8s: client.ApiClient) -> Iterator[str]:
    """The namespace the test API creates OmveeJobs in (the chart adds the job pods' RBAC)."""
    name = create_namespace(k8s, f"api-tests-{uuid.uuid4().hex[:6]}")
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="session")
def api_server(
    operator: OperatorProcess, chart_release: Release, api_namespace: str
) -> Iterator[ApiProcess]:
    """The REST API as a local process, as the chart's API ServiceAccount, with the operator
    running behind it."""
    process = ApiProcess(chart_release.api_kubeconfig, api_namespace)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def http(api_server: ApiProcess) -> Iterator[httpx.Client]:
    """A client of the session's API, with its service token."""
    with httpx.Client(
        base_url=api_server.url, timeout=30, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    ) as session:
        yield session
