"""``python -m jobimages.visual_prompts``: one image prompt per scene of a scene-generation job.
By hand: ``--scenes scenes.json [--style "..."]``."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from api.catalog.inputs import VisualPromptsInput
from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.job import Job, job_given
from jobimages.runtime.llm import chat_from_env
from jobimages.runtime.previous import previous_json
from jobimages.runtime.progress import ConsoleReporter
from jobimages.runtime.results import LocalResults
from jobimages.runtime.run import Context, execute, main
from jobimages.visual_prompts.prompts import prompt_for

PROMPT_SYSTEM = (
    "Write one prompt for an image generator that illustrates the scene, in the "
    "given style. Reply with the prompt only."
)


def generate(context: Context, scenes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The job's work: one image prompt per scene of the scene-generation job (or of ``scenes``),
    rewritten by the language model when one is configured, stored as prompts.json; returns
    {"prompts": count, "files": {"json": location}}. ``PermanentError`` for invalid input;
    ``RetryableError`` when a read or the model fails."""
    try:
        options = VisualPromptsInput.model_validate(context.job.input)
    except ValidationError as error:
        raise PermanentError(f"invalid input: {error.errors()[0]['msg']}") from None
    if scenes is None:
        scenes = previous_json(context.job, options.scenes_job_id, "json")
    prompts = [prompt_for(scene, options.style) for scene in scenes.get("scenes", [])]
    if chat := chat_from_env():
        for prompt, scene in zip(prompts, scenes.get("scenes", []), strict=True):
            prompt["prompt"] = chat.complete(
                PROMPT_SYSTEM,
                f"Scene: {scene['text']}\nStyle: {options.style or 'any'}\n"
                f"Keywords: {prompt['prompt']}",
            )
    context.reporter.progress(90, f"{len(prompts)} prompts")
    location = context.results.put(
        context.key("prompts.json"), json.dumps({"prompts": prompts}).encode(), "application/json"
    )
    return {"prompts": len(prompts), "files": {"json": location}}


def by_hand(argv: list[str]) -> int:
    """Write prompts for ``--scenes`` (in ``--style``) into ``--results-dir``; returns the exit code
    (0, 65 or 75). ``SystemExit`` for bad arguments; ``OSError`` or ``ValueError`` when the scenes
    file cannot be read as JSON."""
    parser = argparse.ArgumentParser(prog="python -m jobimages.visual_prompts")
    parser.add_argument("--scenes", required=True, type=Path)
    parser.add_argument("--style")
    parser.add_argument("--results-dir", default="omvee-results")
    args = parser.parse_args(argv)
    scenes = json.loads(args.scenes.read_text())
    job_input = {"scenesJobId": str(uuid.uuid4()), **({"style": args.style} if args.style else {})}
    job = Job("visual-prompts", "local", str(uuid.uuid4()), job_input)
    return execute(
        lambda c: generate(c, scenes), job, ConsoleReporter(), LocalResults(Path(args.results_dir))
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 or not job_given():
        raise SystemExit(by_hand(sys.argv[1:]))
    main(generate)
