"""The chart's ServiceAccounts have the rights their component needs and no more. The session's
operator and API already run with these tokens (conftest: chart_release), so every operator and
API test shows the rights suffice; these show what is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from api.v1alpha1 import constants
from tests.helm import Release
from tests.identities import service_account_kubeconfig
from tests.omveejobs import manifest

pytestmark = pytest.mark.cluster


def api_as(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(str(kubeconfig))


def refused(call: Callable[[], Any], user: str) -> None:
    with pytest.raises(client.ApiException) as raised:
        call()
    assert raised.value.status == 403, raised.value.body
    assert user in str(raised.value.body)  # refused for who it is, not for another reason


def job_body(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "x", "image": "x"}]}
            }
        },
    }


def test_operator_cannot_reach_beyond_its_work(
    chart_release: Release, job_namespace: str, k8s: client.ApiClient
) -> None:
    user = f"system:serviceaccount:{chart_release.namespace}:{chart_release.fullname}-operator"
    api = api_as(chart_release.operator_kubeconfig)
    core, batch, custom = (
        client.CoreV1Api(api),
        client.BatchV1Api(api),
        client.CustomObjectsApi(api),
    )
    # What it does need works (the whole operator suite relies on it) ...
    batch.list_namespaced_job(job_namespace)
    # ... and nothing else.
    refused(lambda: core.list_namespaced_secret(job_namespace), user)
    refused(lambda: core.list_secret_for_all_namespaces(), user)
    pod = {"metadata": {"name": "p"}, **job_body("p")["spec"]["template"]}
    refused(lambda: core.create_namespaced_pod(job_namespace, pod), user)
    refused(lambda: core.delete_namespace(job_namespace), user)
    client.CustomObjectsApi(k8s).create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, job_namespace, constants.PLURAL,
        manifest("rights"),
    )  # fmt: skip
    # It writes status, never what the user asked for, and never deletes a user's job.
    refused(
        lambda: custom.patch_namespaced_custom_object(
            constants.GROUP, constants.VERSION, job_namespace, constants.PLURAL, "rights",
            {"spec": {"retries": 9}},
        ),
        user,
    )  # fmt: skip
    refused(
        lambda: custom.delete_namespaced_custom_object(
            constants.GROUP, constants.VERSION, job_namespace, constants.PLURAL, "rights"
        ),
        user,
    )
    refused(lambda: client.RbacAuthorizationV1Api(api).list_cluster_role(), user)


def test_api_works_only_on_omveejobs_in_its_namespace(
    chart_release: Release, api_namespace: str, job_namespace: str
) -> None:
    user = f"system:serviceaccount:{chart_release.namespace}:{chart_release.fullname}-api"
    api = api_as(chart_release.api_kubeconfig)
    core, batch, custom = (
        client.CoreV1Api(api),
        client.BatchV1Api(api),
        client.CustomObjectsApi(api),
    )
    custom.list_namespaced_custom_object(
        constants.GROUP, constants.VERSION, api_namespace, constants.PLURAL
    )
    refused(lambda: batch.create_namespaced_job(api_namespace, job_body("direct")), user)
    refused(lambda: core.list_namespaced_secret(api_namespace), user)
    refused(
        lambda: custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, job_namespace, constants.PLURAL,
            manifest("elsewhere"),
        ),
        user,
    )  # fmt: skip
    everywhere = (constants.GROUP, constants.VERSION, constants.PLURAL)
    refused(lambda: custom.list_cluster_custom_object(*everywhere), user)
    refused(
        lambda: custom.patch_namespaced_custom_object_status(
            constants.GROUP, constants.VERSION, api_namespace, constants.PLURAL, "any",
            {"status": {"phase": "Succeeded"}},
        ),
        user,
    )  # fmt: skip


def test_job_pods_may_only_report_on_omveejobs(
    chart_release: Release,
    api_namespace: str,
    k8s: client.ApiClient,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    """The chart's job-runner account in the API namespace: reads OmveeJobs, writes status."""
    runner = service_account_kubeconfig(
        k8s, kubeconfig, api_namespace, "omvee-job-runner", tmp_path / "runner.kubeconfig"
    )
    user = f"system:serviceaccount:{api_namespace}:omvee-job-runner"
    api = api_as(runner)
    custom = client.CustomObjectsApi(api)
    custom.list_namespaced_custom_object(
        constants.GROUP, constants.VERSION, api_namespace, constants.PLURAL
    )
    refused(
        lambda: custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, api_namespace, constants.PLURAL,
            manifest("from-a-pod"),
        ),
        user,
    )  # fmt: skip
    refused(lambda: client.CoreV1Api(api).list_namespaced_pod(api_namespace), user)
    refused(lambda: client.BatchV1Api(api).list_namespaced_job(api_namespace), user)
