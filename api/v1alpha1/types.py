"""The OmveeJob resource: spec and status models, the single source of the CRD schema.

Every field's description becomes its `kubectl explain` text. Fields are camelCase on the wire.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from api.catalog.registry import DEFINITIONS
from api.v1alpha1.constants import UUID_PATTERN as UUID_PATTERN
from api.v1alpha1.text import Text

MAX_RETRIES = 10
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600


def _immutable(field: str) -> dict[str, Any]:
    return {
        "x-kubernetes-validations": [
            {"rule": "self == oldSelf", "message": f"{field} is immutable"}
        ]
    }


# The job types, one member per declaration in api.catalog.jobtypes (or OMVEE_JOB_TYPE_MODULES),
# in pipeline order: TRANSCRIPTION = "transcription", SCENE_GENERATION = "scene-generation"...
JobType = StrEnum(  # type: ignore[misc]  # members come from the declarations
    "JobType", [(d.member, d.name) for d in DEFINITIONS], module=__name__
)


class Phase(StrEnum):
    """An OmveeJob's status.phase; Succeeded, Failed and Cancelled are final."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def final(self) -> bool:
        """Whether the phase is Succeeded, Failed or Cancelled: the job changes no more."""
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED)


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, use_enum_values=False
    )


class OmveeJobSpec(_Model):
    """What to run. Type, ids and input are fixed at creation; cancel and rerun drive it."""

    model_config = ConfigDict(
        extra="forbid",
        # pipelineId's own rule runs only when both versions have it: this one stops it from
        # being added to, or removed from, an existing job.
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.pipelineId) == has(oldSelf.pipelineId)",
                    "message": "pipelineId is immutable",
                }
            ]
        },
    )

    type: JobType = Field(
        description="The kind of work: " + ", ".join(t.value for t in JobType) + ".",
        json_schema_extra=_immutable("type"),
    )
    project_id: str = Field(
        pattern=UUID_PATTERN,
        description="The OMVEE project (a UUID).",
        json_schema_extra=_immutable("projectId"),
    )
    job_id: str = Field(
        pattern=UUID_PATTERN,
        description="The Supabase jobs.id this resource mirrors (a UUID).",
        json_schema_extra=_immutable("jobId"),
    )
    pipeline_id: str | None = Field(
        None,
        pattern=UUID_PATTERN,
        description="The pipeline (a UUID) this job is a step of, when it was submitted as one "
        "(POST /v1/projects/{project_id}/pipelines); unset for a single job. Fixed at creation.",
        json_schema_extra=_immutable("pipelineId"),
    )
    input: dict[str, Any] = Field(
        default_factory=dict,
        description="The type's input, e.g. {audioUrl, language} for transcription; checked "
        "against the type's input model before any pod starts.",
        json_schema_extra=_immutable("input"),
    )
    retries: int | None = Field(
        None,
        ge=0,
        le=MAX_RETRIES,
        description="Retries after a failed attempt (Job backoffLimit); "
        "the type's default when unset.",
    )
    timeout_seconds: int | None = Field(
        None,
        ge=1,
        le=MAX_TIMEOUT_SECONDS,
        description="Deadline for the whole run, all attempts included (Job "
        "activeDeadlineSeconds); the type's default when unset.",
    )
    pending_timeout_seconds: int | None = Field(
        None,
        ge=1,
        le=MAX_TIMEOUT_SECONDS,
        description="How long an attempt may wait to start (no node, image not pulled) before "
        "the job fails; the type's default when unset.",
    )
    pod_annotations: dict[str, Text] = Field(
        default_factory=dict,
        description="Extra annotations for the job's pods (e.g. "
        "cluster-autoscaler.kubernetes.io/safe-to-evict); used from the next Job on. Values "
        "hold no control characters but tab and line breaks.",
    )
    cancel: bool = Field(
        False,
        description="Set to true to cancel: the Job and its pods are "
        "deleted and the phase becomes Cancelled.",
    )
    rerun: int = Field(
        0,
        ge=0,
        le=1000,
        description="Run number. Raise it by one (with cancel: false) to retry a Failed or "
        "Cancelled job as a new Job; never lowered.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self >= oldSelf", "message": "rerun may only increase"}
            ]
        },
    )


class Condition(_Model):
    """One status condition (the fields of metav1.Condition): Scheduled, Running or Finished."""

    type: str = Field(description="Scheduled, Running or Finished.")
    status: str = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason for the status.")
    message: str = Field("", description="What a person should know.")
    last_transition_time: str = Field(description="When status last changed (RFC 3339).")


class AttemptLog(_Model):
    """Where a finished attempt's pod log was saved, so it outlives the pod."""

    run: int = Field(ge=0, description="The run (spec.rerun) of the attempt.")
    attempt: int = Field(ge=1, description="1 for the run's first pod, 2 for its retry, ...")
    pod: str = Field(description="The pod that ran the attempt.")
    node: str | None = Field(None, description="The node it ran on.")
    exit_code: int | None = Field(None, description="The job container's exit code.")
    reason: str | None = Field(
        None, description="How it ended: the container's reason, or why it was stopped."
    )
    key: str | None = Field(None, description="The log's key in the log store; unset if none.")
    bytes: int = Field(0, ge=0, description="The saved log's size.")
    note: str | None = Field(None, description="Why no log was saved, when none was.")


class UpstreamRef(_Model):
    """The upstream OmveeJob (one an input field names) a job waits for or ended because of."""

    job_id: str = Field(description="The upstream's spec.jobId.")
    type: JobType = Field(description="The upstream's spec.type.")
    run: int = Field(ge=0, description="The upstream's run (spec.rerun) this refers to.")
    phase: Phase = Field(description="The upstream's phase then (Pending when it had none).")


class OmveeJobStatus(_Model):
    """Observed state. The operator writes all but progress, progressMessage and result, which
    the running job pod writes."""

    phase: Phase | None = Field(
        None, description="Pending, Running, Succeeded, Failed or Cancelled."
    )
    run: int | None = Field(None, description="The run (spec.rerun) this status describes.")
    attempts: int = Field(0, ge=0, description="Pods started for this run.")
    progress: int | None = Field(None, ge=0, le=100, description="0-100, reported by the job pod.")
    progress_message: str | None = Field(
        None, max_length=256, description="Short progress note from the job pod."
    )
    reason: str | None = Field(None, description="CamelCase reason for the phase.")
    message: str | None = Field(None, description="What is happening or what went wrong.")
    job_name: str | None = Field(None, description="The batch/v1 Job of this run.")
    job_uid: str | None = Field(None, description="The uid of that Job.")
    pod_name: str | None = Field(None, description="The pod of the latest attempt.")
    node_name: str | None = Field(None, description="The node of the latest attempt.")
    started_at: str | None = Field(None, description="When the run's first pod started.")
    finished_at: str | None = Field(None, description="When the run ended.")
    result: dict[str, Any] | None = Field(
        None, description="Small summary and the results' location, from the job pod."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Scheduled, Running and Finished."
    )
    observed_generation: int | None = Field(None, description="The spec generation seen.")
    upstream: UpstreamRef | None = Field(
        None,
        description="The upstream job this run waits for (reason WaitingForUpstream) or ended "
        "because of (UpstreamFailed, UpstreamCancelled, UpstreamCycle); unset otherwise.",
    )
    logs: list[AttemptLog] = Field(
        default_factory=list,
        max_length=200,
        description="Each finished attempt's saved pod log (the operator writes these).",
    )
