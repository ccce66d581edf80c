"""How fast the operator turns OmveeJobs into Jobs and final statuses: 200 jobs at once.

Starts its own operator process watching only the benchmark's namespace (stop a `make up`
operator first for clean figures). Pods run 1 s on the fake CPU pool.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from typing import Any

from kubernetes import client, config, watch

from api.v1alpha1 import constants
from tests import factories
from tests.bench.controlplane import default_cluster, percentile
from tests.crds import install_crd
from tests.localcluster.cluster import LocalCluster
from tests.namespaces import create_namespace
from tests.omveejobs import manifest
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

COUNT = 200


def _watch(
    stream_fn: Any, namespace: str, seen: dict[str, float], stop: threading.Event, key: Any
) -> None:
    while not stop.is_set():
        for event in watch.Watch().stream(stream_fn, namespace, timeout_seconds=5):
            name = key(event["object"])
            if name and name not in seen:
                seen[name] = time.monotonic()
            if stop.is_set():
                return


def _ojob_done(obj: dict[str, Any]) -> str | None:
    phase = (obj.get("status") or {}).get("phase")
    return str(obj["metadata"]["name"]) if phase == "Succeeded" else None


def run(api: client.ApiClient, cluster: LocalCluster) -> None:
    install_crd(api)
    core = client.CoreV1Api(api)
    namespace = create_namespace(api, f"bench-ops-{uuid.uuid4().hex[:6]}", job_runner=True)
    operator = OperatorProcess(
        cluster.layout.kubeconfig,
        resync_seconds=15,
        port_offset=82,
        namespaces=(namespace,),
        log_name="operator-bench.log",
    )
    operator.start()
    custom, batch = client.CustomObjectsApi(api), client.BatchV1Api(api)
    submitted: dict[str, float] = {}
    job_created: dict[str, float] = {}
    succeeded: dict[str, float] = {}
    stop = threading.Event()
    watchers = [
        threading.Thread(
            target=_watch,
            daemon=True,
            args=(
                batch.list_namespaced_job,
                namespace,
                job_created,
                stop,
                lambda job: job.metadata.labels.get(constants.LABEL_OMVEEJOB),
            ),
        ),
        threading.Thread(
            target=_watch,
            daemon=True,
            args=(
                lambda ns, **kw: custom.list_namespaced_custom_object(
                    constants.GROUP, constants.VERSION, ns, constants.PLURAL, **kw
                ),
                namespace,
                succeeded,
                stop,
                _ojob_done,
            ),
        ),
    ]
    for thread in watchers:
        thread.start()
    try:
        started = time.monotonic()
        annotations = factories.pod_annotations(run_duration="1s")
        for i in range(COUNT):
            name = f"bench-{i}"
            custom.create_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.PLURAL,
                manifest(name, pod_annotations=annotations),
            )
            submitted[name] = time.monotonic()
        submit_seconds = time.monotonic() - started
        wait_for(lambda: len(succeeded) == COUNT, f"{COUNT} OmveeJobs to succeed", 600)
        total = time.monotonic() - started
    finally:
        stop.set()
        operator.stop()
        core.delete_namespace(namespace)
    to_job = [job_created[n] - submitted[n] for n in submitted]
    to_done = [succeeded[n] - submitted[n] for n in submitted]
    print(
        f"{COUNT} OmveeJobs (pods run 1 s, CPU pool): submitted in {submit_seconds:.1f} s, "
        f"all Succeeded after {total:.1f} s ({COUNT / total:.1f} jobs/s)"
    )
    print(
        f"  OmveeJob created -> Job created: p50 {statistics.median(to_job):.2f} s, "
        f"p95 {percentile(to_job, 0.95):.2f} s, max {max(to_job):.2f} s"
    )
    print(
        f"  OmveeJob created -> Succeeded:   p50 {statistics.median(to_done):.2f} s, "
        f"p95 {percentile(to_done, 0.95):.2f} s, max {max(to_done):.2f} s"
    )


def main() -> None:
    print("== operator ==")
    with default_cluster() as cluster:
        run(config.new_client_from_config(str(cluster.layout.kubeconfig)), cluster)


if __name__ == "__main__":
    main()
