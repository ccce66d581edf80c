"""Run the operator: ``python -m controller`` (uses $KUBECONFIG or the in-cluster account)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import kopf
from kopf._core.engines.peering import Identity
from prometheus_client import disable_created_metrics

from api.catalog.profiles import CatalogError, load_catalog
from api.catalog.registry import TYPE_NAMES
from api.kubeclient import KubeConfigError, kube_client, kube_configuration
from api.logs.store import LogStoreError, logs_from_env
from api.statuswords import StatusWords, status_words
from controller.activity import ActiveGate
from controller.cache import ClusterCache
from controller.events import EventRecorder
from controller.flowcontrol import TokenBucket
from controller.k8s import Kube, RateLimitedApiClient
from controller.metrics.registry import OperatorMetrics
from controller.metrics.server import serving
from controller.mirror.sinks import PostgresSink, SupabaseSink, build_sink, error_message
from controller.mirror.tablecheck import TableMismatch, check_table
from controller.mirror.writer import MirrorWriter
from controller.reconcile import Reconciler
from controller.settings import OperatorSettings, SettingsError
from controller.workqueue import Requeue, WorkQueue, start_workers

log = logging.getLogger("controller")

PEERING_CHECK_SECONDS = 3.0


def _api_client(
    pool_size: int, bucket: TokenBucket, metrics: OperatorMetrics
) -> RateLimitedApiClient:
    """The reconciler's API client: ``pool_size`` connections, every request rate-limited by
    ``bucket`` and counted in ``metrics``. The watch caches have their own client: a watch
    is one long request, and their LISTs are not the reconciler's reads. Raises
    ``KubeConfigError`` without usable credentials (api.kubeclient)."""
    return RateLimitedApiClient(
        kube_configuration(pool_size=pool_size), bucket, on_request=metrics.client_request
    )


def _resync_loop(
    reconciler: Reconciler,
    queue: WorkQueue[tuple[str, str]],
    gate: ActiveGate,
    every: float,
    stop: threading.Event,
) -> None:
    """Queue every unsettled OmveeJob now and then: status never waits on a watch event. With
    peers, who acts is checked more often, and a replica taking over resyncs at once."""
    tick = every if gate.standalone else min(every, PEERING_CHECK_SECONDS)
    last = time.monotonic()
    while not stop.wait(tick):
        try:
            took_over = gate.refresh()
            if gate.is_active() and (took_over or time.monotonic() - last >= every):
                last = time.monotonic()
                for key in reconciler.resync():
                    queue.add(key)
        except Exception:  # the API server may be briefly away; try again next round
            log.exception("Resync failed; retrying in %.0fs", tick)


def _table_check(
    sink: PostgresSink | SupabaseSink, words: StatusWords
) -> Callable[[], None] | None:
    """Check at once that the `jobs` table holds what the mirror writes: every status in
    ``words``, every declared job type (``tablecheck``). Returns None when it does; when the
    database cannot be reached now, the check for the mirror's writer to run before its first
    write. Raises SystemExit(2) when the table cannot hold the rows (the problems logged)."""
    types = list(TYPE_NAMES)

    unchecked: list[str] = []

    def check() -> None:
        unchecked[:] = check_table(sink, words, types)
        for line in unchecked:
            log.warning("Could not check the jobs table for %s", line)

    try:
        check()
    except TableMismatch as error:
        log.error("Cannot start: %s", error)
        raise SystemExit(2) from None
    except Exception as error:  # unreachable now: the writer checks before its first write
        log.warning(
            "Cannot check the jobs table in %s now (%s): the mirror checks it before its "
            "first write",
            sink.describe(),
            error_message(error),
        )
        return check
    if unchecked:
        log.info(
            "Checked the jobs table in %s, but for the %d writes above",
            sink.describe(),
            len(unchecked),
        )
    else:
        log.info(
            "Checked the jobs table in %s: it holds every row the mirror writes", sink.describe()
        )
    return None


@kopf.on.login()
def login(**kwargs: object) -> kopf.ConnectionInfo | None:
    """kopf's login handler: the kubernetes client's credentials (the in-cluster account,
    else $KUBECONFIG or ~/.kube/config); raises kopf's LoginError when there are none."""
    return kopf.login_via_client(**kwargs)  # type: ignore[arg-type]


def kopf_settings(options: OperatorSettings) -> kopf.OperatorSettings:
    """Pure: kopf's settings for ``options``: watch timeouts (seconds) from
    ``watch_timeout_seconds``, no posted Events, no cluster scanning, handler state in
    ``omvee.io`` annotations."""
    settings = kopf.OperatorSettings()
    # A watch that went silent is dropped and re-established rather than trusted forever.
    settings.watching.server_timeout = options.watch_timeout_seconds
    settings.watching.client_timeout = options.watch_timeout_seconds + 30
    settings.watching.connect_timeout = 30
    settings.posting.enabled = False  # our own Events say what changed
    # Resources are resolved once at start (the chart installs the CRDs first), so the operator
    # needs no right to list CustomResourceDefinitions or Namespaces cluster-wide.
    settings.scanning.disabled = True
    # Nothing of ours uses kopf's handler state, but were it to, it must not live in status,
    # which the structural schema prunes.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="omvee.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="omvee.io")
    return settings


def main() -> None:
    """Run the operator until kopf stops: watch caches, workers, resync, Events, mirror and
    the health/metrics server. Raises SystemExit(2) on bad settings, catalog, log store or
    Kubernetes credentials."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kopf logs every handler call at INFO; the reconciler logs what actually changed.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    try:
        options = OperatorSettings.from_env()
        words = status_words()
        catalog = load_catalog(options.profiles_path)
        logs = logs_from_env()
    except (SettingsError, CatalogError, LogStoreError) as error:
        log.error("Cannot start: %s", error)
        raise SystemExit(2) from None
    stop = threading.Event()
    disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series: noise
    metrics = OperatorMetrics()
    mirror = None
    if sink := build_sink(options):
        mirror = MirrorWriter(sink, metrics=metrics, check=_table_check(sink, words))
        metrics.rows_waiting = mirror.pending
        metrics.rows_set_aside = mirror.set_aside
        mirror.start(stop)
        log.info("Mirroring job status to %s", sink.describe())
    if options.results is None:
        log.warning(
            "No results store (OMVEE_RESULTS_STORE): job result files stay in the pods' /tmp "
            "and are lost when they end; status.result still holds their summaries"
        )
    else:
        store = options.results
        where = store.host_path or store.claim or f"bucket {store.bucket}"
        log.info("Job results go to the %s store: %s", store.kind, where)
    bucket = TokenBucket(options.kube_qps, options.kube_burst)
    try:
        kube = Kube(_api_client(options.max_workers + 4, bucket, metrics))
        watching = kube_client(pool_size=8)
    except KubeConfigError as error:
        log.error("Cannot start: %s", error)
        stop.set()
        raise SystemExit(2) from None
    queue: WorkQueue[tuple[str, str]] = WorkQueue()
    metrics.queue_depth = queue.__len__
    cache = ClusterCache(
        watching,
        lambda namespace, name, urgent: queue.add((namespace, name), urgent),
        options.namespaces,
        options.watch_timeout_seconds,
    )
    cache.start(stop)
    events = EventRecorder(kube)
    events.start(stop)
    reconciler = Reconciler(
        kube,
        cache,
        catalog,
        mirror,
        logs,
        metrics=metrics,
        job_env=options.job_env,
        results=options.results,
        events=events,
        words=words,
    )
    gate = ActiveGate(
        kube,
        options.peering_name,
        options.identity,
        options.peering_priority,
        options.namespaces,
    )
    metrics.is_active = gate.is_active

    def work(key: tuple[str, str]) -> float | None:
        """Seconds until the key is looked at again, None for the next event or resync."""
        if not gate.is_active():  # a standby's queue drains; the active replica's resync has it
            return None
        started = time.monotonic()
        try:
            return reconciler.reconcile(*key)
        finally:
            metrics.reconciled(time.monotonic() - started)

    def requeued(key: tuple[str, str], requeue: Requeue) -> None:
        """Count a requeue of ``key`` (namespace, name); log and count it when it failed."""
        metrics.requeued(requeue.reason)
        if requeue.error is not None:
            log.error(
                "Could not reconcile OmveeJob %s/%s: %s; retrying in %.1fs",
                *key,
                requeue.error,
                requeue.after,
            )
            metrics.reconcile_failed()

    def start_when_synced() -> None:
        """Reconcile only from complete caches: a Job not yet listed must not read as gone."""
        started = time.monotonic()
        if not cache.wait_synced(stop):
            return
        log.info(
            "Watch caches filled in %.1fs: %d OmveeJobs, %d Jobs, %d pods",
            time.monotonic() - started,
            len(cache.omveejobs),
            len(cache.jobs),
            len(cache.pods),
        )
        start_workers(queue, options.max_workers, work, requeued)
        _resync_loop(reconciler, queue, gate, options.resync_seconds, stop)

    threading.Thread(target=start_when_synced, name="resync", daemon=True).start()
    log.info(
        "Operator starting: %d workers, resync every %.0fs, API client %g QPS (burst %d), %s",
        options.max_workers,
        options.resync_seconds,
        options.kube_qps,
        options.kube_burst,
        f"namespaces {', '.join(options.namespaces)}" if options.namespaces else "all namespaces",
    )

    async def operate() -> None:
        """kopf's operator (peering, login) with /healthz and /metrics served beside it."""
        # /healthz and /metrics on the health port (kopf's liveness endpoint serves one path)
        async with serving(options.health_port, metrics):
            await kopf.operator(
                settings=kopf_settings(options),
                standalone=gate.standalone,
                peering_name=options.peering_name or None,
                priority=options.peering_priority,
                identity=Identity(options.identity),
                clusterwide=not options.namespaces,
                namespaces=options.namespaces,
            )

    try:
        asyncio.run(operate())
    finally:
        stop.set()
        queue.close()


if __name__ == "__main__":
    main()
