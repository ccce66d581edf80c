"""Image backends behind one interface: an OpenAI-compatible HTTP endpoint (a hosted provider),
diffusers on the node's GPU, or storyboard frames drawn without a model (no GPU, no service:
jobimages.image_generation.storyboard). Chosen by $OMVEE_IMAGE_BACKEND (http | diffusers |
storyboard)."""

from __future__ import annotations

import base64
from typing import Protocol

import httpx

from jobimages.image_generation.scene import SceneSpan
from jobimages.image_generation.settings import ImageSettings
from jobimages.runtime.exitcodes import PermanentError, RetryableError
from jobimages.runtime.settings import load


class ImageBackend(Protocol):
    """Renders a prompt as one PNG of ``width`` x ``height`` pixels; ``scene`` (its number and
    span in the audio) is what the prompt illustrates, which only a storyboard draws."""

    def generate(
        self,
        prompt: str,
        negative_prompt: str,
        width: int,
        height: int,
        *,
        scene: SceneSpan | None = None,
    ) -> bytes:
        """One PNG."""


class HttpImageBackend:
    """``POST {url}/v1/images/generations`` with ``response_format: b64_json``."""

    def __init__(self, url: str, api_key: str, model: str, timeout: float = 300.0) -> None:
        self.url, self.api_key, self.model, self.timeout = url.rstrip("/"), api_key, model, timeout

    def generate(
        self,
        prompt: str,
        negative_prompt: str,
        width: int,
        height: int,
        *,
        scene: SceneSpan | None = None,
    ) -> bytes:
        """One PNG (bytes) of ``width`` x ``height`` pixels (``scene`` is not sent: the model
        draws the prompt). ``RetryableError`` when the provider is unreachable or fails (HTTP
        4xx/5xx), ``PermanentError`` when it refuses the prompt (400, 422)."""
        try:
            response = httpx.post(
                f"{self.url}/v1/images/generations",
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.api_key}"} if self.api_key else {},
                json={
                    "model": self.model,
                    "prompt": prompt,
                    "n": 1,
                    "size": f"{width}x{height}",
                    "response_format": "b64_json",
                },
            )
        except httpx.HTTPError as error:
            raise RetryableError(f"the image provider is unreachable: {error}") from None
        if response.status_code in (400, 422):
            raise PermanentError(f"the image provider refused the prompt: {response.text[:200]}")
        if response.status_code >= 400:
            raise RetryableError(f"the image provider failed with HTTP {response.status_code}")
        return base64.b64decode(response.json()["data"][0]["b64_json"])


class DiffusersBackend:
    """A diffusers pipeline on the GPU ($OMVEE_DIFFUSERS_MODEL); needs torch and diffusers in
    the GPU image."""

    def __init__(self, model: str) -> None:
        import torch
        from diffusers import AutoPipelineForText2Image

        self.pipeline = AutoPipelineForText2Image.from_pretrained(
            model, torch_dtype=torch.float16
        ).to("cuda")

    def generate(
        self,
        prompt: str,
        negative_prompt: str,
        width: int,
        height: int,
        *,
        scene: SceneSpan | None = None,
    ) -> bytes:
        """One PNG (bytes) of ``width`` x ``height`` pixels, rendered on the GPU (``scene`` is
        not used: the model draws the prompt); the pipeline's errors (CUDA out of memory...)
        propagate."""
        import io

        image = self.pipeline(
            prompt=prompt, negative_prompt=negative_prompt, width=width, height=height
        ).images[0]
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()


def backend_from_env() -> ImageBackend:
    """The backend ``ImageSettings`` names; PermanentError when none is configured or a
    setting is wrong (each names its variable)."""
    settings = load(ImageSettings)
    if settings.backend == "http":
        if not settings.url:
            raise PermanentError(
                "the job pod is misconfigured: OMVEE_IMAGE_BACKEND=http needs OMVEE_IMAGE_URL"
            )
        return HttpImageBackend(settings.url, settings.api_key, settings.model)
    if settings.backend == "diffusers":
        return DiffusersBackend(settings.diffusers_model)
    if settings.backend == "storyboard":
        from jobimages.image_generation.storyboard import StoryboardBackend

        return StoryboardBackend()
    raise PermanentError(
        "no image backend configured: set OMVEE_IMAGE_BACKEND to http "
        "(with OMVEE_IMAGE_URL) or diffusers for an image model, or storyboard (frames drawn "
        "from the prompts' words, no model)"
    )
