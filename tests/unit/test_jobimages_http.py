"""Contracts: the exact requests to an OpenAI-compatible chat endpoint and image provider."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest

from jobimages.image_generation.__main__ import generate as generate_images
from jobimages.image_generation.backends import HttpImageBackend, backend_from_env
from jobimages.runtime.exitcodes import PermanentError, RetryableError
from jobimages.runtime.job import Job
from jobimages.runtime.llm import ChatModel
from jobimages.runtime.progress import ConsoleReporter
from jobimages.runtime.results import LocalResults
from jobimages.runtime.run import Context
from tests.recorder import recording_server

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
    "hKmMIQAAAABJRU5ErkJggg=="
)


def test_chat_request_is_pinned() -> None:
    reply = {"choices": [{"message": {"role": "assistant", "content": " A fox at dusk \n"}}]}
    with recording_server(lambda path, body: (200, reply)) as server:
        title = ChatModel(server.url, "k-123", "small-model").complete("Be brief.", "The fox.")
    assert title == "A fox at dusk"
    [request] = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert server.headers()["authorization"] == "Bearer k-123"
    assert request["body"] == {
        "model": "small-model",
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "The fox."},
        ],
    }


def test_image_requests_are_pinned_and_results_stored(tmp_path: Path) -> None:
    reply = {"data": [{"b64_json": base64.b64encode(PNG).decode()}]}
    with recording_server(lambda path, body: (200, reply)) as server:
        backend = HttpImageBackend(server.url, "img-key", "flux-schnell")
        job = Job(
            "image-generation",
            "proj",
            str(uuid.uuid4()),
            {"promptsJobId": str(uuid.uuid4()), "width": 512, "height": 288},
        )
        context = Context(job, ConsoleReporter(), LocalResults(tmp_path), tmp_path)
        prompts: dict[str, Any] = {
            "prompts": [
                {
                    "scene": 0,
                    "start": 0.0,
                    "end": 2.0,
                    "prompt": "a fox",
                    "negative_prompt": "text",
                },
                {"scene": 1, "start": 2.0, "end": 3.0, "prompt": "a forest"},
            ]
        }
        result = generate_images(context, prompts, backend)
    assert result["images"] == 2
    assert [r["body"] for r in server.requests] == [
        {
            "model": "flux-schnell",
            "prompt": "a fox",
            "n": 1,
            "size": "512x288",
            "response_format": "b64_json",
        },
        {
            "model": "flux-schnell",
            "prompt": "a forest",
            "n": 1,
            "size": "512x288",
            "response_format": "b64_json",
        },
    ]
    assert server.headers(1)["authorization"] == "Bearer img-key"
    stored = sorted(tmp_path.glob(f"proj/{job.job_id}/run-0/scene-*.png"))
    assert [p.read_bytes() for p in stored] == [PNG, PNG]


@pytest.mark.parametrize(("status", "error"), [(400, PermanentError), (503, RetryableError)])
def test_image_provider_errors_map_to_exit_kinds(status: int, error: type[Exception]) -> None:
    with (
        recording_server(lambda path, body: (status, {"error": "no"})) as server,
        pytest.raises(error),
    ):
        HttpImageBackend(server.url, "", "m").generate("p", "", 64, 64)


def test_no_backend_configured_is_permanent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMVEE_IMAGE_BACKEND", raising=False)
    with pytest.raises(PermanentError, match="no image backend configured"):
        backend_from_env()


def test_supabase_storage_upload_is_pinned() -> None:
    from jobimages.runtime.results import SupabaseResults

    reply = {"Key": "job-results/p/j/run-0/transcript.srt", "Id": "1"}
    with recording_server(lambda path, body: (200, reply)) as server:
        store = SupabaseResults(server.url, "service-key", "job-results")
        location = store.put(
            "p/j/run-0/transcript.srt", b"1\n00:00:00,000 --> ...\n", "application/x-subrip"
        )
    assert location == f"{server.url}/storage/v1/object/job-results/p/j/run-0/transcript.srt"
    [request] = server.requests
    assert request["path"] == "/storage/v1/object/job-results/p/j/run-0/transcript.srt"
    headers = server.headers()
    assert headers["authorization"] == "Bearer service-key"
    assert headers["apikey"] == "service-key"
    assert headers["x-upsert"] == "true"
    assert b"1\n00:00:00,000 --> ...\n" in request["raw"]
