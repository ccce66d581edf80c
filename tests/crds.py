"""Install the chart's CRDs on the local cluster (create or update) and wait for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from api.v1alpha1.crd import CRD_PATH
from tests.waiting import wait_for

# Every CRD the chart ships (helm installs them on a release's first install).
CHART_CRDS = CRD_PATH.parent


def apply_crd(api: client.ApiClient, manifest: dict[str, Any]) -> dict[str, Any]:
    """Create or replace one CRD and wait until it is Established."""
    extensions = client.ApiextensionsV1Api(api)
    name = manifest["metadata"]["name"]
    try:
        existing = extensions.read_custom_resource_definition(name)
        manifest["metadata"]["resourceVersion"] = existing.metadata.resource_version
        extensions.replace_custom_resource_definition(name, manifest)
    except client.ApiException as error:
        if error.status != 404:
            raise
        extensions.create_custom_resource_definition(manifest)

    def established() -> bool:
        conditions = extensions.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for(established, f"CRD {name} to be Established", 30)
    return manifest


def install_crd(api: client.ApiClient) -> dict[str, Any]:
    """The OmveeJob CRD."""
    manifest: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return apply_crd(api, manifest)


def install_chart_crds(api: client.ApiClient, folder: Path = CHART_CRDS) -> list[str]:
    """Every CRD in the chart's crds/ folder (OmveeJob and kopf's peerings); their names."""
    names = []
    for path in sorted(folder.glob("*.yaml")):
        for manifest in yaml.safe_load_all(path.read_text()):
            if manifest:
                names.append(apply_crd(api, manifest)["metadata"]["name"])
    return names
