"""The public view of a job (what the REST API answers and the `omvee` command prints), the
answers to a submission, and the rules for cancelling and retrying one. Pure: the API, the CLI
and the Python client (api.client) share one definition."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.v1alpha1.reasons import Reason
from api.v1alpha1.resultfiles import result_links
from api.v1alpha1.types import JobType, Phase

FINAL = frozenset({Phase.SUCCEEDED.value, Phase.FAILED.value, Phase.CANCELLED.value})
RETRYABLE = frozenset({Phase.FAILED.value, Phase.CANCELLED.value})


class JobPublic(BaseModel):
    """A job as the API answers it (snake_case): its ids, type, phase, progress (0-100),
    attempts of the current run, timestamps (RFC 3339), result and result links, and the
    pipeline it is a step of (left out of the JSON for a job of no pipeline)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e",
                    "project_id": "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10",
                    "type": "transcription",
                    "phase": "Running",
                    "progress": 40,
                    "progress_message": "decoding 40%",
                    "attempts": 1,
                    "run": 0,
                    "reason": Reason.RUNNING.value,
                    "message": "running on gpu-node-1 (attempt 1 of 3)",
                    "created_at": "2026-01-01T00:00:00Z",
                    "started_at": "2026-01-01T00:00:05Z",
                    "finished_at": None,
                    "result": None,
                    "node": "gpu-node-1",
                }
            ]
        }
    )

    id: str
    project_id: str
    type: JobType
    phase: Phase | None = None
    progress: int = 0
    progress_message: str | None = None
    attempts: int = 0
    run: int = 0
    reason: str | None = None
    message: str | None = None
    node: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    result: dict[str, Any] | None = None
    # File name -> the REST path serving it (GET /v1/jobs/{id}/results/{file}), for each file
    # the result names; see api.v1alpha1.resultfiles.
    result_links: dict[str, str] = {}
    pipeline_id: str | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="The pipeline (GET /v1/pipelines/{id}) this job is a step of; present only "
        "for a pipeline's step.",
    )


class JobAccepted(BaseModel):
    """The 202 answer to a submission: the job id, where to read its status, its phase when
    it already had one."""

    id: str = Field(description="The job id (a UUID).")
    status_url: str
    phase: Phase | None = None
    replayed: bool = Field(False, description="True when this answers a repeated submission.")


class JobsPublic(BaseModel):
    """One page of jobs (``GET /v1/jobs``) and the cursor of the next."""

    items: list[JobPublic]
    next: str | None = Field(None, description="Pass as `cursor` for the next page.")


class PipelineStepAccepted(BaseModel):
    """One step of an accepted pipeline: its type, job id and where to read the job."""

    type: JobType
    job_id: str
    status_url: str


class PipelineAccepted(BaseModel):
    """The 202 answer to a pipeline submission."""

    id: str = Field(description="The pipeline id (a UUID).")
    status_url: str
    steps: list[PipelineStepAccepted]
    replayed: bool = Field(
        False, description="True when the pipeline had been submitted already (same key)."
    )


def to_public(ojob: dict[str, Any]) -> JobPublic:
    """The public view of an OmveeJob body. Raises KeyError when the body lacks
    ``spec.jobId``, ``spec.projectId``, ``spec.type`` or ``metadata``, and pydantic's
    ValidationError for a type no longer declared."""
    spec, status = ojob.get("spec") or {}, ojob.get("status") or {}
    return JobPublic(
        id=spec["jobId"],
        project_id=spec["projectId"],
        type=spec["type"],
        phase=status.get("phase"),
        progress=int(status.get("progress") or 0),
        progress_message=status.get("progressMessage"),
        attempts=int(status.get("attempts") or 0),
        run=int(status.get("run") or 0),
        reason=status.get("reason"),
        message=status.get("message"),
        node=status.get("nodeName"),
        created_at=ojob["metadata"].get("creationTimestamp"),
        started_at=status.get("startedAt"),
        finished_at=status.get("finishedAt"),
        result=status.get("result"),
        result_links=result_links(spec["projectId"], spec["jobId"], status.get("result")),
        pipeline_id=str(spec["pipelineId"]).lower() if spec.get("pipelineId") else None,
    )


def cancel_patch(ojob: dict[str, Any], job_id: str) -> dict[str, Any] | str:
    """The spec patch that cancels the job, or why it cannot be cancelled."""
    phase = (ojob.get("status") or {}).get("phase")
    if phase in FINAL:
        return f"job {job_id} already ended ({phase}); nothing to cancel"
    return {"cancel": True}


def retry_patch(ojob: dict[str, Any], job_id: str) -> dict[str, Any] | str:
    """The spec patch that starts a new run of a Failed or Cancelled job, or why not."""
    status, spec = ojob.get("status") or {}, ojob["spec"]
    if status.get("phase") not in RETRYABLE:
        return (
            f"job {job_id} is {status.get('phase') or 'Pending'}; only Failed or "
            "Cancelled jobs can be retried"
        )
    rerun = int(spec.get("rerun") or 0)
    if rerun > int(status.get("run") or 0):
        return f"job {job_id} is already being retried"
    return {"rerun": rerun + 1, "cancel": False}
