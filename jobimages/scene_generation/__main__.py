"""``python -m jobimages.scene_generation``: split a transcription job's transcript into scenes.
By hand: ``--transcript transcript.json [--max-scene-seconds 30]``."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from api.catalog.inputs import SceneGenerationInput
from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.job import Job, job_given
from jobimages.runtime.llm import chat_from_env
from jobimages.runtime.previous import previous_json
from jobimages.runtime.progress import ConsoleReporter
from jobimages.runtime.results import LocalResults
from jobimages.runtime.run import Context, execute, main
from jobimages.scene_generation.scenes import split_scenes

TITLE_SYSTEM = "Give a short title (at most 8 words) for this scene of a video. Reply with it."


def generate(context: Context, transcript: dict[str, Any] | None = None) -> dict[str, Any]:
    """The job's work: the transcription job's transcript (or ``transcript``) split into scenes,
    titled by the language model when one is configured, stored as scenes.json; returns
    {"scenes": count, "files": {"json": location}}. ``PermanentError`` for invalid input;
    ``RetryableError`` when a read or the model endpoint fails."""
    try:
        options = SceneGenerationInput.model_validate(context.job.input)
    except ValidationError as error:
        raise PermanentError(f"invalid input: {error.errors()[0]['msg']}") from None
    context.reporter.progress(10, "reading the transcript")
    if transcript is None:
        transcript = previous_json(context.job, options.transcript_job_id, "json")
    scenes = split_scenes(transcript, max_seconds=options.max_scene_seconds)
    if chat := chat_from_env():  # better titles; the cuts stay the algorithm's
        for scene in scenes:
            scene["title"] = chat.complete(TITLE_SYSTEM, scene["text"])[:80] or scene["title"]
    context.reporter.progress(90, f"{len(scenes)} scenes")
    location = context.results.put(
        context.key("scenes.json"), json.dumps({"scenes": scenes}).encode(), "application/json"
    )
    return {"scenes": len(scenes), "files": {"json": location}}


def by_hand(argv: list[str]) -> int:
    """Split ``--transcript`` (scenes of at most ``--max-scene-seconds``) into ``--results-dir``;
    returns the exit code (0, 65 or 75). ``SystemExit`` for bad arguments; ``OSError`` or
    ``ValueError`` when the transcript cannot be read as JSON."""
    parser = argparse.ArgumentParser(prog="python -m jobimages.scene_generation")
    parser.add_argument("--transcript", required=True, type=Path)
    parser.add_argument("--max-scene-seconds", type=float, default=30.0)
    parser.add_argument("--results-dir", default="omvee-results")
    args = parser.parse_args(argv)
    transcript = json.loads(args.transcript.read_text())
    job = Job(
        "scene-generation",
        "local",
        str(uuid.uuid4()),
        {"transcriptJobId": str(uuid.uuid4()), "maxSceneSeconds": args.max_scene_seconds},
    )
    return execute(
        lambda c: generate(c, transcript),
        job,
        ConsoleReporter(),
        LocalResults(Path(args.results_dir)),
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 or not job_given():
        raise SystemExit(by_hand(sys.argv[1:]))
    main(generate)
