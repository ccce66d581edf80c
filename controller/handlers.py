"""kopf wiring: every handler is a few lines that hand one OmveeJob to the Reconciler.

Only watch-event handlers are used: they add no finalizer (timers and delete handlers would),
so deleting an OmveeJob never waits for the operator. The periodic resync runs in its own thread
(see controller.__main__).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from api.v1alpha1 import constants
from controller.reconcile import Reconciler


def _reconciler(memo: Any) -> Reconciler:
    reconciler: Reconciler = memo.reconciler
    return reconciler


@kopf.on.event(constants.GROUP, constants.VERSION, constants.PLURAL, id="omveejob")
def on_omveejob(type: str, name: str, namespace: str | None, memo: Any, **_: Any) -> None:
    if type != "DELETED" and namespace:
        _reconciler(memo).reconcile(namespace, name)


@kopf.on.event("batch", "v1", "jobs", id="job", labels={constants.LABEL_OMVEEJOB: kopf.PRESENT})
def on_job(labels: Mapping[str, str], namespace: str | None, memo: Any, **_: Any) -> None:
    if namespace:
        _reconciler(memo).reconcile(namespace, labels[constants.LABEL_OMVEEJOB])


@kopf.on.event("", "v1", "pods", id="pod", labels={constants.LABEL_OMVEEJOB: kopf.PRESENT})
def on_pod(labels: Mapping[str, str], namespace: str | None, memo: Any, **_: Any) -> None:
    if namespace:
        _reconciler(memo).reconcile(namespace, labels[constants.LABEL_OMVEEJOB])
