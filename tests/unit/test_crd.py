"""The CRD is generated from the models, and the committed copy matches."""

from __future__ import annotations

from api.v1alpha1.crd import CRD_PATH, build_crd, render
from api.v1alpha1.text import TEXT_PATTERN


def test_committed_crd_matches_the_models() -> None:
    assert CRD_PATH.read_text() == render(), (
        "charts/omvee/crds is stale: run `python -m api.v1alpha1.crd --write`"
    )


def test_crd_names_columns_and_status_subresource() -> None:
    crd = build_crd()
    assert crd["metadata"]["name"] == "omveejobs.omvee.io"
    names = crd["spec"]["names"]
    assert (names["kind"], names["shortNames"], crd["spec"]["scope"]) == (
        "OmveeJob",
        ["ojob"],
        "Namespaced",
    )
    [version] = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Type", "Phase", "Progress", "Attempts", "Age"]


def test_schema_is_structural_and_keeps_what_pods_write() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    assert spec["required"] == ["type", "projectId", "jobId"]
    assert spec["properties"]["retries"] == {
        "description": spec["properties"]["retries"]["description"],
        "maximum": 10,
        "minimum": 0,
        "type": "integer",
    }
    assert spec["properties"]["input"]["x-kubernetes-preserve-unknown-fields"] is True
    status = schema["properties"]["status"]["properties"]
    # The job pod writes these; a structural schema would silently prune them if absent.
    assert {"progress", "progressMessage", "result"} <= set(status)
    assert status["result"]["x-kubernetes-preserve-unknown-fields"] is True

    def walk(node: object) -> None:
        if isinstance(node, dict):
            assert "anyOf" not in node and "$ref" not in node and "title" not in node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)


def test_string_maps_keep_their_value_type() -> None:
    spec = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["podAnnotations"]["additionalProperties"] == {
        "type": "string",
        "pattern": TEXT_PATTERN,  # no control characters but tab and line breaks
    }
    assert "x-kubernetes-preserve-unknown-fields" not in spec["properties"]["podAnnotations"]
