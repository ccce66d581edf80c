"""The watch caches: a store never goes back to an older body, a relist removes what was
deleted while no watch was open, indexes follow every change, and bodies are trimmed to what
the reconciler reads."""

from __future__ import annotations

from typing import Any

from controller.cache import (
    BY_JOB_ID,
    BY_JOB_UID,
    JOB_UID_LABEL,
    _job_id_index,
    _job_uid_index,
    trim_job,
    trim_pod,
)
from controller.informer import Store


def obj(name: str, version: str, namespace: str = "ns", **fields: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name, "resourceVersion": version}} | fields


def test_an_older_body_never_replaces_a_newer_one() -> None:
    store = Store()
    assert store.put(obj("a", "10"))
    assert not store.put(obj("a", "9"))  # a watch event older than our own write
    assert store.get("ns", "a")["metadata"]["resourceVersion"] == "10"  # type: ignore[index]
    assert store.put(obj("a", "11"))
    assert store.get("ns", "a")["metadata"]["resourceVersion"] == "11"  # type: ignore[index]


def test_a_relist_drops_what_was_deleted_unseen_and_keeps_later_writes() -> None:
    store = Store()
    for name, version in (("gone", "5"), ("same", "6"), ("moved", "7"), ("written", "30")):
        store.put(obj(name, version))
    listed = [obj("same", "6"), obj("moved", "8"), obj("new", "9")]
    changed = store.replace(listed, None, "20")
    names = sorted(o["metadata"]["name"] for o in changed)
    assert names == ["gone", "moved", "new"]  # "same" did not change: nothing to reconcile
    assert store.get("ns", "gone") is None
    assert store.get("ns", "written") is not None  # put after the LIST was served
    assert len(store) == 4


def test_a_relist_of_one_namespace_leaves_the_others() -> None:
    store = Store()
    store.put(obj("a", "1", namespace="one"))
    store.put(obj("b", "2", namespace="two"))
    store.replace([], "one", "10")
    assert store.get("one", "a") is None
    assert store.get("two", "b") is not None


def test_indexes_follow_puts_deletes_and_relists() -> None:
    store = Store({BY_JOB_ID: _job_id_index})
    store.put(obj("a", "1", spec={"jobId": "ABC"}))
    store.put(obj("b", "2", spec={"jobId": "abc"}))
    assert {o["metadata"]["name"] for o in store.by_index(BY_JOB_ID, ("ns", "abc"))} == {"a", "b"}
    store.put(obj("a", "3", spec={"jobId": "other"}))
    assert [o["metadata"]["name"] for o in store.by_index(BY_JOB_ID, ("ns", "abc"))] == ["b"]
    store.delete("ns", "b")
    assert store.by_index(BY_JOB_ID, ("ns", "abc")) == []
    store.replace([], None, "10")
    assert store.by_index(BY_JOB_ID, ("ns", "other")) == []


def test_pods_are_found_by_their_jobs_uid() -> None:
    store = Store({BY_JOB_UID: _job_uid_index})
    pod = obj("p", "1")
    pod["metadata"]["labels"] = {JOB_UID_LABEL: "u1"}
    store.put(pod)
    assert store.by_index(BY_JOB_UID, ("ns", "u1")) == [pod]
    assert store.by_index(BY_JOB_UID, ("ns", "u2")) == []


def test_trimmed_bodies_keep_what_is_read_and_drop_the_rest() -> None:
    meta = {"name": "p", "namespace": "ns", "uid": "u", "managedFields": [{"big": 1}]}
    pod = {
        "metadata": meta,
        "spec": {"nodeName": "n1", "containers": [{"env": []}], "volumes": []},
        "status": {"phase": "Running"},
    }
    assert trim_pod(pod) == {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Running"},
    }
    job = {
        "metadata": meta,
        "spec": {
            "activeDeadlineSeconds": 60,
            "backoffLimit": 3,
            "template": {"spec": {"serviceAccountName": "sa", "containers": [{}]}},
        },
        "status": {"active": 1},
    }
    assert trim_job(job) == {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {
            "activeDeadlineSeconds": 60,
            "backoffLimit": 3,
            "template": {"spec": {"serviceAccountName": "sa"}},
        },
        "status": {"active": 1},
    }


def test_the_newest_failed_create_of_a_job_comes_from_the_events_cache() -> None:
    from kubernetes import client

    from controller.cache import ClusterCache, trim_event

    cache = ClusterCache(client.ApiClient(), lambda namespace, name, urgent: None)
    for name, seen in (("e1", "2026-01-01T00:00:05Z"), ("e2", "2026-01-01T00:00:09Z")):
        event = obj(name, "1", involvedObject={"kind": "Job", "uid": "j1"}, reason="FailedCreate")
        event |= {"message": f"refused at {seen}", "lastTimestamp": seen, "source": {"x": 1}}
        cache.events.put(trim_event(event))
    newest = cache.failed_create("ns", "j1")
    assert newest is not None and newest["message"] == "refused at 2026-01-01T00:00:09Z"
    assert "source" not in newest
    assert cache.failed_create("ns", "j2") is None
