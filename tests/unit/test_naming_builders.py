from __future__ import annotations

import json
from typing import Any

import pytest

from api.catalog.profiles import load_catalog
from api.v1alpha1 import constants
from api.v1alpha1.types import JobType, OmveeJobSpec
from controller.builders import RESULTS_MOUNT_PATH, ResultsStore, build_job, results_pod_parts
from controller.naming import job_name
from controller.settings import OperatorSettings, SettingsError

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


def pod_of(job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    return pod, container


def test_a_host_directory_results_store_is_mounted_at_one_path_in_every_job_pod() -> None:
    store = ResultsStore("volume", host_path="/srv/omvee/results")
    profile = load_catalog().profile(JobType.TRANSCRIPTION)
    pod, container = pod_of(
        build_job(
            name="ep-1",
            namespace="media",
            uid="uid-1",
            job_name="ep-1-r0",
            spec=SPEC,
            run=0,
            profile=profile,
            results=store,
        )
    )
    assert {"name": "results", "hostPath": {"path": "/srv/omvee/results", "type": "Directory"}} in (
        pod["volumes"]
    )
    assert {"name": "results", "mountPath": RESULTS_MOUNT_PATH} in container["volumeMounts"]
    assert {"name": "OMVEE_RESULTS_DIR", "value": RESULTS_MOUNT_PATH} in container["env"]
    # still uid 10001 with a read-only root: only /tmp and the store are writable
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["fsGroup"]) == (
        10001,
        10001,
    )


def test_a_claim_or_supabase_results_store_reaches_the_job_pod() -> None:
    volumes, mounts, env = results_pod_parts(ResultsStore("volume", claim="omvee-results"))
    assert volumes == [{"name": "results", "persistentVolumeClaim": {"claimName": "omvee-results"}}]
    assert mounts == [{"name": "results", "mountPath": RESULTS_MOUNT_PATH}]
    volumes, mounts, env = results_pod_parts(
        ResultsStore("supabase", secret="omvee-supabase", bucket="results")
    )
    assert (volumes, mounts) == ([], [])
    assert env == [
        {"name": "OMVEE_RESULTS", "value": "supabase"},
        {"name": "OMVEE_RESULTS_BUCKET", "value": "results"},
        {
            "name": "SUPABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "omvee-supabase", "key": "SUPABASE_URL"}},
        },
        {
            "name": "SUPABASE_SERVICE_ROLE_KEY",
            "valueFrom": {
                "secretKeyRef": {"name": "omvee-supabase", "key": "SUPABASE_SERVICE_ROLE_KEY"}
            },
        },
    ]
    assert results_pod_parts(None) == ([], [], [])
    _, container = pod_of(build())
    assert [m["name"] for m in container["volumeMounts"]] == ["tmp"]


RESULT_VARIABLES = (
    "OMVEE_RESULTS_STORE",
    "OMVEE_RESULTS_HOST_PATH",
    "OMVEE_RESULTS_CLAIM",
    "OMVEE_RESULTS_SECRET",
    "OMVEE_RESULTS_BUCKET",
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"OMVEE_RESULTS_HOST_PATH": "/srv/r"}, ResultsStore("volume", host_path="/srv/r")),
        ({"OMVEE_RESULTS_CLAIM": "c"}, ResultsStore("volume", claim="c")),
        (
            {"OMVEE_RESULTS_STORE": "supabase", "OMVEE_RESULTS_SECRET": "s"},
            ResultsStore("supabase", secret="s"),
        ),
        ({"OMVEE_RESULTS_STORE": "off", "OMVEE_RESULTS_HOST_PATH": "/srv/r"}, None),
    ],
)
def test_the_results_store_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: ResultsStore | None
) -> None:
    for name in RESULT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert OperatorSettings.from_env().results == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OMVEE_RESULTS_STORE": "volume"}, "needs exactly one of OMVEE_RESULTS_HOST_PATH"),
        (
            {"OMVEE_RESULTS_HOST_PATH": "/a", "OMVEE_RESULTS_CLAIM": "c"},
            "needs exactly one of OMVEE_RESULTS_HOST_PATH",
        ),
        ({"OMVEE_RESULTS_HOST_PATH": "results"}, "must be an absolute path, not 'results'"),
        ({"OMVEE_RESULTS_STORE": "supabase"}, "needs OMVEE_RESULTS_SECRET"),
        (
            {"OMVEE_RESULTS_SECRET": "s", "OMVEE_RESULTS_CLAIM": "c"},
            "volume takes no OMVEE_RESULTS_SECRET",
        ),
        ({"OMVEE_RESULTS_STORE": "s3"}, "volume, supabase or off, not 's3'"),
    ],
)
def test_bad_results_store_settings_say_what_to_set(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name in RESULT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        OperatorSettings.from_env()
