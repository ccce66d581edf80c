"""Where the kwok-era tests put their pods: on kwok's fake nodes, never on the real node.

kwok's fake nodes are tainted (tests.localcluster.nodes.FAKE_TAINT) so ordinary pods land on the
real node only. Tests whose pods kwok plays therefore run the operator with this catalog: the
production one (api/catalog/profiles.yaml, unchanged) with every type also selecting the fake
nodes (label ``type: kwok``) and tolerating their taint; and install the chart with values that
place its operator and API pods there too (their image is not run for real).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from api.catalog.profiles import DEFAULT_PROFILES
from tests.localcluster.layout import state_root
from tests.localcluster.nodes import FAKE_TOLERATION

KWOK_SELECTOR = {"type": "kwok"}


def kwok_catalog(catalog: dict[str, Any]) -> dict[str, Any]:
    """``catalog`` (the profiles file's shape) with every type on the fake nodes."""
    placed = {**catalog, "types": {}}
    for name, profile in catalog["types"].items():
        placed["types"][name] = {
            **profile,
            "nodeSelector": {**profile.get("nodeSelector", {}), **KWOK_SELECTOR},
            "tolerations": [*profile.get("tolerations", []), dict(FAKE_TOLERATION)],
        }
    return placed


def kwok_profiles() -> Path:
    """The kwok catalog as a file (OMVEE_PROFILES), written into the state folder."""
    path = state_root() / "profiles-kwok.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kwok_catalog(yaml.safe_load(DEFAULT_PROFILES.read_text()))))
    return path


def kwok_chart_values() -> Path:
    """Chart values placing the operator's and the API's pods on the fake nodes."""
    placement = {"nodeSelector": KWOK_SELECTOR, "tolerations": [dict(FAKE_TOLERATION)]}
    path = state_root() / "values-kwok.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"operator": placement, "api": placement}))
    return path
