"""A small FastAPI app shaped like OMVEE's backend routers (the seed's
app/routers/transcription.py), moved off FastAPI BackgroundTasks onto the job runner: one line
changes at the call site.

    OMVEE_API_URL=http://127.0.0.1:8000 OMVEE_API_TOKEN=... \
        python -m uvicorn tests.apps.omvee_backend:app

``OMVEE_ROLLOUT={"transcription": "local"}`` runs the same route's job in a child process of
this app instead (the old behaviour, writing the same ``jobs`` row); unset, it goes to the
cluster. Tests start it as a subprocess (tests/integration/test_backend_rollout.py).
"""

from __future__ import annotations

import json
import logging
import os
import uuid

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.client import OmveeClient, Rollout, ValidationFailed

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

# Built once at start, like the app's Supabase client. A bad OMVEE_ROLLOUT stops the start.
omvee = OmveeClient(os.environ["OMVEE_API_URL"], os.environ.get("OMVEE_API_TOKEN"))
rollout = Rollout(omvee)
# Tests only: how kwok plays the job's pod ({"kwok.omvee.io/run-duration": "5s"}); an app
# leaves this out.
POD_ANNOTATIONS = json.loads(os.environ.get("BACKEND_POD_ANNOTATIONS") or "null")

app = FastAPI(title="OMVEE backend (migrated to the job runner)")


class TranscriptionRequest(BaseModel):
    """The route's body, as before."""

    audio_url: str


@app.exception_handler(ValidationFailed)
async def invalid_job(_: Request, error: ValidationFailed) -> JSONResponse:
    """A job input the job runner refuses is the caller's mistake: 422 naming the field."""
    return JSONResponse({"detail": error.errors}, status_code=422)


@app.post("/projects/{project_id}/transcription", status_code=202)
def start_transcription(
    project_id: str, request: TranscriptionRequest, background_tasks: BackgroundTasks
) -> dict[str, str]:
    """Start transcribing the project's audio; answers at once with the job's id (its row in
    ``jobs``, which the app polls as before)."""
    job_id = str(uuid.uuid4())
    # Was: background_tasks.add_task(transcription_background_task, project_id, audio_url, job_id)
    rollout.submit(
        "transcription",
        project_id,
        {"audio_url": request.audio_url},
        job_id=job_id,
        pod_annotations=POD_ANNOTATIONS,
    )
    return {"job_id": job_id, "status": "queued"}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}
