"""The job types this process knows: every declaration :func:`discover` finds, loaded once.

``DEFINITIONS`` is ordered (pipeline order); ``BY_NAME`` maps ``spec.type`` to its definition.
``python -m api.catalog.registry`` prints the names, one per line (the Makefile's type list).
"""

from __future__ import annotations

import sys

from api.catalog.definition import JobTypeDefinition, discover

DEFINITIONS: tuple[JobTypeDefinition, ...] = discover()
BY_NAME: dict[str, JobTypeDefinition] = {d.name: d for d in DEFINITIONS}
TYPE_NAMES: tuple[str, ...] = tuple(d.name for d in DEFINITIONS)


def definition(job_type: str) -> JobTypeDefinition:
    """The declaration of ``job_type`` (a ``JobType`` or its value). Raises KeyError for a
    type no module declares."""
    return BY_NAME[str(job_type)]


if __name__ == "__main__":
    sys.stdout.write("".join(f"{name}\n" for name in TYPE_NAMES))
