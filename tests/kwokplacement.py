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
from tests.localcluster.stages import RUN_DURATION

KWOK_SELECTOR = {"type": "kwok"}
# kwok ends a Running pod after its run duration (1s unless annotated) whatever its
# restartPolicy, so the chart's Deployments would churn through pods, each Ready for a second.
# Their pods are servers: they run for longer than any test session.
SERVER_RUN_DURATION = "24h"


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
    """Chart values placing the operator's and the API's pods on the fake nodes, where kwok
    keeps them Running (and Ready) as the servers they are."""
    placement = {
        "nodeSelector": KWOK_SELECTOR,
        "tolerations": [dict(FAKE_TOLERATION)],
        "podAnnotations": {RUN_DURATION: SERVER_RUN_DURATION},
    }
    path = state_root() / "values-kwok.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"operator": placement, "api": placement}))
    return path
