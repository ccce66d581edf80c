"""OmveeJobs in the cluster, as the API sees them: the only module here that calls Kubernetes.

Every call has a short timeout; an unreachable API server becomes ``Unavailable`` (503).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import urllib3
from kubernetes import client, watch

from api.kubeclient import kube_client
from api.rest.errors import Conflict, NotFound, Unavailable
from api.v1alpha1 import constants
from api.v1alpha1.names import omveejob_name

TIMEOUT = (3.0, 10.0)  # connect, read
# Every Kubernetes call runs in one of the server's worker threads (anyio's default pool: 40),
# so as many may need a connection at once; a smaller pool opens (TCP + TLS) and then drops a
# connection for each call beyond its size.
CONNECTIONS = 40
FOLLOW_READ_SECONDS = 3600.0
REQUEST_HASH = f"{constants.GROUP}/request-sha256"


def api_client() -> client.ApiClient:
    """The API's Kubernetes client (api.kubeclient): CONNECTIONS pooled connections, one
    retry of a failed connection. Raises ``KubeConfigError`` without usable credentials."""
    return kube_client(pool_size=CONNECTIONS, retries=1)


class JobStore:
    """OmveeJobs, their pods and Events in ``namespace``. Each call times out (3 s to connect, 10 s
    to read); a 5xx, a 429 or a network error raises ``Unavailable``, another refusal
    ``client.ApiException`` unless a method says otherwise."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.namespace = namespace

    def _call(self, what: str, fn: Any, *args: Any, _timeout: Any = TIMEOUT, **kwargs: Any) -> Any:
        try:
            return fn(*args, _request_timeout=_timeout, **kwargs)
        except client.ApiException as error:
            if error.status in (404, 409, 422):
                raise
            if (error.status and error.status >= 500) or error.status == 429:
                raise Unavailable(
                    f"the Kubernetes API failed to {what} ({error.status} "
                    f"{error.reason}); try again"
                ) from None
            raise
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise Unavailable(
                f"the Kubernetes API is unreachable, could not {what}: "
                f"{type(error).__name__}; try again"
            ) from None

    def _custom(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._call(
            what,
            getattr(self.custom, method),
            constants.GROUP,
            constants.VERSION,
            self.namespace,
            constants.PLURAL,
            *args,
            **kwargs,
        )

    def create(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create the OmveeJob, or return the existing one of that name: (object, created)."""
        name = body["metadata"]["name"]
        try:
            return self._custom("create the job", "create_namespaced_custom_object", body), True
        except client.ApiException as error:
            if error.status != 409:
                raise
        existing = self.get_by_name(name)
        if existing is None:  # deleted in between
            raise Conflict(f"job {name} was deleted while being submitted again; retry")
        return existing, False

    def get_by_name(self, name: str) -> dict[str, Any] | None:
        """The OmveeJob named ``name``, None when there is none (404)."""
        try:
            found: dict[str, Any] = self._custom(
                "read the job", "get_namespaced_custom_object", name
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise
        return found

    def get(self, job_id: str) -> dict[str, Any]:
        """The OmveeJob of ``job_id``: the one named ``omveejob_name(job_id)``, else the first with
        that ``spec.jobId`` (made by kubectl). ``NotFound`` when there is none."""
        found = self.get_by_name(omveejob_name(job_id))
        if found is None:  # created by kubectl under another name
            listed = self._custom(
                "find the job",
                "list_namespaced_custom_object",
                field_selector=f"spec.jobId={job_id}",
                limit=1,
            )
            items = listed.get("items") or []
            found = items[0] if items else None
        if found is None:
            raise NotFound(f"no job {job_id}")
        return found

    def find_in_project(self, job_id: str, project_id: str) -> dict[str, Any] | None:
        """The OmveeJob with ``spec.jobId`` ``job_id`` (as given, or in lower case as the API
        stores ids) in ``project_id``, or None, also when one exists in another project."""
        for candidate in dict.fromkeys((job_id, job_id.lower())):
            listed = self._custom(
                "find the job",
                "list_namespaced_custom_object",
                field_selector=f"spec.jobId={candidate}",
            )
            for item in listed.get("items") or []:
                if str(item["spec"].get("projectId", "")).lower() == project_id.lower():
                    found: dict[str, Any] = item
                    return found
        return None

    def list_jobs(
        self, *, selectors: dict[str, str], limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of at most ``limit`` OmveeJobs matching the field ``selectors`` ({field path:
        value}), from ``cursor``: (jobs, the next page's cursor or None). ``NotFound`` when the
        cursor is invalid or has expired."""
        field_selector = ",".join(f"{k}={v}" for k, v in selectors.items()) or None
        kwargs: dict[str, Any] = {"limit": limit}
        if field_selector:
            kwargs["field_selector"] = field_selector
        if cursor:
            kwargs["_continue"] = cursor
        try:
            listed = self._custom("list jobs", "list_namespaced_custom_object", **kwargs)
        except client.ApiException as error:
            if error.status in (400, 410, 422):
                raise NotFound("the cursor is invalid or has expired; list again") from None
            raise
        return list(listed.get("items") or []), listed["metadata"].get("continue") or None

    def select(self, field_selector: str) -> list[dict[str, Any]]:
        """Every OmveeJob matching ``field_selector`` (e.g. ``spec.pipelineId=<id>``, or
        ``spec.projectId=<id>,spec.pipelineId!=``), all pages (500 a page) read."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 500, "field_selector": field_selector}
            if cursor:
                kwargs["_continue"] = cursor
            listed = self._custom("list jobs", "list_namespaced_custom_object", **kwargs)
            items += listed.get("items") or []
            cursor = listed["metadata"].get("continue")
            if not cursor:
                return items

    def patch_spec(self, ojob: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch spec, only if the job did not change since it was read."""
        body = {"metadata": {"resourceVersion": ojob["metadata"]["resourceVersion"]}, "spec": spec}
        try:
            patched: dict[str, Any] = self._custom(
                "update the job", "patch_namespaced_custom_object", ojob["metadata"]["name"], body
            )
        except client.ApiException as error:
            if error.status == 409:
                raise Conflict("the job changed meanwhile; read it and try again") from None
            raise
        return patched

    def pods(self, ojob: dict[str, Any], run: int) -> list[dict[str, Any]]:
        """The pods of run ``run`` of the OmveeJob (by its labels), oldest first (ties by name)."""
        selector = (
            f"{constants.LABEL_OMVEEJOB}={ojob['metadata']['name']},{constants.LABEL_RUN}={run}"
        )
        response = self._call(
            "list the job's pods",
            self.core.list_namespaced_pod,
            self.namespace,
            label_selector=selector,
            _preload_content=False,
        )
        pods: list[dict[str, Any]] = json.loads(response.data).get("items", [])
        return sorted(
            pods, key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"])
        )

    def log_stream(self, pod: str, follow: bool) -> Iterator[bytes]:
        """The job container's log of ``pod`` in chunks of up to 4096 bytes; followed when
        ``follow`` (read timeout ``FOLLOW_READ_SECONDS``, an hour). ``client.ApiException`` when the
        pod is gone (404) or its container has not started (400)."""
        response = self._call(
            "read the pod log",
            self.core.read_namespaced_pod_log,
            pod,
            self.namespace,
            container=constants.CONTAINER_NAME,
            follow=follow,
            _preload_content=False,
            # followed, a job may print nothing for a long while (a model download)
            _timeout=(TIMEOUT[0], FOLLOW_READ_SECONDS) if follow else TIMEOUT,
        )
        try:
            yield from response.stream(4096)
        finally:
            response.release_conn()

    def watch(self, name: str, timeout: int) -> Iterator[dict[str, Any]]:
        """The OmveeJob each time it changes, for up to ``timeout`` seconds."""
        stream = watch.Watch().stream(
            self.custom.list_namespaced_custom_object,
            constants.GROUP,
            constants.VERSION,
            self.namespace,
            constants.PLURAL,
            field_selector=f"metadata.name={name}",
            timeout_seconds=timeout,
            _request_timeout=(TIMEOUT[0], timeout + 10),
        )
        for event in stream:
            if event["type"] in ("ADDED", "MODIFIED"):
                yield event["object"]
            elif event["type"] == "DELETED":
                return

    def list_all(self) -> tuple[list[dict[str, Any]], str]:
        """Every OmveeJob in the namespace, and the resourceVersion to watch from."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 500}
            if cursor:
                kwargs["_continue"] = cursor
            listed = self._custom("list jobs", "list_namespaced_custom_object", **kwargs)
            items += listed.get("items") or []
            cursor = listed["metadata"].get("continue")
            if not cursor:
                return items, str(listed["metadata"]["resourceVersion"])

    def watch_all(self, resource_version: str, seconds: int) -> Iterator[tuple[str, Any]]:
        """Changes to any OmveeJob after ``resource_version``, for up to ``seconds``; ends
        early with ("EXPIRED", None) when that version is too old to watch from."""
        stream = watch.Watch().stream(
            self.custom.list_namespaced_custom_object,
            constants.GROUP,
            constants.VERSION,
            self.namespace,
            constants.PLURAL,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=seconds,
            # a half-open connection must end the stream, not hang it
            _request_timeout=(TIMEOUT[0], seconds + 10),
        )
        try:
            for event in stream:
                yield event["type"], event["object"]
        except client.ApiException as error:
            if error.status != 410:
                raise
            yield "EXPIRED", None

    def events(self, ojob: dict[str, Any]) -> list[dict[str, Any]]:
        """The Kubernetes Events about the OmveeJob, oldest first."""
        response = self._call(
            "list the job's events",
            self.core.list_namespaced_event,
            self.namespace,
            field_selector=f"involvedObject.uid={ojob['metadata']['uid']}",
            _preload_content=False,
        )
        events: list[dict[str, Any]] = json.loads(response.data).get("items", [])
        return events

    def ready(self) -> None:
        """Return once the Kubernetes API lists OmveeJobs (one item); ``Unavailable`` or
        ``client.ApiException`` when it cannot (the readiness check)."""
        self._custom("list jobs", "list_namespaced_custom_object", limit=1)
