"""Read what an earlier job produced: its OmveeJob's status.result and the files it names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from api.v1alpha1 import constants
from jobimages.runtime.exitcodes import PermanentError, RetryableError


def read_location(location: str) -> bytes:
    parts = urlsplit(location)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        if not path.is_file():
            raise PermanentError(f"the result file {location} does not exist")
        return path.read_bytes()
    try:
        response = httpx.get(location, timeout=30, follow_redirects=True)
    except httpx.HTTPError as error:
        raise RetryableError(f"reading {location} failed: {error}") from None
    if response.status_code == 404:
        raise PermanentError(f"the result {location} does not exist")
    if response.status_code >= 400:
        raise RetryableError(f"reading {location} failed with HTTP {response.status_code}")
    return response.content


def previous_result(namespace: str, job_id: str) -> dict[str, Any]:
    """The result of the OmveeJob with spec.jobId ``job_id`` in ``namespace``; it must have
    succeeded."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    api = client.CustomObjectsApi()
    listed = api.list_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.PLURAL,
        field_selector=f"spec.jobId={job_id}",
    )
    items = listed.get("items") or []
    if not items:
        raise PermanentError(f"there is no job {job_id} to take input from")
    status = items[0].get("status") or {}
    if status.get("phase") != "Succeeded" or not status.get("result"):
        raise PermanentError(
            f"job {job_id} has not succeeded (it is "
            f"{status.get('phase') or 'Pending'}); nothing to take as input"
        )
    result: dict[str, Any] = status["result"]
    return result


def previous_json(namespace: str | None, job_id: str, file_key: str) -> dict[str, Any]:
    if not namespace:
        raise PermanentError("this job reads another job's result, which needs a cluster")
    location = (previous_result(namespace, job_id).get("files") or {}).get(file_key)
    if not location:
        raise PermanentError(f"job {job_id} has no {file_key} result")
    data: dict[str, Any] = json.loads(read_location(location))
    return data
