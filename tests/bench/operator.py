"""The operator against its floor, side by side in one run (issue 15).

The floor: N batch/v1 Jobs, copies of one the operator built (same pod template, placement and
limits), created straight through the API server, one after another; the Job controller,
scheduler and kwok run them. No operator can finish N jobs faster. The product: N OmveeJobs
through the operator, created the same way, each pod running 1 s on kwok's CPU pool.

Measured (wall clock, seconds): floor time (first create -> all Jobs Complete), product time
(first create -> all OmveeJobs Succeeded), OmveeJob created -> its Job created, floor Job
created -> its first pod, mirror lag (the OmveeJob seen Succeeded by a watch -> its PostgreSQL
``jobs`` row reaching a final status, stamped by a trigger with clock_timestamp()), the
operator's peak RSS (VmHWM of its process) and API reads per reconcile. Then a restart: N more
OmveeJobs, the operator SIGKILLed once half have their Job (the rest are created while it is
down) and started a second later: how soon after the restart (or after its Job completed, if
later) each OmveeJob's status is final, and how many Jobs each OmveeJob got (one per run);
``OMVEE_BENCH_RESTART=0`` leaves that phase out (at 10,000 it doubles the run).

API reads: the API server's ``apiserver_request_total`` (GET and LIST on omveejobs, jobs and
pods) scraped from its /metrics before and after the product run. That counter has no user-agent
label; everything else in the cluster reads these resources through watches (the benchmark too),
so the difference is the operator's; the same count over the floor run, with the operator
idle, is printed as the background. Reconciles: the operator's own counter when it has one
(``omvee_reconcile_duration_seconds_count`` or ``omvee_reconciles_total``), else reads are
given per OmveeJob.

N: ``OMVEE_BENCH_JOBS`` (default 1000). Starts its own operator process (watching only the
benchmark's namespace) and its own database in the local PostgreSQL (started when not up); stop
a `make up` operator first for clean figures. Run: ``python -m tests.bench.operator``.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ProtocolError

from api.v1alpha1 import constants
from controller.mirror import migrate
from tests import factories
from tests.bench.controlplane import default_cluster
from tests.bench.stats import (
    Figures,
    api_reads,
    cpu_seconds,
    floor_job,
    latencies,
    metric_total,
    peak_rss_mb,
    requests_by_method,
)
from tests.bench.stats import table as figures_table
from tests.crds import install_crd
from tests.localcluster.cluster import LocalCluster
from tests.localpostgres import LocalPostgres
from tests.namespaces import create_namespace
from tests.omveejobs import manifest
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

RESOURCES = ("omveejobs", "jobs", "pods")
RECONCILE_COUNTERS = ("omvee_reconcile_duration_seconds_count", "omvee_reconciles_total")
TEMPLATE = "bench-template"
MIRROR_DB = "omvee_bench"

Key = Callable[[Any], "str | None"]
Record = Callable[[Any], None]


def jobs_setting() -> int:
    """N, from OMVEE_BENCH_JOBS (default 1000). Raises ValueError when not a positive int."""
    count = int(os.environ.get("OMVEE_BENCH_JOBS", "1000"))
    if count < 1:
        raise ValueError(f"OMVEE_BENCH_JOBS must be at least 1, not {count}")
    return count


def _watch(list_fn: Any, namespace: str, stop: threading.Event, record: Record) -> None:
    """Call ``record(obj)`` for every object a watch of ``namespace`` delivers, until ``stop``;
    resumes from the last resourceVersion so a reconnect does not replay the namespace."""
    version: str | None = None
    while not stop.is_set():
        stream = watch.Watch()
        try:
            for event in stream.stream(
                list_fn, namespace, timeout_seconds=30, resource_version=version
            ):
                record(event["object"])
                if stop.is_set():
                    return
            version = stream.resource_version
        except ApiException as error:
            if error.status != 410:  # 410 Gone: too old, start over from now
                raise
            version = None
        except ProtocolError:  # the connection dropped: resume, unless the cluster is going
            if stop.is_set():
                return


def _first_seen(seen: dict[str, float], key: Key) -> Record:
    """A record that notes in ``seen`` when (time.time()) each key first appeared."""

    def record(obj: Any) -> None:
        name = key(obj)
        if name and name not in seen:
            seen[name] = time.time()

    return record


def _watcher(
    list_fn: Any, namespace: str, seen: dict[str, float], stop: threading.Event, key: Key
) -> threading.Thread:
    return _watcher_of(list_fn, namespace, stop, _first_seen(seen, key))


def _watcher_of(
    list_fn: Any, namespace: str, stop: threading.Event, *records: Record
) -> threading.Thread:
    def record_all(obj: Any) -> None:
        for record in records:
            record(obj)

    thread = threading.Thread(
        target=_watch, daemon=True, args=(list_fn, namespace, stop, record_all)
    )
    thread.start()
    return thread


def _label(name: str, *alternatives: str) -> Key:
    def key(obj: Any) -> str | None:
        labels = obj.metadata.labels or {}
        for label in (name, *alternatives):
            if label in labels:
                return str(labels[label])
        return None

    return key


def _job_complete(job: Any) -> str | None:
    conditions = job.status.conditions if job.status else None
    done = any(c.type == "Complete" and c.status == "True" for c in conditions or [])
    return str(job.metadata.name) if done else None


def _ojob_phase(phase: str) -> Key:
    def key(obj: dict[str, Any]) -> str | None:
        matches = (obj.get("status") or {}).get("phase") == phase
        return str(obj["metadata"]["name"]) if matches else None

    return key


@contextmanager
def mirror_database() -> Iterator[str]:
    """A fresh database with the mirror's migrations in the local PostgreSQL (started here when
    not up, stopped after), plus ``bench_final``: when each row first reached a final status
    (a trigger, clock_timestamp()). Yields its DSN."""
    server = LocalPostgres.default()
    started_here = not server.running()
    if started_here:
        server.up()
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(f"drop database if exists {MIRROR_DB} with (force)")
        admin.execute(f"create database {MIRROR_DB}")
    dsn = server.url.rsplit("/", 1)[0] + f"/{MIRROR_DB}"
    try:
        migrate.apply(dsn, local=True)
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("""
                create table bench_final (k8s_name text primary key, at timestamptz not null);
                create function bench_record_final() returns trigger language plpgsql as $$
                begin
                    if new.status in ('succeeded', 'failed', 'cancelled') then
                        insert into bench_final values (new.k8s_name, clock_timestamp())
                        on conflict do nothing;
                    end if;
                    return new;
                end $$;
                create trigger bench_final after insert or update on public.jobs
                    for each row execute function bench_record_final();
            """)
        yield dsn
    finally:
        with psycopg.connect(server.url, autocommit=True) as admin:
            admin.execute(f"drop database if exists {MIRROR_DB} with (force)")
        if started_here:
            server.down()


def final_rows(dsn: str) -> dict[str, float]:
    """OmveeJob name -> when (epoch seconds) its row first reached a final status."""
    with psycopg.connect(dsn) as connection:
        rows = connection.execute("select k8s_name, extract(epoch from at) from bench_final")
        return {str(name): float(at) for name, at in rows}


def scrape(api: client.ApiClient) -> str:
    """The API server's /metrics text, read with ``api``'s credentials."""
    response = api.call_api(
        "/metrics", "GET", auth_settings=["BearerToken"], _preload_content=False,
        _return_http_data_only=True,
    )  # fmt: skip
    return bytes(response.data).decode()


def scrape_operator(operator: OperatorProcess) -> str:
    """The operator's own /metrics text (its health port)."""
    with urllib.request.urlopen(f"{operator.url}/metrics", timeout=10) as response:
        return bytes(response.read()).decode()


def _create_all(create: Callable[[str], object], names: list[str]) -> dict[str, float]:
    created: dict[str, float] = {}
    for name in names:
        create(name)
        created[name] = time.time()
    return created


def run(api: client.ApiClient, cluster: LocalCluster, dsn: str, count: int) -> Figures:
    """Floor, then product, in fresh namespaces; both are deleted afterwards."""
    install_crd(api)
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    custom = client.CustomObjectsApi(api)
    suffix = uuid.uuid4().hex[:6]
    product_ns = create_namespace(api, f"bench-ops-{suffix}", job_runner=True)
    floor_ns = create_namespace(api, f"bench-floor-{suffix}", job_runner=True)
    operator = OperatorProcess(
        cluster.layout.kubeconfig,
        resync_seconds=15,
        port_offset=82,
        namespaces=(product_ns,),
        log_name="operator-bench.log",
        env={"OMVEE_MIRROR_DSN": dsn},
    )
    operator.start()
    timeout = 120 + 0.3 * count
    stop = threading.Event()
    job_created: dict[str, float] = {}
    succeeded: dict[str, float] = {}
    failed: dict[str, float] = {}
    floor_pod: dict[str, float] = {}
    floor_done: dict[str, float] = {}

    def list_ojobs(namespace: str, **kwargs: Any) -> Any:
        return custom.list_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.PLURAL, **kwargs
        )

    job_done: dict[str, float] = {}
    ojob_jobs: dict[str, set[str]] = {}  # OmveeJob -> the uids of its Jobs

    def note_job(job: Any) -> None:
        owner = (job.metadata.labels or {}).get(constants.LABEL_OMVEEJOB)
        if owner:
            ojob_jobs.setdefault(owner, set()).add(job.metadata.uid)

    of_ojob = _label(constants.LABEL_OMVEEJOB)
    _watcher_of(
        batch.list_namespaced_job,
        product_ns,
        stop,
        _first_seen(job_created, of_ojob),
        _first_seen(job_done, lambda job: of_ojob(job) if _job_complete(job) else None),
        note_job,
    )
    _watcher_of(
        list_ojobs,
        product_ns,
        stop,
        _first_seen(succeeded, _ojob_phase("Succeeded")),
        _first_seen(failed, _ojob_phase("Failed")),
    )
    _watcher(
        core.list_namespaced_pod,
        floor_ns,
        floor_pod,
        stop,
        _label("batch.kubernetes.io/job-name", "job-name"),
    )
    _watcher(batch.list_namespaced_job, floor_ns, floor_done, stop, _job_complete)

    def alive() -> None:
        if operator.process is None or operator.process.poll() is not None:
            raise RuntimeError("the operator exited:\n" + operator.log_tail())
        if failed:
            raise RuntimeError(f"OmveeJobs failed: {sorted(failed)[:5]}")

    annotations = factories.pod_annotations(run_duration="1s")

    def create_ojob(name: str) -> object:
        # The floor's Jobs wait for a node as long as it takes; so must the product's (the
        # type's 300 s pending timeout fails jobs queued behind a few thousand others).
        body = manifest(name, pod_annotations=annotations, pendingTimeoutSeconds=int(timeout))
        return custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, product_ns, constants.PLURAL, body
        )

    try:
        create_ojob(TEMPLATE)
        wait_for(lambda: TEMPLATE in succeeded, "the template OmveeJob to succeed", 120, alive)
        built = batch.list_namespaced_job(
            product_ns, label_selector=f"{constants.LABEL_OMVEEJOB}={TEMPLATE}"
        ).items[0]
        template = api.sanitize_for_serialization(built)

        before = scrape(api)
        floor_names = [f"floor-{i}" for i in range(count)]
        started = time.time()
        floor_created = _create_all(
            lambda name: batch.create_namespaced_job(floor_ns, floor_job(template, name)),
            floor_names,
        )
        wait_for(lambda: len(floor_done) == count, f"{count} floor Jobs to complete", timeout)
        floor_seconds = max(floor_done.values()) - started
        background = api_reads(scrape(api), RESOURCES) - api_reads(before, RESOURCES)
        print(f"  floor: {count:,} Jobs Complete in {floor_seconds:.1f} s", flush=True)

        before, operator_before = scrape(api), scrape_operator(operator)
        stat_path = f"/proc/{operator.process.pid}/stat"  # type: ignore[union-attr]
        with open(stat_path) as proc:
            cpu_before = cpu_seconds(proc.read())
        names = [f"bench-{i}" for i in range(count)]
        started = time.time()
        submitted = _create_all(create_ojob, names)
        wait_for(
            lambda: all(n in succeeded for n in names),
            f"{count} OmveeJobs to succeed",
            timeout,
            alive,
        )
        product_seconds = max(succeeded[n] for n in names) - started
        reads = api_reads(scrape(api), RESOURCES) - api_reads(before, RESOURCES)
        operator_after = scrape_operator(operator)
        reconciles_after = metric_total(operator_after, RECONCILE_COUNTERS)
        reconciles_before = metric_total(operator_before, RECONCILE_COUNTERS)
        reconciles = (
            None if reconciles_after is None else reconciles_after - (reconciles_before or 0.0)
        )
        with open(f"/proc/{operator.process.pid}/status") as proc:  # type: ignore[union-attr]
            rss = peak_rss_mb(proc.read())
        with open(stat_path) as proc:
            cpu = cpu_seconds(proc.read()) - cpu_before
        by_method_before = requests_by_method(operator_before)
        writes = {
            method: total - by_method_before.get(method, 0.0)
            for method, total in requests_by_method(operator_after).items()
            if method != "GET"
        }

        rows: dict[str, float] = {}

        def all_rows_final() -> bool:
            rows.update(final_rows(dsn))
            return all(n in rows for n in names)

        wait_for(all_rows_final, f"{count} mirror rows to reach a final status", 60)
        restart = Restart([], [])
        if os.environ.get("OMVEE_BENCH_RESTART", "1") != "0":
            restart = _restart_phase(
                operator, create_ojob, count, job_created, job_done, succeeded, alive
            )
        restart_jobs = [len(ojob_jobs.get(name, set())) for name in [*names, *restart.names]]
    finally:
        stop.set()
        operator.stop()
        core.delete_namespace(product_ns)
        core.delete_namespace(floor_ns)
    return Figures(
        count=count,
        floor_seconds=floor_seconds,
        product_seconds=product_seconds,
        to_job=latencies(submitted, job_created),
        to_first_pod=latencies(floor_created, floor_pod),
        mirror_lag=latencies({n: succeeded[n] for n in names}, rows),
        peak_rss_mb=rss,
        reads=reads,
        background_reads=background,
        reconciles=reconciles,
        writes=writes,
        operator_cpu_seconds=cpu,
        restart_convergence=restart.convergence,
        jobs_per_run=sorted(set(restart_jobs)),
    )


@dataclass
class Restart:
    names: list[str]
    convergence: list[float]  # seconds, per OmveeJob


def _restart_phase(
    operator: OperatorProcess,
    create_ojob: Callable[[str], object],
    count: int,
    job_created: dict[str, float],
    job_done: dict[str, float],
    succeeded: dict[str, float],
    alive: Callable[[], None],
) -> Restart:
    """N more OmveeJobs; the operator is SIGKILLed once half of them have their Job and
    started again a second later. Per OmveeJob: seconds from the later of the restart and
    its Job's completion to its status Succeeded (the goal: within 30 s of the restart)."""
    names = [f"restart-{i}" for i in range(count)]
    for i, name in enumerate(names):
        create_ojob(name)
        if i == count // 2:
            break
    wait_for(
        lambda: sum(n in job_created for n in names) >= count // 2,
        f"{count // 2} Jobs before the kill",
        120 + 0.3 * count,
        alive,
    )
    operator.kill()
    for name in names[count // 2 + 1 :]:  # the rest arrive while it is down
        create_ojob(name)
    time.sleep(1.0)
    operator.start()
    restarted = time.time()
    wait_for(
        lambda: all(n in succeeded for n in names),
        f"{count} OmveeJobs to succeed after the restart",
        120 + 0.3 * count,
        alive,
    )
    return Restart(
        names, [succeeded[n] - max(restarted, job_done.get(n, restarted)) for n in names]
    )


def api_client(cluster: LocalCluster) -> client.ApiClient:
    """An admin client whose pool holds the benchmark's concurrent watches and requests."""
    configuration = client.Configuration()
    config.load_kube_config(str(cluster.layout.kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = 16
    return client.ApiClient(configuration)


def main() -> None:
    count = jobs_setting()
    print(
        f"== operator vs its floor: {count:,} OmveeJobs vs {count:,} copies of the operator's "
        "Job, pods run 1 s on kwok's CPU pool =="
    )
    with default_cluster() as cluster, mirror_database() as dsn:
        print(figures_table(run(api_client(cluster), cluster, dsn, count)))


if __name__ == "__main__":
    main()
