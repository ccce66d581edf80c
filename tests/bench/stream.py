"""The dashboard's live feed: /v1/jobs/stream over 1,000 OmveeJobs on the local control plane.
Figures: the snapshot's time and size, and how long a status change (a job pod reporting
progress) takes to reach a connected client. Also the cost of a saved-log read."""

from __future__ import annotations

import json
import queue
import statistics
import threading
import time
import uuid
from typing import Any

import httpx
from kubernetes import client, config

from api.v1alpha1 import constants
from tests.api_process import SERVICE_TOKEN, ApiProcess
from tests.bench.controlplane import default_cluster, percentile
from tests.crds import install_crd
from tests.localcluster.cluster import LocalCluster
from tests.namespaces import create_namespace
from tests.omveejobs import manifest

JOBS = 1000
CHANGES = 100


def _create(custom: client.CustomObjectsApi, namespace: str, count: int) -> list[str]:
    names = []
    for _ in range(count):
        body = manifest("placeholder")
        body["metadata"]["name"] = f"job-{body['spec']['jobId']}"
        custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.PLURAL, body
        )
        names.append(body["metadata"]["name"])
    return names


def _events(url: str, out: queue.Queue[tuple[float, str, Any]], stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    with (
        httpx.Client(base_url=url, timeout=None, headers=headers) as session,
        session.stream("GET", "/v1/jobs/stream", params={"timeout": 600}) as response,
    ):
        event = ""
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                out.put((time.perf_counter(), event, json.loads(line[6:])))


def run(cluster: LocalCluster) -> None:
    api = config.new_client_from_config(str(cluster.layout.kubeconfig))
    install_crd(api)
    custom = client.CustomObjectsApi(api)
    namespace = create_namespace(api, f"bench-stream-{uuid.uuid4().hex[:6]}")
    # No operator and no job pods' RBAC here: the OmveeJobs stay as created, and the only
    # changes are the ones this benchmark makes.
    server = ApiProcess(
        cluster.layout.kubeconfig, namespace, port_offset=92, log_name="api-bench-stream.log"
    )
    names = _create(custom, namespace, JOBS)
    server.start()
    received: queue.Queue[tuple[float, str, Any]] = queue.Queue()
    stop = threading.Event()
    try:
        opened = time.perf_counter()
        reader = threading.Thread(target=_events, args=(server.url, received, stop), daemon=True)
        reader.start()
        at, event, snapshot = received.get(timeout=60)
        assert event == "snapshot" and len(snapshot["items"]) == JOBS, (event, len(snapshot))
        snapshot_seconds = at - opened
        snapshot_bytes = len(json.dumps(snapshot, separators=(",", ":")))
        delays = []
        for i, name in enumerate(names[:CHANGES]):
            sent = time.perf_counter()
            custom.patch_namespaced_custom_object_status(
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.PLURAL,
                name,
                {"status": {"progress": 1 + i % 99}},
            )
            while True:
                at, event, data = received.get(timeout=30)
                if event == "upsert" and data["progress"] == 1 + i % 99:
                    delays.append(at - sent)
                    break
        stop.set()
    finally:
        server.stop()
        client.CoreV1Api(api).delete_namespace(namespace)
    print(
        f"stream over {JOBS} jobs: snapshot in {snapshot_seconds * 1000:.0f} ms "
        f"({snapshot_bytes / 1024:.0f} KiB); a status change reaches the client in "
        f"p50 {statistics.median(delays) * 1000:.0f} ms, p99 "
        f"{percentile(delays, 0.99) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms "
        f"({CHANGES} changes)"
    )


def main() -> None:
    print("== Live job stream (dashboard) ==")
    with default_cluster() as cluster:
        run(cluster)


if __name__ == "__main__":
    main()
