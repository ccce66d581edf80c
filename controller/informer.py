"""Watch caches: client-go's reflector + indexer, on the kubernetes client's list and watch.

An ``Informer`` lists one resource kind (in pages, with a server-side label selector), keeps
the bodies in a ``Store``, then watches from the list's resourceVersion and applies every
event. When the watch ends it resumes from the last resourceVersion seen (watch bookmarks keep
it fresh); when the API server answers 410 Gone, or anything goes wrong, it lists again and
*replaces* what it holds, so an object deleted while no watch was open leaves the cache too
(the reflector's ``Replace``). Reconciles read from the stores and make no API read for an
object that has not changed.

The stores are written by the informer threads and by the reconciler (``Store.put`` of what a
write returned, as controller-runtime's cache sees its own writes once the watch delivers
them; ours sees them at once). ``Store.put`` keeps whichever body has the higher
resourceVersion, so an older watch event never replaces a newer write.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from kubernetes import client
from kubernetes.watch.watch import iter_resp_lines

from controller.workqueue import retry_delay

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
IndexFunc = Callable[[Obj], Iterable[Hashable]]
# lister(namespace or None for all namespaces, **query) -> the raw response
# (``_preload_content=False``) of a LIST, or of a WATCH when ``watch=True`` is in the query
Lister = Callable[..., Any]

LIST_PAGE = 500  # objects per LIST page: client-go's pager default (pager.defaultPageSize)
# After a failed list or watch: 0.2 s doubling to this. client-go's reflector backs off 0.8 s
# to 30 s; ours stays short because while a watch is down the cache (and every reconcile that
# reads it) is behind, and three informers relisting cost the API server little.
RELIST_MAX_SECONDS = 5.0
RESUME_TRIES = 3  # watches in a row that fail before the informer lists again


def key_of(obj: Obj) -> Key:
    """(namespace, name) of a Kubernetes object ("" for a cluster-scoped one's namespace)."""
    meta = obj["metadata"]
    return (str(meta.get("namespace") or ""), str(meta["name"]))


def newer_or_same(candidate: Obj, held: Obj) -> bool:
    """Pure: whether ``candidate`` may replace ``held`` (two bodies of one object). The API
    server's resourceVersions are etcd revisions, which grow; compared as numbers when both
    are, else the candidate wins (the watch order is the truth)."""
    a = str(candidate["metadata"].get("resourceVersion") or "")
    b = str(held["metadata"].get("resourceVersion") or "")
    if a.isdigit() and b.isdigit():
        return int(a) >= int(b)
    return True


def _uid(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("uid") or "")


class Store:
    """Thread-safe bodies by (namespace, name), with secondary indexes (client-go's
    ``cache.Indexer``): ``indexers`` maps an index name to a function giving the index
    values of an object. Returned bodies are shared: callers must not change them.

    A deleted object leaves a tombstone (its uid) for ``tombstone_seconds``: a body of it put
    afterwards (a write's answer that lost the race with the DELETED event) is refused, so a
    deleted object never comes back; a new object of the same name (another uid) is taken."""

    def __init__(
        self, indexers: dict[str, IndexFunc] | None = None, tombstone_seconds: float = 600.0
    ) -> None:
        self._indexers = dict(indexers or {})
        self._items: dict[Key, Obj] = {}
        self._indexes: dict[str, dict[Hashable, set[Key]]] = {n: {} for n in self._indexers}
        self._deleted: OrderedDict[Key, tuple[str, float]] = OrderedDict()  # uid, when
        self.tombstone_seconds = tombstone_seconds
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, namespace: str, name: str) -> Obj | None:
        """The body of (namespace, name), or None when the store holds none."""
        with self._lock:
            return self._items.get((namespace, name))

    def by_index(self, index: str, value: Hashable) -> list[Obj]:
        """Every object whose ``index`` function gave ``value``."""
        with self._lock:
            keys = self._indexes[index].get(value, ())
            return [self._items[k] for k in keys]

    def items(self) -> list[Obj]:
        """Every body held (a snapshot list)."""
        with self._lock:
            return list(self._items.values())

    def put(self, obj: Obj) -> bool:
        """Add or replace ``obj`` unless the store holds a newer body of it or it was deleted
        (a tombstone of its uid); True if stored."""
        key = key_of(obj)
        with self._lock:
            tombstone = self._deleted.get(key)
            if tombstone is not None:
                if tombstone[0] == _uid(obj):
                    return False
                del self._deleted[key]  # another object of that name: a new one
            held = self._items.get(key)
            if held is not None and not newer_or_same(obj, held):
                return False
            self._set(key, obj, held)
            return True

    def delete(self, namespace: str, name: str, uid: str = "") -> Obj | None:
        """Remove (namespace, name) (only the object ``uid`` when given) and leave its
        tombstone; returns the body removed, if any."""
        key = (namespace, name)
        with self._lock:
            held = self._items.get(key)
            if held is not None and uid and _uid(held) != uid:
                return None  # a newer object of that name is held
            if held is not None:
                del self._items[key]
                self._unindex(key, held)
            self._bury(key, uid or (_uid(held) if held is not None else ""))
            return held

    def _bury(self, key: Key, uid: str) -> None:
        now = time.monotonic()
        self._deleted[key] = (uid, now)
        self._deleted.move_to_end(key)
        while self._deleted:
            oldest_key, (_, when) = next(iter(self._deleted.items()))
            if now - when < self.tombstone_seconds:
                break
            del self._deleted[oldest_key]

    def replace(self, objs: list[Obj], namespace: str | None, list_version: str) -> list[Obj]:
        """Make the store hold ``objs``, a LIST of ``namespace`` (all when None) at
        ``list_version``; returns the objects that changed or left (what to reconcile). An
        object put after that LIST (a higher resourceVersion) stays."""
        listed = {key_of(o): o for o in objs}
        changed: list[Obj] = []
        with self._lock:
            for key, held in list(self._items.items()):
                if key in listed or (namespace is not None and key[0] != namespace):
                    continue
                version = str(held["metadata"].get("resourceVersion") or "")
                if (
                    version.isdigit()
                    and list_version.isdigit()
                    and int(version) > int(list_version)
                ):
                    continue  # written after the LIST was served
                self._items.pop(key)
                self._unindex(key, held)
                self._bury(key, _uid(held))
                changed.append(held)
            for key, obj in listed.items():
                tombstone = self._deleted.get(key)
                if tombstone is not None and tombstone[0] != _uid(obj):
                    del self._deleted[key]  # listed: another object of that name
                current = self._items.get(key)
                if current is not None and not newer_or_same(obj, current):
                    continue
                if current is None or current["metadata"].get("resourceVersion") != obj[
                    "metadata"
                ].get("resourceVersion"):
                    changed.append(obj)
                self._set(key, obj, current)
        return changed

    def _set(self, key: Key, obj: Obj, held: Obj | None) -> None:
        if held is not None:
            self._unindex(key, held)
        self._items[key] = obj
        for name, index in self._indexers.items():
            for value in index(obj):
                self._indexes[name].setdefault(value, set()).add(key)

    def _unindex(self, key: Key, obj: Obj) -> None:
        for name, index in self._indexers.items():
            for value in index(obj):
                keys = self._indexes[name].get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._indexes[name][value]


class Informer:
    """Keeps ``store`` equal to what the API server holds of one resource kind in
    ``namespaces`` (all when empty) matching ``label_selector`` and ``field_selector``, one
    thread per namespace.

    ``transform`` trims each body before it is stored (client-go's ``SetTransform``: what the
    reconciler never reads costs memory at 10,000 jobs). ``on_change(obj)`` is called, from
    the informer's thread, for each object added, changed or removed; it must not raise.
    ``watch_seconds``: how long one watch request lasts before it is renewed (server-side
    ``timeoutSeconds``).
    """

    def __init__(
        self,
        name: str,
        lister: Lister,
        store: Store,
        on_change: Callable[[Obj], None],
        *,
        namespaces: tuple[str, ...] = (),
        label_selector: str = "",
        field_selector: str = "",
        transform: Callable[[Obj], Obj] = lambda obj: obj,
        watch_seconds: int = 300,
    ) -> None:
        self.name = name
        self.lister = lister
        self.store = store
        self.on_change = on_change
        self.namespaces: tuple[str | None, ...] = namespaces or (None,)
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.transform = transform
        self.watch_seconds = watch_seconds
        self._synced = {namespace: threading.Event() for namespace in self.namespaces}
        self._resume: dict[str | None, str] = {}  # the last resourceVersion seen, per namespace

    def has_synced(self) -> bool:
        """Whether the first LIST of every namespace is in the store (``HasSynced``)."""
        return all(event.is_set() for event in self._synced.values())

    def wait_synced(self, stop: threading.Event, poll: float = 0.2) -> bool:
        """Block until synced or ``stop`` is set (looked at every ``poll`` seconds); whether
        synced."""
        for synced in self._synced.values():
            while not synced.wait(poll):
                if stop.is_set():
                    return False
        return True

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        """Start one list+watch thread per namespace; they end once ``stop`` is set."""
        threads = [
            threading.Thread(
                target=self._run,
                args=(namespace, stop),
                name=f"informer-{self.name}-{namespace or 'all'}",
                daemon=True,
            )
            for namespace in self.namespaces
        ]
        for thread in threads:
            thread.start()
        return threads

    def _query(self) -> dict[str, Any]:
        query = {"label_selector": self.label_selector, "field_selector": self.field_selector}
        return {k: v for k, v in query.items() if v}

    def _list(self, namespace: str | None) -> str:
        """LIST in pages into the store; returns the list's resourceVersion."""
        objs: list[Obj] = []
        token: str | None = None
        version = ""
        while True:
            query = self._query() | {"limit": LIST_PAGE}
            if token:
                query["_continue"] = token
            response = self.lister(namespace, _preload_content=False, **query)
            page = json.loads(response.data)
            objs += [self.transform(o) for o in page.get("items") or []]
            meta = page.get("metadata") or {}
            version = str(meta.get("resourceVersion") or "")
            token = meta.get("continue")
            if not token:
                break
        for obj in self.store.replace(objs, namespace, version):
            self.on_change(obj)
        return version

    def _watch(
        self, namespace: str | None, version: str, stop: threading.Event
    ) -> tuple[str | None, int]:
        """Apply watch events until the watch ends: the resourceVersion to resume from (None
        when the API server says it is too old, 410 Gone: list again) and the events seen.
        The last resourceVersion seen is kept in ``_resume`` also when the watch breaks."""
        response = self.lister(
            namespace,
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_seconds,
            _preload_content=False,
            _request_timeout=(30, self.watch_seconds + 30),
            **self._query(),
        )
        seen = 0
        try:
            for line in iter_resp_lines(response):
                if stop.is_set():
                    return version, seen
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return None, seen
                    raise RuntimeError(f"watch error: {obj.get('message') or obj}")
                seen += 1
                version = str(obj.get("metadata", {}).get("resourceVersion") or version)
                self._resume[namespace] = version
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED":
                    meta = obj["metadata"]
                    self.store.delete(
                        str(meta.get("namespace") or ""), meta["name"], str(meta.get("uid") or "")
                    )
                    self.on_change(obj)
                elif kind in ("ADDED", "MODIFIED"):
                    obj = self.transform(obj)
                    if self.store.put(obj):
                        self.on_change(obj)
        finally:
            response.release_conn()
        return version, seen

    def _run(self, namespace: str | None, stop: threading.Event) -> None:
        """List, then watch and resume, as client-go's reflector: a watch that breaks resumes
        from the last resourceVersion seen; after 410 Gone, or RESUME_TRIES failures in a row,
        it lists again (replacing the store). Never stops before ``stop``: whatever goes wrong
        is logged and tried again after a backoff."""
        version: str | None = None
        failures = 0
        where = namespace or "all namespaces"
        while not stop.is_set():
            listing = version is None
            try:
                if version is None:
                    version = self._list(namespace)
                    self._resume[namespace] = version
                    self._synced[namespace].set()
                    log.debug("Listed %s in %s at %s", self.name, where, version)
                started = time.monotonic()
                version, seen = self._watch(namespace, version, stop)
                if seen or time.monotonic() - started >= 1.0:
                    failures = 0
                    continue
                error: Exception | None = None  # a watch that ended at once, empty
            except Exception as caught:  # whatever it is, the cache must not stop
                error = caught
            failures += 1
            gone = isinstance(error, client.ApiException) and error.status == 410
            if listing or gone or failures >= RESUME_TRIES:
                version = None
            else:
                version = self._resume.get(namespace)
            delay = retry_delay(failures, 0.2, RELIST_MAX_SECONDS) * random.uniform(0.8, 1.2)
            if error is not None:
                log.warning(
                    "Watch of %s in %s failed (%s); %s in %.1fs",
                    self.name,
                    where,
                    error,
                    "listing again" if version is None else "resuming",
                    delay,
                )
            stop.wait(delay)
