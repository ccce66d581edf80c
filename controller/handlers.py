"""kopf wiring: every handler only queues the OmveeJob concerned for reconciliation.

Only watch-event handlers are used: they add no finalizer (timers and delete handlers would),
so deleting an OmveeJob never waits for the operator. Workers and the periodic resync are
started by controller.__main__.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from api.v1alpha1 import constants
from controller.workqueue import WorkQueue


def _queue(memo: Any) -> WorkQueue[tuple[str, str]]:
    queue: WorkQueue[tuple[str, str]] = memo.queue
    return queue


@kopf.on.event(constants.GROUP, constants.VERSION, constants.PLURAL, id="omveejob")
async def on_omveejob(type: str, name: str, namespace: str | None, memo: Any, **_: Any) -> None:
    if type != "DELETED" and namespace:
        _queue(memo).add((namespace, name))


@kopf.on.event("batch", "v1", "jobs", id="job", labels={constants.LABEL_OMVEEJOB: kopf.PRESENT})
async def on_job(labels: Mapping[str, str], namespace: str | None, memo: Any, **_: Any) -> None:
    if namespace:
        _queue(memo).add((namespace, labels[constants.LABEL_OMVEEJOB]))


@kopf.on.event("", "v1", "pods", id="pod", labels={constants.LABEL_OMVEEJOB: kopf.PRESENT})
async def on_pod(labels: Mapping[str, str], namespace: str | None, memo: Any, **_: Any) -> None:
    if namespace:
        _queue(memo).add((namespace, labels[constants.LABEL_OMVEEJOB]))
