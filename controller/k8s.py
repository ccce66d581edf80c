"""The only module through which the operator calls the Kubernetes API.

Objects come back as plain dicts (camelCase, as served). 404 on reads means "absent"; 409 on
create means "already there" and is resolved by adoption. Every request goes through one
``RateLimitedApiClient``: a restart over thousands of jobs cannot flood the API server.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from api.logs import archive
from api.v1alpha1 import constants
from controller import peering
from controller.flowcontrol import TokenBucket

log = logging.getLogger(__name__)


# connect, read: a kubelet that stops answering must not hold a worker for good
LOG_TIMEOUT = (5.0, 60.0)


class Conflict(Exception):
    """The OmveeJob changed since it was read; read it again and redo the decision."""


class Gone(Exception):
    """The OmveeJob was deleted while it was being reconciled: nothing is left to do."""


class JobRefused(Exception):
    """The API server refused to create a Job (403 or 422): ``status`` and its ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RateLimitedApiClient(client.ApiClient):  # type: ignore[misc]  # untyped client
    """The kubernetes client's ApiClient with client-go's client-side rate limit (the ``QPS``
    and ``Burst`` of a ``rest.Config``): every request, from any API object built on it, first
    takes a token from ``bucket``, sleeping until one is due. ``on_request(method, waited)``
    is told of each request (e.g. for metrics) and must not raise.

    The operator's only client; kopf's watches use their own connections and are not limited.
    """

    def __init__(
        self,
        configuration: client.Configuration,
        bucket: TokenBucket,
        on_request: Callable[[str, float], None] | None = None,
    ) -> None:
        super().__init__(configuration)
        self.bucket = bucket
        self.on_request = on_request

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """ApiClient.request after a token from the bucket (sleeping until it is due); raises
        what the client does (ApiException, urllib3 errors)."""
        # ApiClient.__call_api sends every call, synchronous or not, through here.
        waited = self.bucket.acquire()
        if self.on_request is not None:
            self.on_request(method, waited)
        return super().request(method, url, *args, **kwargs)


def api_message(error: client.ApiException) -> str:
    """The message of the Status the API server answered with, else the HTTP reason."""
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except (ValueError, AttributeError):
        return str(error.reason)


def event_time(event: dict[str, Any]) -> str:
    """When a core/v1 Event was last seen (RFC 3339), whichever field its reporter filled."""
    series = event.get("series") or {}
    return str(
        series.get("lastObservedTime")
        or event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or ""
    )


class Kube:
    """The operator's Kubernetes API calls on one (rate-limited) ApiClient; objects are plain
    dicts as served. Errors not handled per method raise ``kubernetes.client.ApiException``."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)

    @staticmethod
    def _raw(response: Any) -> dict[str, Any]:
        """The body of a ``_preload_content=False`` call; skips the client's slow models."""
        data: dict[str, Any] = json.loads(response.data)
        return data

    def get_omveejob(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The OmveeJob's body, or None when it does not exist (404); raises ApiException
        otherwise."""
        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, constants.PLURAL, name
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise
        return obj

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The batch/v1 Job's body, or None when it does not exist (404); raises ApiException
        otherwise."""
        try:
            return self._raw(
                self.batch.read_namespaced_job(name, namespace, _preload_content=False)
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def read_pod_log(self, namespace: str, pod: str, keep_bytes: int) -> bytes | None:
        """The job container's log, its last ``keep_bytes`` at most (the end says why an
        attempt failed), or None when there is none: the pod is gone or never started."""
        try:
            response = self.core.read_namespaced_pod_log(
                pod,
                namespace,
                container=constants.CONTAINER_NAME,
                _preload_content=False,
                _request_timeout=LOG_TIMEOUT,
            )
        except client.ApiException as error:
            if error.status in (400, 404):
                return None
            raise
        try:
            return archive.tail(response.stream(64 * 1024), keep_bytes)
        finally:
            response.release_conn()

    def ensure_job(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create the Job; when one of that name exists already (409), return that one as it
        stands, whoever owns it (the caller judges: controller.ownership.job_relation).

        Raises Gone (the namespace is being deleted), JobRefused (403/422: quota, RBAC,
        admission, an invalid Job) or Conflict (the existing Job vanished while read)."""
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        try:
            job = self._raw(
                self.batch.create_namespaced_job(namespace, manifest, _preload_content=False)
            )
            log.info("Created Job %s/%s", namespace, name)
            return job
        except client.ApiException as error:
            if error.status == 403 and "NamespaceTerminating" in str(error.body):
                raise Gone(f"namespace {namespace} is being deleted, with its OmveeJobs") from None
            if error.status in (403, 422):
                raise JobRefused(error.status, api_message(error)) from None
            if error.status != 409:
                raise
        existing = self.get_job(namespace, name)
        if existing is None:  # deleted in between; the next reconcile creates it
            raise Conflict(f"Job {namespace}/{name} vanished while being adopted")
        return existing

    def delete_job(self, namespace: str, name: str) -> None:
        """Delete the Job, its pods in the background; a Job already gone (404) is fine, other
        refusals raise ApiException."""
        try:
            self.batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
            log.info("Deleted Job %s/%s", namespace, name)
        except client.ApiException as error:
            if error.status != 404:
                raise

    def patch_status(
        self, namespace: str, name: str, resource_version: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch status if the OmveeJob is still at ``resource_version``; the result."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": status}
        try:
            patched: dict[str, Any] = self.custom.patch_namespaced_custom_object_status(
                constants.GROUP, constants.VERSION, namespace, constants.PLURAL, name, body
            )
            return patched
        except client.ApiException as error:
            if error.status == 409:
                raise Conflict(f"OmveeJob {namespace}/{name} changed") from None
            if error.status == 404:
                raise Gone(f"OmveeJob {namespace}/{name} was deleted") from None
            raise

    def patch_rerun(
        self, namespace: str, name: str, resource_version: str, rerun: int
    ) -> dict[str, Any]:
        """Merge-patch spec.rerun to ``rerun`` if the OmveeJob is still at ``resource_version``
        (the one spec write the operator makes: a downstream re-run when its upstream is
        retried; the chart's admission policy allows it nothing else); the result. Raises
        Conflict (409), Gone (404), else ApiException (403 when the rights are missing)."""
        body = {"metadata": {"resourceVersion": resource_version}, "spec": {"rerun": rerun}}
        try:
            patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, constants.PLURAL, name, body
            )
            return patched
        except client.ApiException as error:
            if error.status == 409:
                raise Conflict(f"OmveeJob {namespace}/{name} changed") from None
            if error.status == 404:
                raise Gone(f"OmveeJob {namespace}/{name} was deleted") from None
            raise

    def post_event(
        self,
        ojob: dict[str, Any],
        kind: str,
        reason: str,
        message: str,
        at: datetime | None = None,
    ) -> None:
        """Post a core/v1 Event of ``kind`` (Normal or Warning) on ``ojob``, stamped ``at``
        (now when None); best effort: a refusal is logged, never raised."""
        meta = ojob["metadata"]
        now = at or datetime.now(UTC)
        try:
            self.core.create_namespaced_event(
                meta["namespace"],
                {
                    "metadata": {
                        "generateName": f"{meta['name']}.",
                        "namespace": meta["namespace"],
                    },
                    "involvedObject": {
                        "apiVersion": constants.API_VERSION,
                        "kind": constants.KIND,
                        "name": meta["name"],
                        "namespace": meta["namespace"],
                        "uid": meta["uid"],
                    },
                    "type": kind,
                    "reason": reason,
                    "message": message[:1024],
                    "source": {"component": constants.MANAGED_BY},
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "count": 1,
                },
            )
        except client.ApiException as error:  # an Event is best effort, never a failure
            log.warning(
                "Could not post Event %s on OmveeJob %s/%s: %s",
                reason,
                meta["namespace"],
                meta["name"],
                error.reason,
            )

    def peering_statuses(self, name: str, namespaces: tuple[str, ...]) -> list[dict[str, Any]]:
        """The status of the ClusterKopfPeering ``name`` (no namespaces) or of the KopfPeering
        ``name`` in each namespace; an absent object counts as having no peers."""
        statuses: list[dict[str, Any]] = []
        for namespace in namespaces or (None,):
            try:
                if namespace is None:
                    obj = self.custom.get_cluster_custom_object(
                        peering.GROUP, peering.VERSION, peering.CLUSTER_PLURAL, name
                    )
                else:
                    obj = self.custom.get_namespaced_custom_object(
                        peering.GROUP, peering.VERSION, namespace, peering.NAMESPACED_PLURAL, name
                    )
            except client.ApiException as error:
                if error.status != 404:
                    raise
                obj = {}
            statuses.append(dict(obj.get("status") or {}))
        return statuses
