"""Run every benchmark: ``python -m tests.bench``."""

from __future__ import annotations

from tests.bench import api, controlplane, operator, transcription


def main() -> None:
    controlplane.main()
    operator.main()
    api.main()
    transcription.main()


if __name__ == "__main__":
    main()
