"""Run the operator: ``python -m controller`` (uses $KUBECONFIG or the in-cluster account)."""

from __future__ import annotations

import asyncio
import logging
import threading

import kopf
from kubernetes import client, config

from api.catalog.profiles import load_catalog
from controller import handlers  # noqa: F401  (registers the handlers)
from controller.k8s import Kube
from controller.reconcile import Reconciler
from controller.settings import OperatorSettings

log = logging.getLogger("controller")


def _api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def _resync_loop(reconciler: Reconciler, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        try:
            reconciler.resync()
        except Exception:  # the API server may be briefly away; try again next round
            log.exception("Resync failed; retrying in %.0fs", every)


@kopf.on.login()
def login(**kwargs: object) -> kopf.ConnectionInfo | None:
    return kopf.login_via_client(**kwargs)  # type: ignore[arg-type]


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kopf logs every handler call at INFO; our reconciler logs what actually changed.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    options = OperatorSettings.from_env()
    catalog = load_catalog(options.profiles_path)
    reconciler = Reconciler(Kube(_api_client()), catalog)

    settings = kopf.OperatorSettings()
    settings.watching.server_timeout = options.watch_timeout_seconds
    settings.watching.client_timeout = options.watch_timeout_seconds + 30
    settings.watching.connect_timeout = 30
    settings.execution.max_workers = options.max_workers
    settings.batching.worker_limit = options.max_workers * 4
    settings.posting.enabled = False  # our own Events say what changed
    prefix = "omvee.io"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=prefix)

    stop = threading.Event()
    resync = threading.Thread(
        target=_resync_loop,
        name="resync",
        args=(reconciler, options.resync_seconds, stop),
        daemon=True,
    )
    resync.start()
    try:
        asyncio.run(
            kopf.operator(
                settings=settings,
                memo=kopf.Memo(reconciler=reconciler),
                standalone=options.standalone,
                clusterwide=not options.namespaces,
                namespaces=options.namespaces,
                liveness_endpoint=f"http://0.0.0.0:{options.health_port}/healthz",
            )
        )
    finally:
        stop.set()


if __name__ == "__main__":
    main()
