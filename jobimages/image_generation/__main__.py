"""``python -m jobimages.image_generation``: one image per prompt of a visual-prompts job."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from api.catalog.inputs import ImageGenerationInput
from jobimages.image_generation.backends import ImageBackend, backend_from_env
from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.previous import previous_json
from jobimages.runtime.run import Context, main


def generate(
    context: Context, prompts: dict[str, Any] | None = None, backend: ImageBackend | None = None
) -> dict[str, Any]:
    try:
        options = ImageGenerationInput.model_validate(context.job.input)
    except ValidationError as error:
        raise PermanentError(f"invalid input: {error.errors()[0]['msg']}") from None
    backend = backend or backend_from_env()
    if prompts is None:
        prompts = previous_json(context.job.namespace, options.prompts_job_id, "json")
    items = prompts.get("prompts", [])
    images = []
    for number, item in enumerate(items, start=1):
        png = backend.generate(
            item["prompt"], item.get("negative_prompt", ""), options.width, options.height
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
    import json

    location = context.results.put(
        context.key("images.json"), json.dumps({"images": images}).encode(), "application/json"
    )
    return {"images": len(images), "files": {"json": location}}


if __name__ == "__main__":
    main(generate)
