"""Each job type has an image recipe whose entrypoint is the catalog's command, run non-root."""

from __future__ import annotations

import importlib.util
import re

import pytest

from api.catalog.profiles import load_catalog
from api.v1alpha1.types import JobType
from controller.builders import RUN_AS_USER
from tests.localcluster.layout import REPO_ROOT


@pytest.mark.parametrize("job_type", list(JobType))
def test_dockerfile_matches_the_catalog(job_type: JobType) -> None:
    profile = load_catalog().profile(job_type)
    module = profile.command[-1]
    assert profile.command[:2] == ["python", "-m"] and module.startswith("jobimages.")
    assert importlib.util.find_spec(f"{module}.__main__") is not None
    dockerfile = (REPO_ROOT / module.replace(".", "/") / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert base and ":" in base.group(1) and not base.group(1).endswith(":latest")
    assert f"USER {RUN_AS_USER}" in dockerfile
    assert f'"-m", "{module}"]' in dockerfile
    if profile.gpu:
        assert base.group(1).startswith("nvidia/cuda:")
        assert "python-is-python3" in dockerfile  # the catalog's command runs `python`


def test_platform_image_runs_the_operator_and_api_as_the_charts_user() -> None:
    """controller/Dockerfile is the omvee-jobs image the chart runs both commands in."""
    dockerfile = (REPO_ROOT / "controller/Dockerfile").read_text()
    assert f"USER {RUN_AS_USER}" in dockerfile
    assert "--uid 10001" in dockerfile
    deployment = (REPO_ROOT / "charts/omvee/templates/operator/deployment.yaml").read_text()
    assert "command: [python, -m, controller]" in deployment
    api = (REPO_ROOT / "charts/omvee/templates/api/deployment.yaml").read_text()
    assert "command: [python, -m, api.rest]" in api
    assert importlib.util.find_spec("api.rest.__main__") is not None
    assert importlib.util.find_spec("controller.__main__") is not None
