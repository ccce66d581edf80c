"""``python -m jobimages.image_generation``: one image per prompt of a visual-prompts job."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from api.catalog.inputs import ImageGenerationInput
from jobimages.image_generation.backends import ImageBackend, backend_from_env
from jobimages.image_generation.scene import SceneSpan
from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.job import Job, job_given
from jobimages.runtime.previous import previous_json
from jobimages.runtime.progress import ConsoleReporter
from jobimages.runtime.results import LocalResults
from jobimages.runtime.run import Context, execute, main


def scene_span(item: dict[str, Any]) -> SceneSpan | None:
    """Pure: the scene a prompt item ({"scene", "start", "end", ...}) illustrates, None when it
    lacks any of them or they are not numbers."""
    try:
        return SceneSpan(int(item["scene"]), float(item["start"]), float(item["end"]))
    except (KeyError, TypeError, ValueError):
        return None


def generate(
    context: Context, prompts: dict[str, Any] | None = None, backend: ImageBackend | None = None
) -> dict[str, Any]:
    """The job's work: one PNG per prompt of the visual-prompts job (or of ``prompts``,
    {"prompts": [...]}), stored as ``scene-NNN.png``, then images.json; returns
    {"images": count, "files": {"json": location}}. ``PermanentError`` for invalid input or a
    refused prompt; ``RetryableError`` when the provider or a read fails."""
    try:
        options = ImageGenerationInput.model_validate(context.job.input)
    except ValidationError as error:
        raise PermanentError(f"invalid input: {error.errors()[0]['msg']}") from None
    backend = backend or backend_from_env()
    if prompts is None:
        prompts = previous_json(context.job, options.prompts_job_id, "json")
    items = prompts.get("prompts", [])
    images = []
    for number, item in enumerate(items, start=1):
        png = backend.generate(
            item["prompt"],
            item.get("negative_prompt", ""),
            options.width,
            options.height,
            scene=scene_span(item),
        )
        images.append(
            {
                **item,
                "image": context.results.put(
                    context.key(f"scene-{item['scene']:03d}.png"), png, "image/png"
                ),
            }
        )
        context.reporter.progress(95 * number / len(items), f"image {number} of {len(items)}")
    location = context.results.put(
        context.key("images.json"), json.dumps({"images": images}).encode(), "application/json"
    )
    return {"images": len(images), "files": {"json": location}}


def by_hand(argv: list[str]) -> int:
    """Render ``--prompts`` (width and height in pixels) into ``--results-dir``; returns the exit
    code (0, 65 or 75). ``SystemExit`` for bad arguments; ``OSError`` or ``ValueError`` when the
    prompts file cannot be read as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m jobimages.image_generation",
        description="Render prompts.json with the backend $OMVEE_IMAGE_BACKEND names.",
    )
    parser.add_argument("--prompts", required=True, type=Path)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=576)
    parser.add_argument("--results-dir", default="omvee-results")
    args = parser.parse_args(argv)
    prompts = json.loads(args.prompts.read_text())
    job = Job(
        "image-generation",
        "local",
        str(uuid.uuid4()),
        {"promptsJobId": str(uuid.uuid4()), "width": args.width, "height": args.height},
    )
    return execute(
        lambda c: generate(c, prompts), job, ConsoleReporter(), LocalResults(Path(args.results_dir))
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 or not job_given():
        raise SystemExit(by_hand(sys.argv[1:]))
    main(generate)
