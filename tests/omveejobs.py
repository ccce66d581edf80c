"""Helpers for tests that drive OmveeJobs: build, create, read and wait on them."""

from __future__ import annotations

import uuid
from typing import Any

from kubernetes import client

from api.v1alpha1 import constants
from tests import factories
from tests.waiting import wait_for

FINAL = ("Succeeded", "Failed", "Cancelled")


def manifest(
    name: str,
    job_type: str = "scene-generation",
    *,
    input: dict[str, Any] | None = None,
    pod_annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    defaults = {
        "transcription": {"audioUrl": "https://media.example.com/a.mp3"},
        "scene-generation": {"transcriptJobId": str(uuid.uuid4())},
        "visual-prompts": {"scenesJobId": str(uuid.uuid4())},
        "image-generation": {"promptsJobId": str(uuid.uuid4())},
        "video-generation": {"imagesJobId": str(uuid.uuid4())},
    }
    body = {
        "type": job_type,
        "projectId": str(uuid.uuid4()),
        "jobId": str(uuid.uuid4()),
        "input": defaults[job_type] if input is None else input,
        "podAnnotations": pod_annotations or factories.pod_annotations(),
        **spec,
    }
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "metadata": {"name": name},
        "spec": body,
    }


class OmveeJobs:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)
        self.namespace = namespace

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL, body
        )
        return created

    def get(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(
            constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL, name
        )
        return found

    def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            constants.GROUP,
            constants.VERSION,
            self.namespace,
            constants.PLURAL,
            name,
            {"spec": spec},
        )

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(
            constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL, name
        )

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.get(name).get("status") or {})

    def wait_status(
        self, name: str, what: str, predicate: Any, timeout: float = 90
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            status = self.status(name)
            return status if predicate(status) else None

        try:
            found: dict[str, Any] = wait_for(check, f"OmveeJob {name}: {what}", timeout)
        except Exception as error:
            raise AssertionError(f"{error}; last status: {self.status(name)}") from None
        return found

    def wait_final(self, name: str, timeout: float = 90) -> dict[str, Any]:
        return self.wait_status(name, "a final phase", lambda s: s.get("phase") in FINAL, timeout)

    def jobs(self, name: str) -> list[Any]:
        return list(
            self.batch.list_namespaced_job(
                self.namespace, label_selector=f"{constants.LABEL_OMVEEJOB}={name}"
            ).items
        )

    def pods(self, name: str) -> list[Any]:
        return list(
            self.core.list_namespaced_pod(
                self.namespace, label_selector=f"{constants.LABEL_OMVEEJOB}={name}"
            ).items
        )

    def events(self, name: str) -> list[Any]:
        events = self.core.list_namespaced_event(
            self.namespace,
            field_selector=f"involvedObject.name={name},involvedObject.kind={constants.KIND}",
        ).items
        return sorted(events, key=lambda e: int(e.metadata.resource_version))  # etcd order
