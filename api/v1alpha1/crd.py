"""Build the OmveeJob CustomResourceDefinition from the pydantic models.

The chart's ``crds/omveejobs.omvee.io.yaml`` is this module's output (``python -m
api.v1alpha1.crd``), never hand-edited; a test fails when the committed file drifts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from api.v1alpha1 import constants
from api.v1alpha1.types import OmveeJobSpec, OmveeJobStatus

CRD_PATH = Path(__file__).resolve().parents[2] / "charts/omvee/crds/omveejobs.omvee.io.yaml"

DESCRIPTION = (
    "A long-running OMVEE job (transcription, scenes, prompts, images, video). Each attempt "
    "runs as a pod of a batch/v1 Job the operator creates."
)
NAME_RULE_MESSAGE = "metadata.name must be at most 63 characters: it labels the Job and pods"

SELECTABLE = (
    ".spec.jobId",
    ".spec.projectId",
    ".spec.type",
    ".spec.pipelineId",
    ".status.phase",
)

# JSON Schema keywords a structural Kubernetes schema keeps.
_KEPT = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
}


def _structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Turn pydantic's JSON Schema into a structural OpenAPI v3 schema."""
    if "$ref" in schema:
        resolved = dict(defs[schema["$ref"].split("/")[-1]])
        resolved.update({k: v for k, v in schema.items() if k != "$ref"})
        return _structural(resolved, defs)
    if "anyOf" in schema:  # Optional[X] -> X; absence means None on the wire
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {schema}")
        merged = {k: v for k, v in schema.items() if k != "anyOf"}
        merged.update(options[0])
        return _structural(merged, defs)
    out: dict[str, Any] = {k: v for k, v in schema.items() if k in _KEPT}
    if out.get("default") is None:
        out.pop("default", None)
    out.update({k: v for k, v in schema.items() if k.startswith("x-kubernetes-")})
    if isinstance(schema.get("additionalProperties"), dict):  # a map with typed values
        out["additionalProperties"] = _structural(schema["additionalProperties"], defs)
    if "properties" in schema:
        out["properties"] = {
            name: _structural(prop, defs) for name, prop in schema["properties"].items()
        }
    elif out.get("type") == "object" and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "items" in schema:
        out["items"] = _structural(schema["items"], defs)
    return out


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema (camelCase) of ``model``. Raises ValueError for a
    union other than ``X | None``."""
    raw = model.model_json_schema(by_alias=True)
    return _structural(raw, raw.get("$defs", {}))


def build_crd() -> dict[str, Any]:
    """The OmveeJob CustomResourceDefinition (apiextensions.k8s.io/v1) as a dict: names,
    printer columns, selectable fields and the spec and status schemas of the models."""
    spec = model_schema(OmveeJobSpec)
    status = model_schema(OmveeJobStatus)
    columns = [
        {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Progress", "type": "integer", "jsonPath": ".status.progress"},
        {"name": "Attempts", "type": "integer", "jsonPath": ".status.attempts"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Node", "type": "string", "jsonPath": ".status.nodeName", "priority": 1},
        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{constants.PLURAL}.{constants.GROUP}"},
        "spec": {
            "group": constants.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": constants.KIND,
                "listKind": f"{constants.KIND}List",
                "plural": constants.PLURAL,
                "singular": constants.SINGULAR,
                "shortNames": list(constants.SHORT_NAMES),
                "categories": ["omvee"],
            },
            "versions": [
                {
                    "name": constants.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    # `kubectl get ojob --field-selector spec.projectId=...`; the REST API lists
                    # with these.
                    "selectableFields": [{"jsonPath": path} for path in SELECTABLE],
                    "schema": {
                        "openAPIV3Schema": {
                            "description": DESCRIPTION,
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                            "x-kubernetes-validations": [
                                {
                                    "rule": "self.metadata.name.size() <= 63",
                                    "message": NAME_RULE_MESSAGE,
                                }
                            ],
                        }
                    },
                }
            ],
        },
    }


def render() -> str:
    """The CRD as YAML with a do-not-edit header: the committed file's exact text."""
    header = (
        "# Generated by `python -m api.v1alpha1.crd` from api/v1alpha1/types.py. Do not edit.\n"
    )
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        CRD_PATH.parent.mkdir(parents=True, exist_ok=True)
        CRD_PATH.write_text(render())
        sys.stderr.write(f"wrote {CRD_PATH}\n")
    else:
        sys.stdout.write(render())
