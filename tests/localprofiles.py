"""Write the local cluster's job catalog: ``python -m tests.localprofiles [--write]``.

``charts/omvee/examples/profiles-local.yaml`` (the operator's OMVEE_PROFILES for ``make up`` and
the real-node tests) is the chart's rendering of ``values-local.yaml``;
``tests/integration/test_local_profiles.py`` keeps them equal. After a job type or profile
changes (``make generate``), this renders it again with helm. Without ``--write`` it prints it.
"""

from __future__ import annotations

import sys

import yaml

from tests.helm import Helm
from tests.localcluster.layout import REPO_ROOT

EXAMPLES = REPO_ROOT / "charts/omvee/examples"
TARGET = EXAMPLES / "profiles-local.yaml"


def render() -> str:
    """The file's text: its header comment, then the rendered catalog (keys sorted)."""
    rendered = Helm().template("-f", str(EXAMPLES / "values-local.yaml"))
    catalog = next(
        d
        for d in rendered
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-catalog")
    )
    current = TARGET.read_text().splitlines(keepends=True)
    header = "".join(line for line in current[: _header_end(current)])
    return header + yaml.safe_dump(yaml.safe_load(catalog["data"]["profiles.yaml"]))


def _header_end(lines: list[str]) -> int:
    for number, line in enumerate(lines):
        if not line.startswith("#"):
            return number
    return len(lines)


if __name__ == "__main__":
    text = render()
    if sys.argv[1:] == ["--write"]:
        TARGET.write_text(text)
        sys.stderr.write(f"wrote {TARGET}\n")
    else:
        sys.stdout.write(text)
