"""The clients' per-type methods: one per declared job type, named by its operation id.

Made at import from the declarations (api.client.typed); ``jobtypes.pyi`` beside this file
types them for mypy and IDEs (generated too: ``python -m api.client.stub``).
"""

from __future__ import annotations

from api.client.typed import install


class JobTypeMethods:
    """OmveeClient's methods, one per declared job type (its operation id)."""


class AsyncJobTypeMethods:
    """AsyncOmveeClient's methods, one per declared job type (its operation id)."""


install(JobTypeMethods, AsyncJobTypeMethods)
