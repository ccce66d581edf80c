"""``python -m tests.api_offline``: the REST API exactly as ``python -m api.rest`` serves it, with
the example names of tests.fakedns resolving (this machine has no DNS)."""

from __future__ import annotations

from api.rest.__main__ import main
from tests import fakedns

if __name__ == "__main__":
    fakedns.install()
    main()
