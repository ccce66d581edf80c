"""Install the chart's OmveeJob CRD on the local cluster (create or update) and wait for it."""

from __future__ import annotations

from typing import Any

import yaml
from kubernetes import client

from api.v1alpha1.crd import CRD_PATH
from tests.waiting import wait_for


def install_crd(api: client.ApiClient) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
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
