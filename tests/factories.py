"""Small builders for the plain Kubernetes objects tests create."""

from __future__ import annotations

from typing import Any

from tests.localcluster.nodes import FAKE_TOLERATION, GPU_PRESENT_LABEL, GPU_RESOURCE
from tests.localcluster.stages import EXIT_CODE, FAIL_ATTEMPTS, RUN_DURATION

GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}


def pod_spec(*, gpu: bool = False, tolerate_gpu: bool | None = None) -> dict[str, Any]:
    """One container named ``main``; ``gpu`` asks for one GPU on the GPU pool."""
    container: dict[str, Any] = {"name": "main", "image": "omvee/test:latest"}
    # kwok plays these pods: select the fake nodes and tolerate their taint (not the real node).
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "nodeSelector": {"type": "kwok"},
        "tolerations": [dict(FAKE_TOLERATION)],
    }
    if gpu:
        container["resources"] = {"limits": {GPU_RESOURCE: "1"}}
        spec["nodeSelector"][GPU_PRESENT_LABEL] = "true"
    if tolerate_gpu if tolerate_gpu is not None else gpu:
        spec["tolerations"].append(GPU_TOLERATION)
    return spec


def pod_annotations(
    *, exit_code: int | None = None, fail_attempts: int | None = None, run_duration: str = "200ms"
) -> dict[str, str]:
    """How kwok plays the pod: see tests/localcluster/stages.py."""
    annotations = {RUN_DURATION: run_duration}
    if exit_code is not None:
        annotations[EXIT_CODE] = str(exit_code)
    if fail_attempts is not None:
        annotations[FAIL_ATTEMPTS] = str(fail_attempts)
    return annotations


def job(
    name: str,
    *,
    backoff_limit: int = 0,
    annotations: dict[str, str] | None = None,
    pod_failure_policy: dict[str, Any] | None = None,
    **spec_options: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "backoffLimit": backoff_limit,
        "template": {
            "metadata": {"annotations": annotations or pod_annotations()},
            "spec": pod_spec(**spec_options),
        },
    }
    if pod_failure_policy:
        spec["podFailurePolicy"] = pod_failure_policy
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec}


def pod(
    name: str, *, annotations: dict[str, str] | None = None, **spec_options: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations or pod_annotations()},
        "spec": pod_spec(**spec_options),
    }
