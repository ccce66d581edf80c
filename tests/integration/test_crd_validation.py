"""The API server itself refuses bad OmveeJobs, naming the field (no operator involved)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.omveejobs import OmveeJobs, manifest

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crd")]


@pytest.fixture
def ojobs(k8s: client.ApiClient, namespace: str) -> OmveeJobs:
    return OmveeJobs(k8s, namespace)


def rejection(ojobs: OmveeJobs, body: dict[str, Any]) -> str:
    with pytest.raises(client.ApiException) as raised:
        ojobs.create(body)
    assert raised.value.status == 422
    return str(raised.value.body)


def without(body: dict[str, Any], field: str) -> dict[str, Any]:
    del body["spec"][field]
    return body


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            manifest("t1") | {"spec": manifest("t1")["spec"] | {"type": "karaoke"}},
            'spec.type: Unsupported value: \\"karaoke\\"',
        ),
        (without(manifest("t2"), "projectId"), "spec.projectId: Required value"),
        (without(manifest("t3"), "jobId"), "spec.jobId: Required value"),
        (manifest("t4", retries=11), "spec.retries: Invalid value: 11"),
        (manifest("t5", retries=-1), "spec.retries: Invalid value: -1"),
        (manifest("t6", timeoutSeconds=0), "spec.timeoutSeconds: Invalid value: 0"),
        (manifest("t7", timeoutSeconds=10**7), "spec.timeoutSeconds: Invalid value: 10000000"),
        (
            manifest("t8") | {"spec": manifest("t8")["spec"] | {"jobId": "job 42"}},
            'spec.jobId: Invalid value: \\"job 42\\"',
        ),
        (manifest("t" * 64), "metadata.name must be at most 63 characters"),
    ],
)
def test_bad_manifests_are_refused_with_the_field(
    ojobs: OmveeJobs, body: dict[str, Any], expected: str
) -> None:
    assert expected in rejection(ojobs, body)


def test_kubectl_apply_shows_the_field(ojobs: OmveeJobs, kubeconfig: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(manifest("bad", retries=99)))
    result = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "-n",
            ojobs.namespace,
            "apply",
            "-f",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "spec.retries: Invalid value: 99" in result.stderr
    assert "should be less than or equal to 10" in result.stderr


def test_identity_is_immutable_and_rerun_only_rises(ojobs: OmveeJobs) -> None:
    ojobs.create(manifest("fixed", rerun=2))
    for change, expected in (
        ({"type": "visual-prompts"}, "type is immutable"),
        ({"input": {"other": 1}}, "input is immutable"),
        ({"rerun": 1}, "rerun may only increase"),
    ):
        with pytest.raises(client.ApiException) as raised:
            ojobs.patch_spec("fixed", change)
        assert raised.value.status == 422
        assert expected in str(raised.value.body)
    ojobs.patch_spec("fixed", {"rerun": 3, "cancel": True})
    assert ojobs.get("fixed")["spec"]["rerun"] == 3
