"""Generate the chart's knowledge of job types from their declarations and profiles.

Two generated parts of ``charts/omvee``, checked for drift by a test like the CRD:

- in ``values.schema.json``, ``jobs.defaults`` and ``jobs.types``: one entry per declared type,
  each the :class:`~api.catalog.profiles.JobProfile` model's schema plus the chart's ``gpu``
  switch, so a profile the operator would refuse is refused by ``helm install`` already;
- in ``values.yaml``, the ``jobs.types`` block between the BEGIN/END markers: each type's
  entry of ``api/catalog/profiles.yaml``, with ``gpu: true`` in place of the GPU node selector
  and toleration for a type declared ``gpu`` (the chart adds ``jobs.gpu``'s).

``python -m api.catalog.chart --write`` rewrites both; without ``--write`` it exits 1 and names
the files that differ. ``--schema`` prints the values schema alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from api.catalog.profiles import DEFAULT_PROFILES, JobProfile
from api.catalog.registry import BY_NAME, DEFINITIONS

CHART = Path(__file__).resolve().parents[2] / "charts/omvee"
SCHEMA_PATH = CHART / "values.schema.json"
VALUES_PATH = CHART / "values.yaml"
BEGIN = "  # BEGIN job types"
END = "  # END job types"
# Schema keywords helm's validator needs; titles and defaults are the model's business.
_DROPPED = {"title", "default"}


def _plain(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with $refs resolved, ``anyOf [X, null]`` as X, titles and defaults gone."""
    if isinstance(schema, list):
        return [_plain(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _plain(defs[schema["$ref"].split("/")[-1]], defs)
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return _plain({**options[0], **rest}, defs)
    return {
        key: _plain(value, defs)
        if key != "properties"
        else {name: _plain(field, defs) for name, field in value.items()}
        for key, value in schema.items()
        if key not in _DROPPED and key != "$defs"
    }


def profile_schema() -> dict[str, Any]:
    """A type's entry under ``jobs.types``: the profile model (camelCase) plus ``gpu``."""
    raw = JobProfile.model_json_schema(by_alias=True)
    schema: dict[str, Any] = _plain(raw, raw.get("$defs", {}))
    schema.pop("description", None)
    schema["properties"] = {
        **schema["properties"],
        "gpu": {
            "type": "boolean",
            "description": "Run on GPU nodes: the chart adds jobs.gpu's node selector and "
            "tolerations unless the type sets its own.",
        },
    }
    return schema


def types_schema() -> dict[str, Any]:
    """``jobs.types``: one profile entry per declared job type, no other key."""
    entry = profile_schema()
    return {
        "type": "object",
        "description": "Where and how each job type runs (its profile).",
        "properties": {d.name: entry for d in DEFINITIONS},
        "additionalProperties": False,
    }


def defaults_schema() -> dict[str, Any]:
    """``jobs.defaults``: any profile key but the image and command, merged under each type."""
    entry = profile_schema()
    properties = {
        k: v for k, v in entry["properties"].items() if k not in ("image", "command", "gpu")
    }
    return {"type": "object", "properties": properties, "additionalProperties": False}


def values_schema(current: dict[str, Any]) -> dict[str, Any]:
    """``current`` (the values schema) with its generated parts replaced."""
    schema: dict[str, Any] = json.loads(json.dumps(current))
    jobs = schema["properties"]["jobs"]["properties"]
    jobs["defaults"] = defaults_schema()
    jobs["types"] = types_schema()
    return schema


def types_block(profiles_path: Path = DEFAULT_PROFILES) -> str:
    """The ``jobs.types`` block of values.yaml (indented two spaces), from the profiles file.

    Raises KeyError when the profiles file holds a type no module declares."""
    data = yaml.safe_load(profiles_path.read_text())
    types: dict[str, Any] = {}
    for definition in DEFINITIONS:
        entry = dict(data["types"][definition.name] or {})
        if definition.gpu:
            entry.pop("nodeSelector", None)
            entry.pop("tolerations", None)
            entry = {"gpu": True, **entry}
        types[definition.name] = entry
    undeclared = sorted(set(data["types"]) - set(BY_NAME))
    if undeclared:
        raise KeyError(f"{profiles_path}: profiles for undeclared job type(s) {undeclared}")
    body = yaml.safe_dump({"types": types}, sort_keys=False, default_flow_style=None, width=100)
    indented = "".join(f"  {line}\n" if line else "\n" for line in body.splitlines())
    note = (
        "  # Generated from api/catalog/profiles.yaml by `python -m api.catalog.chart --write`;"
        "\n  # edit that file, not this block.\n"
    )
    return f"{BEGIN}\n{note}{indented}{END}\n"


def values_yaml(current: str, profiles_path: Path = DEFAULT_PROFILES) -> str:
    """``current`` (values.yaml's text) with the generated block replaced. Raises ValueError
    when the markers are missing."""
    start, end = current.find(BEGIN), current.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{VALUES_PATH}: the '{BEGIN.strip()}' ... '{END.strip()}' markers")
    after = current.index("\n", end) + 1
    return current[:start] + types_block(profiles_path) + current[after:]


def render_schema(current: dict[str, Any]) -> str:
    """The values schema file's text (2-space JSON, trailing newline)."""
    return json.dumps(values_schema(current), indent=2) + "\n"


def main(argv: list[str]) -> int:
    """Check (default), ``--write`` or ``--schema``; 1 when a generated part is out of date."""
    schema_text = render_schema(json.loads(SCHEMA_PATH.read_text()))
    if argv == ["--schema"]:
        sys.stdout.write(schema_text)
        return 0
    values_text = values_yaml(VALUES_PATH.read_text())
    wanted = {SCHEMA_PATH: schema_text, VALUES_PATH: values_text}
    stale = [path for path, text in wanted.items() if path.read_text() != text]
    if argv == ["--write"]:
        for path in stale:
            path.write_text(wanted[path])
            sys.stderr.write(f"wrote {path}\n")
        return 0
    for path in stale:
        sys.stderr.write(f"{path} is out of date: run python -m api.catalog.chart --write\n")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
