"""Namespaces for tests and benchmarks: created ready for pods, optionally for OmveeJob pods."""

from __future__ import annotations

import yaml
from kubernetes import client, utils

from tests.localcluster.layout import REPO_ROOT
from tests.waiting import wait_for

JOB_RUNNER_RBAC = REPO_ROOT / "charts/omvee/examples/job-runner-rbac.yaml"


def create_namespace(api: client.ApiClient, name: str, *, job_runner: bool = False) -> str:
    """Create ``name`` and wait for its default ServiceAccount (the ServiceAccount admission
    plugin refuses pods until it exists); ``job_runner`` also applies the job pods' RBAC."""
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name, "labels": {"omvee.io/test": "true"}}})
    wait_for(
        lambda: (
            core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        ),
        f"ServiceAccount {name}/default",
        30,
    )
    if job_runner:
        utils.create_from_yaml(
            api, namespace=name, yaml_objects=list(yaml.safe_load_all(JOB_RUNNER_RBAC.read_text()))
        )
    return name
