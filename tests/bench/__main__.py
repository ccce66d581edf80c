"""Run every benchmark: ``python -m tests.bench``."""

from __future__ import annotations

from tests.bench import api, controlplane, operator, stream, transcription


def main() -> None:
    controlplane.main()
    operator.main()
    api.main()
    stream.main()
    transcription.main()


if __name__ == "__main__":
    main()
