"""A job profile's ``env``: extra variables of the job container (the image backend...),
never one the operator sets itself; rendered into the Job after the operator's."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from api.catalog.profiles import (
    DEFAULT_PROFILES,
    OPERATOR_ENV,
    CatalogError,
    load_catalog,
    parse_catalog,
)
from api.v1alpha1.types import JobType, OmveeJobSpec
from controller.builders import ResultsStore, build_job
from tests.localcluster.layout import REPO_ROOT

SPEC = OmveeJobSpec.model_validate(
    {
        "type": "image-generation",
        "projectId": "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10",
        "jobId": "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e",
        "input": {"promptsJobId": "0b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e"},
    }
)


def profiles(**image_generation: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_PROFILES.read_text())
    data["types"]["image-generation"].update(image_generation)
    return data


def container_env(data: dict[str, Any], results: ResultsStore | None = None) -> list[Any]:
    job = build_job(
        name="ep-1",
        namespace="media",
        uid="uid-1",
        job_name="ep-1-r0",
        spec=SPEC,
        run=0,
        profile=parse_catalog(data).profile(JobType.IMAGE_GENERATION),
        extra_env=(("OMVEE_URL_HOSTS", '["*.example.com"]'),),
        results=results,
    )
    env: list[Any] = job["spec"]["template"]["spec"]["containers"][0]["env"]
    return env


def test_a_profiles_env_reaches_the_job_container_after_the_operators() -> None:
    env = container_env(profiles(env={"OMVEE_IMAGE_BACKEND": "storyboard", "LOG_LEVEL": "debug"}))
    names = [e["name"] for e in env]
    assert names[-2:] == ["OMVEE_IMAGE_BACKEND", "LOG_LEVEL"]
    assert {"name": "OMVEE_IMAGE_BACKEND", "value": "storyboard"} in env
    assert len(names) == len(set(names))


def test_no_env_by_default() -> None:
    catalog = load_catalog()
    assert all(profile.env == {} for profile in catalog.profiles.values())


@pytest.mark.parametrize(
    "results",
    [
        None,
        ResultsStore("volume", host_path="/srv/results"),
        ResultsStore("supabase", secret="omvee-results"),
    ],
)
def test_every_variable_the_operator_sets_is_one_a_profile_may_not(
    results: ResultsStore | None,
) -> None:
    """OPERATOR_ENV lists what build_job sets: a profile can never clash with it."""
    operator_names = {e["name"] for e in container_env(profiles(), results)}
    assert operator_names <= OPERATOR_ENV


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OMVEE_JOB": "{}"}, "image-generation.env: OMVEE_JOB: set by the operator"),
        ({"OMVEE_JOB_EXTRA": "x"}, "OMVEE_JOB_EXTRA: set by the operator"),
        ({"TMPDIR": "/var", "OMVEE_RESULTS_DIR": "/x"}, "OMVEE_RESULTS_DIR, TMPDIR: set by"),
        ({"OMVEE_URL_HOSTS": "[]"}, "OMVEE_URL_HOSTS: set by the operator"),
        ({"SUPABASE_SERVICE_ROLE_KEY": "k"}, "SUPABASE_SERVICE_ROLE_KEY: set by the operator"),
        ({"1BAD": "x"}, "image-generation.env.1BAD.[key]: String should match pattern"),
        ({"A-B": "x"}, "String should match pattern"),
        ({"WORKERS": 3}, "image-generation.env.WORKERS: Input should be a valid string"),
    ],
)
def test_a_profile_env_the_operator_owns_or_malformed_is_refused(
    env: dict[str, Any], message: str
) -> None:
    with pytest.raises(CatalogError, match="profiles: ") as raised:
        parse_catalog(profiles(env=env))
    assert message in str(raised.value)


def test_defaults_env_applies_to_types_without_their_own() -> None:
    data = profiles(env={"OMVEE_IMAGE_BACKEND": "storyboard"})
    data["defaults"]["env"] = {"LOG_LEVEL": "info"}
    catalog = parse_catalog(data)
    assert catalog.profile(JobType.SCENE_GENERATION).env == {"LOG_LEVEL": "info"}
    # a type's own env replaces the defaults' whole, like every profile key
    assert catalog.profile(JobType.IMAGE_GENERATION).env == {"OMVEE_IMAGE_BACKEND": "storyboard"}


def test_the_local_cluster_draws_storyboards() -> None:
    """`make up` and the real-node tests: no GPU, no image service, storyboard frames."""
    local = load_catalog(REPO_ROOT / "charts/omvee/examples/profiles-local.yaml")
    assert local.profile(JobType.IMAGE_GENERATION).env == {"OMVEE_IMAGE_BACKEND": "storyboard"}
    values = yaml.safe_load((REPO_ROOT / "charts/omvee/examples/values-local.yaml").read_text())
    image_generation = values["jobs"]["types"]["image-generation"]
    assert image_generation["env"] == {"OMVEE_IMAGE_BACKEND": "storyboard"}
