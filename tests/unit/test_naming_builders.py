from __future__ import annotations

import json
from typing import Any

import pytest

from api.catalog.profiles import load_catalog
from api.v1alpha1 import constants
from api.v1alpha1.types import JobType, OmveeJobSpec
from controller.builders import build_job
from controller.naming import job_name
from controller.settings import OperatorSettings

SPEC = OmveeJobSpec.model_validate(
    {
        "type": "transcription",
        "projectId": "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10",
        "jobId": "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e",
        "input": {"audioUrl": "https://x/a.mp3"},
        "podAnnotations": {"sidecar.istio.io/inject": "false"},
    }
)


@pytest.mark.parametrize(
    ("name", "run", "expected"),
    [
        ("ep-1", 0, "ep-1-r0"),
        ("ep-1", 12, "ep-1-r12"),
        ("a" * 60, 0, "a" * 60 + "-r0"),
    ],
)
def test_short_names_are_kept(name: str, run: int, expected: str) -> None:
    assert job_name(name, run) == expected


def test_long_names_are_cut_and_stay_unique() -> None:
    first, second = job_name("x" * 63, 3), job_name("x" * 62 + "y", 3)
    assert len(first) == len(second) == 63
    assert first.endswith("-r3") and second.endswith("-r3")
    assert first != second
    assert job_name("x" * 63, 3) == first  # deterministic


def build(extra_env: tuple[tuple[str, str], ...] = (), **overrides: object) -> dict[str, Any]:
    spec = SPEC.model_copy(update=overrides)
    profile = load_catalog().profile(JobType.TRANSCRIPTION)
    return build_job(
        name="ep-1",
        namespace="media",
        uid="uid-1",
        job_name="ep-1-r0",
        spec=spec,
        run=0,
        profile=profile,
        extra_env=extra_env,
    )


def test_job_is_owned_labelled_and_bounded() -> None:
    job = build()
    meta, spec = job["metadata"], job["spec"]
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "omvee.io/v1alpha1",
            "kind": "OmveeJob",
            "name": "ep-1",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert meta["labels"][constants.LABEL_OMVEEJOB] == "ep-1"
    assert meta["labels"][constants.LABEL_TYPE] == "transcription"
    assert meta["labels"][constants.LABEL_RUN] == "0"
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (2, 3600)
    assert spec["ttlSecondsAfterFinished"] == 86400
    assert spec["podReplacementPolicy"] == "Failed"
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "FailJob",
        "onExitCodes": {"containerName": "job", "operator": "In", "values": [65]},
    }
    assert rules[1] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}


def test_spec_overrides_win_over_the_profile() -> None:
    spec = build(retries=0, timeout_seconds=30)["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, 30)


def test_pod_is_hardened_placed_on_gpu_and_told_its_job() -> None:
    template = build()["spec"]["template"]
    pod = template["spec"]
    assert template["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    assert template["metadata"]["labels"][constants.LABEL_OMVEEJOB] == "ep-1"
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["serviceAccountName"] == "omvee-job-runner"
    [container] = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert json.loads(env[constants.ENV_JOB]) == {
        "name": "ep-1",
        "namespace": "media",
        "run": 0,
        "type": "transcription",
        "projectId": SPEC.project_id,
        "jobId": SPEC.job_id,
        "input": {"audioUrl": "https://x/a.mp3"},
    }


def test_the_url_policy_the_operator_was_given_reaches_every_job_container() -> None:
    job = build(extra_env=(("OMVEE_URL_HOSTS", '["*.example.com"]'),))
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert {"name": "OMVEE_URL_HOSTS", "value": '["*.example.com"]'} in container["env"]


def test_the_operator_passes_on_only_the_url_policy_it_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMVEE_URL_BLOCKED_NETWORKS", '["10.0.0.0/8"]')
    monkeypatch.delenv("OMVEE_URL_HOSTS", raising=False)
    monkeypatch.setenv("OMVEE_URL_ALLOWED_NETWORKS", "")
    assert OperatorSettings.from_env().job_env == (
        ("OMVEE_URL_BLOCKED_NETWORKS", '["10.0.0.0/8"]'),
    )
