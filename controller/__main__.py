"""Run the operator: ``python -m controller`` (uses $KUBECONFIG or the in-cluster account)."""

from __future__ import annotations

import asyncio
import logging
import threading

import kopf
from kubernetes import client, config

from api.catalog.profiles import CatalogError, load_catalog
from controller import handlers  # noqa: F401  (registers the handlers)
from controller.k8s import Kube
from controller.mirror.sinks import build_sink
from controller.mirror.writer import MirrorWriter
from controller.reconcile import Reconciler
from controller.settings import OperatorSettings, SettingsError
from controller.workqueue import WorkQueue, start_workers

log = logging.getLogger("controller")


def _api_client(pool_size: int) -> client.ApiClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


def _resync_loop(
    reconciler: Reconciler, queue: WorkQueue[tuple[str, str]], every: float, stop: threading.Event
) -> None:
    """Queue every unsettled OmveeJob now and then: status never waits on a watch event."""
    while not stop.wait(every):
        try:
            for key in reconciler.resync():
                queue.add(key)
        except Exception:  # the API server may be briefly away; try again next round
            log.exception("Resync failed; retrying in %.0fs", every)


@kopf.on.login()
def login(**kwargs: object) -> kopf.ConnectionInfo | None:
    return kopf.login_via_client(**kwargs)  # type: ignore[arg-type]


def kopf_settings(options: OperatorSettings) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    # A watch that went silent is dropped and re-established rather than trusted forever.
    settings.watching.server_timeout = options.watch_timeout_seconds
    settings.watching.client_timeout = options.watch_timeout_seconds + 30
    settings.watching.connect_timeout = 30
    settings.posting.enabled = False  # our own Events say what changed
    # Nothing of ours uses kopf's handler state, but were it to, it must not live in status,
    # which the structural schema prunes.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="omvee.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="omvee.io")
    return settings


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kopf logs every handler call at INFO; the reconciler logs what actually changed.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    try:
        options = OperatorSettings.from_env()
        catalog = load_catalog(options.profiles_path)
    except (SettingsError, CatalogError) as error:
        log.error("Cannot start: %s", error)
        raise SystemExit(2) from None
    stop = threading.Event()
    mirror = None
    if sink := build_sink(options):
        mirror = MirrorWriter(sink)
        mirror.start(stop)
        log.info("Mirroring job status to %s", sink.describe())
    reconciler = Reconciler(
        Kube(_api_client(options.max_workers + 4)), catalog, mirror, options.namespaces
    )
    queue: WorkQueue[tuple[str, str]] = WorkQueue()

    def work(key: tuple[str, str]) -> None:
        reconciler.reconcile(*key)

    def failed(key: tuple[str, str], error: Exception) -> None:
        log.error("Could not reconcile OmveeJob %s: %s; retrying at the next resync", key, error)

    start_workers(queue, options.max_workers, work, failed)
    threading.Thread(
        target=_resync_loop,
        name="resync",
        daemon=True,
        args=(reconciler, queue, options.resync_seconds, stop),
    ).start()
    log.info(
        "Operator starting: %d workers, resync every %.0fs, %s",
        options.max_workers,
        options.resync_seconds,
        f"namespaces {', '.join(options.namespaces)}" if options.namespaces else "all namespaces",
    )
    try:
        asyncio.run(
            kopf.operator(
                settings=kopf_settings(options),
                memo=kopf.Memo(queue=queue),
                standalone=options.standalone,
                clusterwide=not options.namespaces,
                namespaces=options.namespaces,
                liveness_endpoint=f"http://0.0.0.0:{options.health_port}/healthz",
            )
        )
    finally:
        stop.set()
        queue.close()


if __name__ == "__main__":
    main()
