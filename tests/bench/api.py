"""REST API submissions (issue 15): 1,000 transcriptions from 8, then from 50 concurrent clients
against a real API process on the local control plane, with the operator running on the same
namespace (it builds a Job per OmveeJob meanwhile, and kwok runs their pods). Every accepted
job is an OmveeJob in etcd before its 202. Input URLs name a host (``media.example.com``),
which the API does not resolve.

Printed side by side with issue 15's baseline (a fresh ``make up`` stack, IP-literal URLs):
throughput, client-side latency p50/p99/max, and where the time went: the API's own mean time
per submission (its ``omvee_api_request_duration_seconds``) and the API server's mean time per
OmveeJob create (``apiserver_request_duration_seconds``). Each client sends its next request
when the previous one is answered (closed loop), so the mean latency is clients / throughput:
a p99 of 25 ms at 50 clients needs at least 2,000 submissions/s.

Run: ``python -m tests.bench.api`` (reuses the local cluster when up, else starts one).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, replace

import httpx
from kubernetes import client, config
from prometheus_client.parser import text_string_to_metric_families

from tests import factories
from tests.api_process import SERVICE_TOKEN, ApiProcess
from tests.bench.controlplane import default_cluster, percentile
from tests.crds import install_crd
from tests.localcluster.cluster import LocalCluster
from tests.namespaces import create_namespace
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

COUNT = 1000
CLIENTS = (8, 50)
AUDIO_URL = "https://media.example.com/x.mp3"  # a name: accepted without resolving it
SUBMIT_ROUTE = "/v1/jobs"
# issue 15, fresh `make up` stack, IP-literal URLs: clients -> (jobs/s, p50 ms, p99 ms)
BASELINE = {8: (123.0, 59.0, 149.0), 50: (108.0, 293.0, 1900.0)}


@dataclass(frozen=True)
class Row:
    """One run: ``clients`` concurrent clients sending ``count`` submissions in ``seconds``;
    ``latencies`` client-side, seconds; ``api_mean``/``apiserver_mean``: mean seconds per
    submission in the API process and per OmveeJob create in the API server (None: unread);
    ``api_cpu``: the API process's CPU seconds per submission (user + system), which a busy
    machine changes least."""

    clients: int
    count: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]
    api_mean: float | None
    apiserver_mean: float | None
    api_cpu: float | None = None


def histogram_totals(text: str, name: str, labels: dict[str, str]) -> tuple[float, float]:
    """(sum, count) of histogram ``name`` over the series whose labels include ``labels``."""
    total, count = 0.0, 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not all(sample.labels.get(k) == v for k, v in labels.items()):
                continue
            if sample.name == f"{name}_sum":
                total += sample.value
            elif sample.name == f"{name}_count":
                count += sample.value
    return total, count


def mean_between(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    count = after[1] - before[1]
    return (after[0] - before[0]) / count if count > 0 else None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_metrics(server: ApiProcess) -> tuple[float, float]:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        text = bytes(response.read()).decode()
    return histogram_totals(
        text, "omvee_api_request_duration_seconds", {"method": "POST", "route": SUBMIT_ROUTE}
    )


def apiserver_metrics(api: client.ApiClient) -> tuple[float, float]:
    response = api.call_api(
        "/metrics", "GET", auth_settings=["BearerToken"], _preload_content=False,
        _return_http_data_only=True,
    )  # fmt: skip
    return histogram_totals(
        bytes(response.data).decode(),
        "apiserver_request_duration_seconds",
        {"verb": "POST", "resource": "omveejobs"},
    )


def submit_all(server: ApiProcess, project: str, clients: int, prefix: str) -> Row:
    """``COUNT`` transcriptions from ``clients`` threads, each with its own connection."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    body = {
        "type": "transcription",
        "project_id": project,
        "input": {"audio_url": AUDIO_URL},
        "pod_annotations": factories.pod_annotations(run_duration="1s"),
    }

    def worker(indices: range) -> None:
        with httpx.Client(
            base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
        ) as session:
            for i in indices:
                started = time.perf_counter()
                response = session.post(
                    SUBMIT_ROUTE, json=body, headers={"Idempotency-Key": f"{prefix}-{i}"}
                )
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    threads = [
        threading.Thread(target=worker, args=(range(c, COUNT, clients),)) for c in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Row(clients, COUNT, time.perf_counter() - started, latencies, statuses, None, None)


def table(rows: list[Row]) -> str:
    """The runs beside issue 15's baseline, one line per client count."""
    header = (
        "| clients | jobs/s (baseline) | p50 ms (baseline) | p99 ms (baseline) | max ms "
        "| API ms/submission | API CPU ms/submission | API server ms/create | answers |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for row in rows:
        base_rate, base_p50, base_p99 = BASELINE.get(row.clients, (float("nan"),) * 3)

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value * 1000:.1f}"

        lines.append(
            f"| {row.clients} | {row.count / row.seconds:.0f} ({base_rate:.0f}) "
            f"| {statistics.median(row.latencies) * 1000:.0f} ({base_p50:.0f}) "
            f"| {percentile(row.latencies, 0.99) * 1000:.0f} ({base_p99:.0f}) "
            f"| {max(row.latencies) * 1000:.0f} | {ms(row.api_mean)} | {ms(row.api_cpu)} "
            f"| {ms(row.apiserver_mean)} | {dict(sorted(row.statuses.items()))} |"
        )
    return "\n".join(lines)


def run(cluster: LocalCluster) -> list[Row]:
    """Both client counts against one API process and one operator, in a fresh namespace
    (deleted afterwards)."""
    api = config.new_client_from_config(str(cluster.layout.kubeconfig))
    install_crd(api)
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    namespace = create_namespace(api, f"bench-api-{uuid.uuid4().hex[:6]}", job_runner=True)
    operator = OperatorProcess(
        cluster.layout.kubeconfig,
        resync_seconds=15,
        port_offset=89,
        namespaces=(namespace,),
        log_name="operator-bench-api.log",
    )
    server = ApiProcess(
        cluster.layout.kubeconfig, namespace, port_offset=91, log_name="api-bench.log"
    )
    rows: list[Row] = []
    try:
        operator.start()
        server.start()
        project = str(uuid.uuid4())
        assert server.process is not None
        pid = server.process.pid
        for clients in CLIENTS:
            api_before, apiserver_before = api_metrics(server), apiserver_metrics(api)
            cpu_before = cpu_seconds(pid)
            row = submit_all(server, project, clients, f"bench-{clients}")
            rows.append(
                replace(
                    row,
                    api_cpu=(cpu_seconds(pid) - cpu_before) / row.count,
                    api_mean=mean_between(api_before, api_metrics(server)),
                    apiserver_mean=mean_between(apiserver_before, apiserver_metrics(api)),
                )
            )
        accepted = sum(row.statuses.get(202, 0) for row in rows)
        wait_for(
            lambda: (
                len(
                    custom.list_namespaced_custom_object(
                        "omvee.io", "v1alpha1", namespace, "omveejobs"
                    )["items"]
                )
                == accepted
            ),
            "the OmveeJobs to be listed",
            30,
        )
    finally:
        server.stop()
        operator.stop()
        core.delete_namespace(namespace)
    return rows


def main() -> None:
    print(
        f"== REST API: {COUNT:,} submissions per row, operator running, URL host names "
        "(not resolved); baseline: issue 15 =="
    )
    with default_cluster() as cluster:
        print(table(run(cluster)))


if __name__ == "__main__":
    main()
