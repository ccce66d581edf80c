"""The local cluster's job catalog (charts/omvee/examples/profiles-local.yaml, used by an
operator run outside the cluster) is the chart's rendering of values-local.yaml, so `make up`
and `helm install -f values-local.yaml` place jobs alike."""

from __future__ import annotations

from pathlib import Path

import yaml

from api.catalog.profiles import load_catalog
from tests.helm import Helm
from tests.localcluster.layout import REPO_ROOT

EXAMPLES = REPO_ROOT / "charts/omvee/examples"


def test_profiles_local_is_the_chart_rendering_of_values_local(helm: Helm) -> None:
    rendered = helm.template("-f", str(EXAMPLES / "values-local.yaml"))
    catalog = next(
        d
        for d in rendered
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-catalog")
    )
    assert yaml.safe_load(catalog["data"]["profiles.yaml"]) == yaml.safe_load(
        (EXAMPLES / "profiles-local.yaml").read_text()
    )


def test_no_local_type_asks_for_a_gpu_or_a_gpu_node() -> None:
    catalog = load_catalog(Path(EXAMPLES / "profiles-local.yaml"))
    for job_type, profile in catalog.profiles.items():
        assert not profile.gpu, job_type
        assert not profile.node_selector, job_type
        assert not profile.tolerations, job_type
