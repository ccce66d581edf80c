"""The OmveeJob contract (omvee.io/v1alpha1): types, constants, and the CRD built from them.

The names below load on first use, so that a job type module (which imports
``api.v1alpha1.constants`` and ``api.v1alpha1.text``) can be imported while
``api.v1alpha1.types`` builds ``JobType`` from the job type modules.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "API_VERSION": "api.v1alpha1.constants",
    "GROUP": "api.v1alpha1.constants",
    "KIND": "api.v1alpha1.constants",
    "PLURAL": "api.v1alpha1.constants",
    "VERSION": "api.v1alpha1.constants",
    "Condition": "api.v1alpha1.types",
    "JobType": "api.v1alpha1.types",
    "OmveeJobSpec": "api.v1alpha1.types",
    "OmveeJobStatus": "api.v1alpha1.types",
    "Phase": "api.v1alpha1.types",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """``api.v1alpha1.<name>`` for the names in ``__all__``; AttributeError for others."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'api.v1alpha1' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
