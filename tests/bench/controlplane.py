"""What the local control plane costs: start-up time and Job throughput through the real Job
controller, scheduler and kwok. The figures are a floor for everything the operator adds.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubernetes import client, config

from tests import factories
from tests.localcluster.cluster import LocalCluster
from tests.localcluster.layout import Layout, Ports
from tests.namespaces import create_namespace
from tests.waiting import wait_for

SCRATCH_PORT_BASE = Ports.from_env().base + 2000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def default_cluster() -> Iterator[LocalCluster]:
    """The local cluster: reused when up, else started for the benchmark and stopped after."""
    cluster = LocalCluster.default()
    started_here = not cluster.is_up()
    if started_here:
        cluster.up()
    try:
        yield cluster
    finally:
        if started_here:
            cluster.down()


def bench_start() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        cluster = LocalCluster(
            Layout(Path(scratch) / "cluster"), Ports.from_base(SCRATCH_PORT_BASE)
        )
        started = time.monotonic()
        cluster.up()
        up = time.monotonic() - started
        started = time.monotonic()
        cluster.down(quiet=True)
        down = time.monotonic() - started
    print(f"cluster start (binaries cached, 4 nodes Ready): {up:.1f} s; stop: {down:.1f} s")


def bench_jobs(api: client.ApiClient, count: int, gpu: bool, run_duration: str) -> None:
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    namespace = create_namespace(api, f"bench-{uuid.uuid4().hex[:6]}")
    submitted: dict[str, float] = {}
    finished: dict[str, float] = {}
    annotations = factories.pod_annotations(run_duration=run_duration)
    started = time.monotonic()
    for i in range(count):
        name = f"job-{i}"
        batch.create_namespaced_job(
            namespace, factories.job(name, annotations=annotations, gpu=gpu)
        )
        submitted[name] = time.monotonic()
    submit_time = time.monotonic() - started

    def all_complete() -> bool:
        now = time.monotonic()
        for job in batch.list_namespaced_job(namespace).items:
            done = any(
                c.type == "Complete" and c.status == "True" for c in job.status.conditions or []
            )
            if done and job.metadata.name not in finished:
                finished[job.metadata.name] = now
        return len(finished) == count

    wait_for(all_complete, f"{count} jobs to complete", 600)
    total = time.monotonic() - started
    latencies = [finished[name] - submitted[name] for name in submitted]
    pool = "GPU pool (2 GPUs)" if gpu else "CPU pool"
    print(
        f"{count} Jobs on the {pool}, pods run {run_duration}: submitted in {submit_time:.1f} s, "
        f"all Complete after {total:.1f} s ({count / total:.1f} jobs/s); submit->Complete "
        f"p50 {statistics.median(latencies):.1f} s, p99 {percentile(latencies, 0.99):.1f} s"
    )
    core.delete_namespace(namespace)


def main() -> None:
    print("== local control plane ==")
    bench_start()
    with default_cluster() as cluster:
        api = config.new_client_from_config(str(cluster.layout.kubeconfig))
        bench_jobs(api, 100, gpu=False, run_duration="1s")
        bench_jobs(api, 10, gpu=True, run_duration="2s")


if __name__ == "__main__":
    main()
