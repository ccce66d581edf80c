"""``make up`` / ``make down``: the local development stack in the background.

The local control plane, PostgreSQL (database `omvee` with the mirror's `jobs` table), the
OmveeJob CRD, the operator (mirroring into `omvee`) and the REST API (development mode), both as
local processes as they run out-of-cluster, plus a sample transcription submitted through the
API.

Run: ``python -m tests.devstack up|down``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from typing import Any

import yaml
from kubernetes import client, config, utils

from tests import factories
from tests.crds import install_crd
from tests.local_service import saved_logs_env
from tests.localcluster.binaries import BuildError
from tests.localcluster.cluster import ClusterError, LocalCluster
from tests.localcluster.layout import REPO_ROOT, Ports, state_root
from tests.localcluster.processes import ProcessError, ProcessTable
from tests.localpostgres import LocalPostgres, PostgresError
from tests.waiting import WaitTimeout, wait_for

NAMESPACE = "omvee"
SAMPLE_PROJECT_ID = "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10"
SAMPLE_JOB_ID = "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e"
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


def _start_service(name: str, port: int, env: dict[str, str], module: str) -> None:
    table = stack_processes()
    if table.alive(name):
        return
    table.start(
        name,
        [sys.executable, "-m", module],
        env={**os.environ, **saved_logs_env(), **env},
        cwd=REPO_ROOT,
    )

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return int(r.status) == 200
        except OSError:
            return False

    wait_for(healthy, f"the {name}'s /healthz", 60, lambda: table.check_running(name))


def start_operator(cluster: LocalCluster) -> None:
    mirror_dsn = prepare_mirror_db(LocalPostgres.default())
    _start_service(
        "operator",
        operator_port(),
        {
            "KUBECONFIG": str(cluster.layout.kubeconfig),
            "OMVEE_HEALTH_PORT": str(operator_port()),
            "OMVEE_MIRROR_DSN": mirror_dsn,
        },
        "controller",
    )


def start_api(cluster: LocalCluster) -> str:
    """The REST API in development mode: no token needed, on 127.0.0.1 only. Names under
    example.com resolve (tests.fakedns), so that the sample and the README's examples are
    accepted on a machine without DNS; kwok plays the pods, which fetch nothing."""
    port = Ports.from_env().base
    _start_service(
        "api",
        port,
        {
            "KUBECONFIG": str(cluster.layout.kubeconfig),
            "OMVEE_API_ENVIRONMENT": "development",
            "OMVEE_API_NAMESPACE": NAMESPACE,
            "OMVEE_API_HOST": "127.0.0.1",
            "OMVEE_API_PORT": str(port),
            "OMVEE_API_POD_ANNOTATION_PREFIXES": '["kwok.omvee.io/"]',
        },
        "tests.api_offline",
    )
    return f"http://127.0.0.1:{port}"


def submit_sample(api_url: str) -> str:
    """A transcription through the REST API, as OMVEE's backend submits one."""
    body = json.dumps(
        {
            "audio_url": "https://media.example.com/episode-1.mp3",
            "language": "en",
            "job_id": SAMPLE_JOB_ID,
            "pod_annotations": factories.pod_annotations(run_duration="30s"),
        }
    )
    request = urllib.request.Request(
        f"{api_url}/v1/projects/{SAMPLE_PROJECT_ID}/transcriptions",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["status_url"])


def up() -> None:
    cluster, postgres = LocalCluster.default(), LocalPostgres.default()
    cluster.up()
    postgres.up()
    api = config.new_client_from_config(str(cluster.layout.kubeconfig))
    install_crd(api)
    prepare_namespace(api)
    start_operator(cluster)
    api_url = start_api(cluster)
    status_url = submit_sample(api_url)
    kubeconfig = cluster.layout.kubeconfig
    table = stack_processes()
    print(f"""
OMVEE local stack is up.
  Kubernetes API   {cluster.server}
  kubeconfig       {kubeconfig}
  PostgreSQL       {postgres.url}
                   (data in {postgres.place})
  state            {state_root()}  (kubeconfigs, keys, logs)
  jobs table       psql {postgres.url.rsplit("/", 1)[0]}/omvee -c 'table jobs'
  REST API         {api_url}  (docs: {api_url}/docs; log: {table.log("api")})
  dashboard        {api_url}/dashboard
  operator health  http://127.0.0.1:{operator_port()}/healthz  (log: {table.log("operator")})
  metrics          http://127.0.0.1:{operator_port()}/metrics  {api_url}/metrics
  sample job       {status_url}
                   (a transcription on the GPU pool, runs 30 s)

  curl {status_url}
  curl -N {status_url}/events
  export KUBECONFIG={kubeconfig}
  kubectl -n {NAMESPACE} get ojob -w

Stop everything with: make down""")


def down() -> None:
    for name in ("api", "operator"):
        stopped = stack_processes().stop(name)
        print(f"[{name}] {'stopped' if stopped else 'was not running'}", file=sys.stderr)
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
