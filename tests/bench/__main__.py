"""Run every benchmark: ``python -m tests.bench``."""

from __future__ import annotations

from tests.bench import controlplane, operator


def main() -> None:
    controlplane.main()
    operator.main()


if __name__ == "__main__":
    main()
