"""REST API submissions: 1,000 jobs from 8 concurrent clients against a real API process on
the local control plane. Every accepted job is an OmveeJob in etcd before its 202."""

from __future__ import annotations

import statistics
import threading
import time
import uuid

import httpx
from kubernetes import client, config

from tests.api_process import SERVICE_TOKEN, ApiProcess, upstream_job
from tests.bench.controlplane import default_cluster, percentile
from tests.crds import install_crd
from tests.localcluster.cluster import LocalCluster
from tests.namespaces import create_namespace
from tests.waiting import wait_for

COUNT = 1000
CLIENTS = 8


def run(cluster: LocalCluster) -> None:
    api = config.new_client_from_config(str(cluster.layout.kubeconfig))
    install_crd(api)
    core = client.CoreV1Api(api)
    namespace = create_namespace(api, f"bench-api-{uuid.uuid4().hex[:6]}")
    server = ApiProcess(
        cluster.layout.kubeconfig, namespace, port_offset=91, log_name="api-bench.log"
    )
    server.start()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    project = str(uuid.uuid4())
    with httpx.Client(
        base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    ) as session:
        upstream = upstream_job(session, project)  # what every scene job takes input from

    def worker(indices: range) -> None:
        with httpx.Client(
            base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
        ) as session:
            for i in indices:
                body = {
                    "type": "scene-generation",
                    "project_id": project,
                    "input": {"transcript_job_id": upstream},
                }
                started = time.perf_counter()
                response = session.post(
                    "/v1/jobs", json=body, headers={"Idempotency-Key": f"bench-{i}"}
                )
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    try:
        threads = [
            threading.Thread(target=worker, args=(range(c, COUNT, CLIENTS),))
            for c in range(CLIENTS)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = time.perf_counter() - started
        custom = client.CustomObjectsApi(api)
        wait_for(
            lambda: (
                len(
                    custom.list_namespaced_custom_object(
                        "omvee.io", "v1alpha1", namespace, "omveejobs"
                    )["items"]
                )
                == statuses.get(202, 0) + 1  # and the upstream
            ),
            "the OmveeJobs to be listed",
            30,
        )
    finally:
        server.stop()
        core.delete_namespace(namespace)
    print(
        f"{COUNT} submissions from {CLIENTS} clients: {total:.1f} s, {COUNT / total:.0f} "
        f"jobs/s; latency p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; "
        f"answers {dict(sorted(statuses.items()))}"
    )


def main() -> None:
    print("== REST API ==")
    with default_cluster() as cluster:
        run(cluster)


if __name__ == "__main__":
    main()
