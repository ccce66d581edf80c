"""``make up`` / ``make down``: the local development stack in the background.

Today: the local control plane and PostgreSQL, plus a sample GPU job. The operator and the REST
API join this stack when they exist (issues 3 and 5).

Run: ``python -m tests.devstack up|down``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kubernetes import client, config

from tests import factories
from tests.localcluster.binaries import BuildError
from tests.localcluster.cluster import ClusterError, LocalCluster
from tests.localcluster.processes import ProcessError
from tests.localpostgres import LocalPostgres, PostgresError
from tests.waiting import WaitTimeout

NAMESPACE = "omvee"
SAMPLE_JOB = "sample-transcription"


def sample_job() -> dict[str, Any]:
    """A GPU job that runs for 30 s on the fake GPU pool, then succeeds."""
    job = factories.job(
        SAMPLE_JOB,
        backoff_limit=2,
        gpu=True,
        annotations=factories.pod_annotations(run_duration="30s"),
    )
    job["metadata"]["labels"] = {
        "app.kubernetes.io/part-of": "omvee",
        "omvee.io/type": "transcription",
    }
    return job


def submit_sample(cluster: LocalCluster) -> None:
    api = config.new_client_from_config(str(cluster.layout.kubeconfig))
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    try:
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    except client.ApiException as error:
        if error.status != 409:
            raise
    try:
        batch.create_namespaced_job(NAMESPACE, sample_job())
    except client.ApiException as error:
        if error.status != 409:
            raise


def up() -> None:
    cluster, postgres = LocalCluster.default(), LocalPostgres.default()
    cluster.up()
    postgres.up()
    submit_sample(cluster)
    kubeconfig = cluster.layout.kubeconfig
    print(f"""
OMVEE local stack is up.
  Kubernetes API  {cluster.server}
  kubeconfig      {kubeconfig}
  PostgreSQL      {postgres.url}
  sample job      {NAMESPACE}/{SAMPLE_JOB} (GPU pool, runs 30 s)

  export KUBECONFIG={kubeconfig}
  kubectl get nodes
  kubectl -n {NAMESPACE} get jobs,pods -o wide --watch

Stop everything with: make down""")


def down() -> None:
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
