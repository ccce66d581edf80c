"""``python -m jobimages.transcription`` in a pod (reads $OMVEE_JOB), or by hand:
``python -m jobimages.transcription --audio-url URL [--language en] [--results-dir DIR]``."""

from __future__ import annotations

import argparse
import sys
import uuid

from jobimages.runtime.job import Job, job_given
from jobimages.runtime.progress import ConsoleReporter
from jobimages.runtime.results import LocalResults
from jobimages.runtime.run import execute, main
from jobimages.transcription.whisper import transcribe


def by_hand(argv: list[str]) -> int:
    """Transcribe ``--audio-url`` into ``--results-dir``; returns the exit code (0, 65 or 75).
    ``SystemExit`` for bad arguments."""
    parser = argparse.ArgumentParser(prog="python -m jobimages.transcription")
    parser.add_argument("--audio-url", required=True)
    parser.add_argument("--language")
    parser.add_argument("--results-dir", default="omvee-results")
    args = parser.parse_args(argv)
    job_input = {
        "audioUrl": args.audio_url,
        **({"language": args.language} if args.language else {}),
    }
    job = Job(type="transcription", project_id="local", job_id=str(uuid.uuid4()), input=job_input)
    from pathlib import Path

    return execute(transcribe, job, ConsoleReporter(), LocalResults(Path(args.results_dir)))


if __name__ == "__main__":
    if len(sys.argv) > 1 or not job_given():
        raise SystemExit(by_hand(sys.argv[1:]))
    main(transcribe)
