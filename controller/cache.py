"""What the reconciler reads: watch caches of OmveeJobs, their Jobs, their pods and the Job
controller's ``FailedCreate`` Events (its only report of a pod it could not create).

Jobs and pods are watched with the server-side label selector ``omvee.io/omveejob`` (only
ours are sent, decoded or kept). Bodies are trimmed to what the reconciler, the mirror and
the log archive read (``trim_*``, pure), which keeps 10,000 jobs with their Jobs and pods
within the operator's memory budget.

OmveeJobs are indexed by spec.jobId and by the job ids their input names (their upstreams):
any change of an OmveeJob also queues every OmveeJob whose input names its jobId, so a job
waiting for its upstream is decided again as soon as that upstream moves
(controller.dependencies), with no polling.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client

from api.catalog.upstreams import upstream_job_ids
from api.v1alpha1 import constants
from api.v1alpha1.reasons import Reason
from api.v1alpha1.types import JobType
from controller.informer import Informer, Obj, Store
from controller.k8s import event_time

SELECTOR = constants.LABEL_OMVEEJOB  # "exists": every Job and pod the operator made
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
BY_JOB_ID = "jobId"
BY_UPSTREAM = "upstreamJobId"
BY_JOB_UID = "jobUid"
BY_INVOLVED_UID = "involvedUid"
# core/v1 Events support these field selectors; only the Job controller's refusals are kept
FAILED_CREATE = f"reason={Reason.FAILED_CREATE.value},involvedObject.kind=Job"

_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "labels",
    "annotations",
    "ownerReferences",
)


def _metadata(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {k: meta[k] for k in _METADATA if k in meta}


def trim_omveejob(obj: Obj) -> Obj:
    """Pure: an OmveeJob without ``managedFields`` (spec and status are all read)."""
    return {k: v for k, v in obj.items() if k != "metadata"} | {"metadata": _metadata(obj)}


def trim_job(obj: Obj) -> Obj:
    """Pure: what is read of a Job: metadata, status, the deadline and the pod template's
    ServiceAccount (to explain refused pod creations); the template is dropped."""
    spec = obj.get("spec") or {}
    template_spec = (spec.get("template") or {}).get("spec") or {}
    kept: dict[str, Any] = {
        k: spec[k] for k in ("activeDeadlineSeconds", "backoffLimit") if k in spec
    }
    if "serviceAccountName" in template_spec:
        kept["template"] = {"spec": {"serviceAccountName": template_spec["serviceAccountName"]}}
    return {"metadata": _metadata(obj), "spec": kept, "status": obj.get("status") or {}}


def trim_pod(obj: Obj) -> Obj:
    """Pure: what is read of a pod: metadata, its node and its status; no containers, volumes
    or environment."""
    spec = obj.get("spec") or {}
    return {
        "metadata": _metadata(obj),
        "spec": {"nodeName": spec["nodeName"]} if "nodeName" in spec else {},
        "status": obj.get("status") or {},
    }


def trim_event(obj: Obj) -> Obj:
    """Pure: what is read of an Event: what it is about, its message and when it was seen."""
    kept = ("involvedObject", "reason", "message", "type", "series", "lastTimestamp",
            "eventTime", "firstTimestamp", "count")  # fmt: skip
    return {k: obj[k] for k in kept if k in obj} | {"metadata": _metadata(obj)}


def _involved_uid_index(obj: Obj) -> list[tuple[str, str]]:
    uid = (obj.get("involvedObject") or {}).get("uid")
    return [(str(obj["metadata"].get("namespace") or ""), uid)] if uid else []


def _job_id_index(obj: Obj) -> list[tuple[str, str]]:
    job_id = (obj.get("spec") or {}).get("jobId")
    if not isinstance(job_id, str):
        return []
    return [(str(obj["metadata"].get("namespace") or ""), job_id.lower())]


def _upstream_index(obj: Obj) -> list[tuple[str, str]]:
    """(namespace, lower-case job id) of each upstream the OmveeJob's input names."""
    spec = obj.get("spec") or {}
    try:
        ids = upstream_job_ids(JobType(str(spec.get("type"))), spec.get("input") or {})
    except ValueError:  # an unknown type: the CRD schema refuses it
        return []
    namespace = str(obj["metadata"].get("namespace") or "")
    return [(namespace, job_id) for job_id in sorted(set(ids.values()))]


def _job_uid_index(obj: Obj) -> list[tuple[str, str]]:
    uid = (obj["metadata"].get("labels") or {}).get(JOB_UID_LABEL)
    return [(str(obj["metadata"].get("namespace") or ""), uid)] if uid else []


def needs_new_run(obj: Obj) -> bool:
    """Pure: whether an OmveeJob waits for a run to start (no run recorded yet, or a rerun
    asked after its run ended): its Job is yet to be created."""
    status = obj.get("status") or {}
    run = status.get("run")
    if run is None:
        return True
    rerun = (obj.get("spec") or {}).get("rerun") or 0
    return bool(rerun > run and status.get("phase") in ("Succeeded", "Failed", "Cancelled"))


class ClusterCache:
    """The informers and lookups over their stores. ``on_change(namespace, name, urgent)`` is
    called with the OmveeJob concerned by each change (a pod's or Job's OmveeJob comes from its
    ``omvee.io/omveejob`` label), and, for a change of an OmveeJob, with every OmveeJob whose
    input names its jobId; ``urgent`` when the OmveeJob waits for its Job (``needs_new_run``)."""

    def __init__(
        self,
        api: client.ApiClient,
        on_change: Callable[[str, str, bool], None],
        namespaces: tuple[str, ...] = (),
        watch_seconds: int = 300,
    ) -> None:
        custom = client.CustomObjectsApi(api)
        batch = client.BatchV1Api(api)
        core = client.CoreV1Api(api)
        self.omveejobs = Store({BY_JOB_ID: _job_id_index, BY_UPSTREAM: _upstream_index})
        self.jobs = Store()
        self.pods = Store({BY_JOB_UID: _job_uid_index})
        self.events = Store({BY_INVOLVED_UID: _involved_uid_index})

        def own(obj: Obj) -> None:
            meta = obj.get("metadata") or {}
            if meta.get("namespace"):
                on_change(str(meta["namespace"]), str(meta["name"]), needs_new_run(obj))
                for downstream in self.downstreams(obj):
                    down = downstream["metadata"]
                    on_change(str(down["namespace"]), str(down["name"]), needs_new_run(downstream))

        def labelled(obj: Obj) -> None:
            meta = obj.get("metadata") or {}
            name = (meta.get("labels") or {}).get(constants.LABEL_OMVEEJOB)
            if meta.get("namespace") and name:
                on_change(str(meta["namespace"]), str(name), False)

        def of_job(event: Obj) -> None:  # the OmveeJob of the Job the Event is about
            involved = event.get("involvedObject") or {}
            job = self.jobs.get(str(involved.get("namespace") or ""), str(involved.get("name")))
            if job is not None:
                labelled(job)

        def omveejob_lister(namespace: str | None, **query: Any) -> Any:
            if namespace is None:
                return custom.list_cluster_custom_object(
                    constants.GROUP, constants.VERSION, constants.PLURAL, **query
                )
            return custom.list_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, constants.PLURAL, **query
            )

        def job_lister(namespace: str | None, **query: Any) -> Any:
            if namespace is None:
                return batch.list_job_for_all_namespaces(**query)
            return batch.list_namespaced_job(namespace, **query)

        def pod_lister(namespace: str | None, **query: Any) -> Any:
            if namespace is None:
                return core.list_pod_for_all_namespaces(**query)
            return core.list_namespaced_pod(namespace, **query)

        def event_lister(namespace: str | None, **query: Any) -> Any:
            if namespace is None:
                return core.list_event_for_all_namespaces(**query)
            return core.list_namespaced_event(namespace, **query)

        common: dict[str, Any] = {"namespaces": namespaces, "watch_seconds": watch_seconds}
        self.informers = [
            Informer(
                "omveejobs",
                omveejob_lister,
                self.omveejobs,
                own,
                transform=trim_omveejob,
                **common,
            ),
            Informer(
                "jobs",
                job_lister,
                self.jobs,
                labelled,
                label_selector=SELECTOR,
                transform=trim_job,
                **common,
            ),
            Informer(
                "pods",
                pod_lister,
                self.pods,
                labelled,
                label_selector=SELECTOR,
                transform=trim_pod,
                **common,
            ),
            Informer(
                "events",
                event_lister,
                self.events,
                of_job,
                field_selector=FAILED_CREATE,
                transform=trim_event,
                **common,
            ),
        ]

    def start(self, stop: threading.Event) -> None:
        """Start every informer's threads; they end once ``stop`` is set."""
        for informer in self.informers:
            informer.start(stop)

    def has_synced(self) -> bool:
        """Whether every informer has listed once."""
        return all(informer.has_synced() for informer in self.informers)

    def wait_synced(self, stop: threading.Event) -> bool:
        """Block until every informer has listed once (or ``stop``); whether they have."""
        return all(informer.wait_synced(stop) for informer in self.informers)

    def omveejob(self, namespace: str, name: str) -> Obj | None:
        """The OmveeJob (trimmed), or None when the cache holds none of that name."""
        return self.omveejobs.get(namespace, name)

    def omveejobs_with_job_id(self, namespace: str, job_id: str) -> list[Obj]:
        """The OmveeJobs of ``namespace`` whose spec.jobId is ``job_id`` in any letter case."""
        return self.omveejobs.by_index(BY_JOB_ID, (namespace, job_id.lower()))

    def downstreams(self, ojob: Obj) -> list[Obj]:
        """The OmveeJobs of ``ojob``'s namespace whose input names its spec.jobId (any letter
        case), itself excepted; [] when it has no jobId."""
        job_id = (ojob.get("spec") or {}).get("jobId")
        meta = ojob.get("metadata") or {}
        if not isinstance(job_id, str):
            return []
        namespace = str(meta.get("namespace") or "")
        found = self.omveejobs.by_index(BY_UPSTREAM, (namespace, job_id.lower()))
        return [o for o in found if o["metadata"]["name"] != meta.get("name")]

    def job(self, namespace: str, name: str) -> Obj | None:
        """The batch/v1 Job of that name (trimmed; one of ours: it has the label), or None."""
        return self.jobs.get(namespace, name)

    def job_pods(self, namespace: str, job_uid: str) -> list[Obj]:
        """The pods of the Job ``job_uid`` (its ``batch.kubernetes.io/controller-uid``)."""
        return self.pods.by_index(BY_JOB_UID, (namespace, job_uid))

    def failed_create(self, namespace: str, job_uid: str) -> Obj | None:
        """The newest ``FailedCreate`` Event the Job controller posted on the Job ``job_uid``
        (trimmed), or None when there is none."""
        events = self.events.by_index(BY_INVOLVED_UID, (namespace, job_uid))
        return max(events, key=event_time) if events else None

    def all_omveejobs(self) -> list[Obj]:
        """Every OmveeJob held (what the resync goes over)."""
        return self.omveejobs.items()
