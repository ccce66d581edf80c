"""Read what an earlier job of the same project produced: its OmveeJob's status.result and the
files it names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from api.urlpolicy import Resolver, UrlPolicy, resolve
from api.v1alpha1 import constants
from jobimages.runtime.egress import Refused, checked_client, refusal
from jobimages.runtime.exitcodes import PermanentError, RetryableError
from jobimages.runtime.job import Job
from jobimages.runtime.results import (
    results_dir_from_env,
    results_host_from_env,
    supabase_results_auth,
)
from jobimages.runtime.settings import runtime_settings


def read_location(
    location: str, *, policy: UrlPolicy | None = None, resolver: Resolver = resolve
) -> bytes:
    """The bytes at a result location: a file:// path inside the result directory
    ($OMVEE_RESULTS_DIR), or a URL fetched under the URL policy (the deployment's own result
    store, $SUPABASE_URL, is trusted, and its bucket is read with the service-role key, as a
    private bucket needs). PermanentError when it does not exist or is refused,
    RetryableError on network trouble."""
    parts = urlsplit(location)
    if parts.scheme == "file":
        # Only what a job of this deployment stored: a result names its own location, and a
        # pod may write any status of its namespace, so a path elsewhere (/etc, a mounted
        # secret) is refused rather than read.
        root = results_dir_from_env()
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(root):
            raise PermanentError(
                f"the result file {location} is outside the result directory {root}; refused"
            )
        if not path.is_file():
            raise PermanentError(f"the result file {location} does not exist")
        return path.read_bytes()
    trusted = [host] if (host := results_host_from_env()) else []
    try:
        with checked_client(
            timeout=30, policy=policy, resolver=resolver, trusted=trusted
        ) as client:
            auth = supabase_results_auth(location)
            # the service key is never sent on to wherever a redirect points
            response = client.get(location, headers=auth, follow_redirects=not auth)
    except Refused as refused:
        raise refusal(location, refused) from None
    except httpx.TooManyRedirects:
        raise PermanentError(f"the result {location} redirects too many times") from None
    except httpx.HTTPError as error:
        raise RetryableError(f"reading {location} failed: {error}") from None
    if response.status_code == 404:
        raise PermanentError(f"the result {location} does not exist")
    if response.status_code >= 400:
        raise RetryableError(f"reading {location} failed with HTTP {response.status_code}")
    return response.content


def _custom_objects() -> Any:
    """A CustomObjectsApi on the pod's service account (api.kubeclient)."""
    from kubernetes import client

    from api.kubeclient import kube_client

    return client.CustomObjectsApi(kube_client())


def previous_result(job: Job, upstream_id: str, api: Any = None) -> dict[str, Any]:
    """The result of the OmveeJob with spec.jobId ``upstream_id`` in ``job``'s namespace and
    project; it must have succeeded. A job of another project is answered like a missing one
    (PermanentError), and nothing of it is read. ``api``: a CustomObjectsApi (tests). A
    local run (OMVEE_RUN_LOCAL, no cluster) reads the upstream's `jobs` row instead."""
    if not job.namespace:
        if runtime_settings().run_local:
            from jobimages.runtime.localrun import upstream_result

            return upstream_result(job, upstream_id)
        raise PermanentError(
            "this job reads another job's result, which needs a cluster or a local run "
            "(OMVEE_RUN_LOCAL=true with the app's jobs table)"
        )
    api = api or _custom_objects()
    candidates: list[dict[str, Any]] = []
    for job_id in dict.fromkeys((upstream_id, upstream_id.lower())):
        listed = api.list_namespaced_custom_object(
            constants.GROUP,
            constants.VERSION,
            job.namespace,
            constants.PLURAL,
            field_selector=f"spec.jobId={job_id}",
        )
        candidates += listed.get("items") or []
    same_project = [
        item
        for item in candidates
        if str((item.get("spec") or {}).get("projectId", "")).lower() == job.project_id.lower()
    ]
    if not same_project:
        raise PermanentError(
            f"there is no job {upstream_id} in project {job.project_id} to take input from"
        )
    # the oldest owns a job id (later duplicates are refused by the operator)
    upstream = min(
        same_project,
        key=lambda item: (item["metadata"]["creationTimestamp"], item["metadata"]["name"]),
    )
    status = upstream.get("status") or {}
    if status.get("phase") != "Succeeded" or not status.get("result"):
        raise PermanentError(
            f"job {upstream_id} has not succeeded (it is "
            f"{status.get('phase') or 'Pending'}); nothing to take as input"
        )
    result: dict[str, Any] = status["result"]
    return result


def previous_json(job: Job, upstream_id: str, file_key: str, api: Any = None) -> dict[str, Any]:
    """The JSON file ``file_key`` of the earlier job ``upstream_id`` of ``job``'s project."""
    location = (previous_result(job, upstream_id, api).get("files") or {}).get(file_key)
    if not location:
        raise PermanentError(f"job {upstream_id} has no {file_key} result")
    data: dict[str, Any] = json.loads(read_location(location))
    return data
