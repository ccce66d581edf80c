"""``make up`` / ``make down``: the local development stack in the background.

The local control plane, PostgreSQL (database `omvee` with the mirror's `jobs` table), the
OmveeJob CRD and the operator (a local process, as it runs out-of-cluster, mirroring into
`omvee`), plus a sample transcription job. The REST API joins this stack when it
exists (issue 5).

Run: ``python -m tests.devstack up|down``.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.request
from typing import Any

import yaml
from kubernetes import client, config, utils

from tests import factories
from tests.crds import install_crd
from tests.localcluster.binaries import BuildError
from tests.localcluster.cluster import ClusterError, LocalCluster
from tests.localcluster.layout import REPO_ROOT, Ports, state_root
from tests.localcluster.processes import ProcessError, ProcessTable
from tests.localpostgres import LocalPostgres, PostgresError
from tests.waiting import WaitTimeout, wait_for

NAMESPACE = "omvee"
EXAMPLE = REPO_ROOT / "charts/omvee/examples/transcription.yaml"
RBAC = REPO_ROOT / "charts/omvee/examples/job-runner-rbac.yaml"


def stack_processes() -> ProcessTable:
    return ProcessTable(state_root() / "stack")


def operator_port() -> int:
    return Ports.from_env().base + 83


def _ignore_conflict(call: Any) -> None:
    """Run a create; "already exists" is fine, since `make up` may run twice."""
    try:
        call()
    except client.ApiException as error:
        if error.status != 409:
            raise
    except utils.FailToCreateError as error:
        if any(e.status != 409 for e in error.api_exceptions):
            raise


def prepare_namespace(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    _ignore_conflict(lambda: core.create_namespace({"metadata": {"name": NAMESPACE}}))
    for document in yaml.safe_load_all(RBAC.read_text()):
        _ignore_conflict(lambda d=document: utils.create_from_dict(api, d, namespace=NAMESPACE))


def submit_sample(api: client.ApiClient) -> str:
    sample = yaml.safe_load(EXAMPLE.read_text())
    # Long enough on the fake GPU node to watch it run.
    sample["spec"]["podAnnotations"] = factories.pod_annotations(run_duration="30s")
    _ignore_conflict(
        lambda: client.CustomObjectsApi(api).create_namespaced_custom_object(
            "omvee.io", "v1alpha1", NAMESPACE, "omveejobs", sample
        )
    )
    return str(sample["metadata"]["name"])


def prepare_mirror_db(postgres: LocalPostgres) -> str:
    """The `omvee` database with the jobs table, as Supabase would hold it."""
    import psycopg

    from controller.mirror import migrate

    with psycopg.connect(postgres.url, autocommit=True) as admin:
        if not admin.execute("select 1 from pg_database where datname = 'omvee'").fetchone():
            admin.execute("create database omvee")
    dsn = postgres.url.rsplit("/", 1)[0] + "/omvee"
    migrate.apply(dsn, local=True)
    return dsn


def start_operator(cluster: LocalCluster) -> None:
    mirror_dsn = prepare_mirror_db(LocalPostgres.default())
    table = stack_processes()
    if table.alive("operator"):
        return
    port = operator_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.layout.kubeconfig),
        "OMVEE_HEALTH_PORT": str(port),
        "OMVEE_MIRROR_DSN": mirror_dsn,
    }
    table.start("operator", [sys.executable, "-m", "controller"], env=env, cwd=REPO_ROOT)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return int(r.status) == 200
        except OSError:
            return False

    wait_for(healthy, "the operator's /healthz", 60, lambda: table.check_running("operator"))


def up() -> None:
    cluster, postgres = LocalCluster.default(), LocalPostgres.default()
    cluster.up()
    postgres.up()
    api = config.new_client_from_config(str(cluster.layout.kubeconfig))
    install_crd(api)
    prepare_namespace(api)
    start_operator(cluster)
    sample = submit_sample(api)
    kubeconfig = cluster.layout.kubeconfig
    table = stack_processes()
    print(f"""
OMVEE local stack is up.
  Kubernetes API   {cluster.server}
  kubeconfig       {kubeconfig}
  PostgreSQL       {postgres.url}
  jobs table       psql {postgres.url.rsplit("/", 1)[0]}/omvee -c 'table jobs'
  operator health  http://127.0.0.1:{operator_port()}/healthz  (log: {table.log("operator")})
  sample job       {NAMESPACE}/{sample} (transcription on the GPU pool, runs 30 s)

  export KUBECONFIG={kubeconfig}
  kubectl -n {NAMESPACE} get ojob -w
  kubectl -n {NAMESPACE} describe ojob {sample}

Stop everything with: make down""")


def down() -> None:
    stopped = stack_processes().stop("operator")
    print(f"[operator] {'stopped' if stopped else 'was not running'}", file=sys.stderr)
    LocalCluster.default().down()
    stopped = LocalPostgres.default().down()
    print(f"[postgres] {'stopped' if stopped else 'was not running'}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.devstack")
    parser.add_argument("command", choices=["up", "down"])
    args = parser.parse_args(argv)
    try:
        up() if args.command == "up" else down()
    except (BuildError, ClusterError, ProcessError, PostgresError, WaitTimeout) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
