"""Pure: a pipeline, the chain of job types run as one submission, and its public view.

A pipeline's steps are the declared job types in pipeline order (:data:`PIPELINE_ORDER`, the
order of :data:`api.catalog.registry.DEFINITIONS`: transcription, scene-generation,
visual-prompts, image-generation, video-generation); a pipeline is any non-empty prefix of it.
Step ``i > 0``'s one upstream field (its ``*_job_id``) names step ``i - 1``'s job, and every step
whose input has an ``audio_url`` (or ``language``) field gets the pipeline's. Each step is an
OmveeJob with ``spec.pipelineId``; its job id is derived from the pipeline id and its type, so a
submission repeated (or resumed after a failure) names the same jobs.

Shared by the REST API (submission, ``GET /v1/pipelines``) and the ``omvee`` command.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from api.catalog.registry import TYPE_NAMES, definition
from api.v1alpha1.public import JobPublic, to_public
from api.v1alpha1.types import JobType, Phase

#: Step job ids are UUID5s of the pipeline id and the step's type in this namespace.
PIPELINE_NAMESPACE = uuid.UUID("0e3b7c55-6f1d-4a8e-9c2b-5d4f7a1e8b93")


def chain(names: Sequence[str]) -> tuple[str, ...]:
    """The declared types ``names`` (in order) up to, not including, the first later one that
    has not exactly one upstream field: it could not take its input from the step before (a
    type added with ``OMVEE_JOB_TYPE_MODULES`` that reads only an audio URL, say)."""
    found: list[str] = []
    for name in names:
        if found and len(definition(name).upstream_fields()) != 1:
            break
        found.append(name)
    return tuple(found)


#: The job types a pipeline chains, in order; a pipeline is a prefix of this. The built-in
#: types are all of it: transcription, scene-generation, visual-prompts, image-generation,
#: video-generation.
PIPELINE_ORDER: tuple[str, ...] = chain(TYPE_NAMES)
#: Input fields every step that has them takes from the pipeline's body.
SHARED_FIELDS = ("audio_url", "language")


def steps_problem(steps: Sequence[str]) -> str | None:
    """Why ``steps`` (job type names) is not a pipeline, or None when it is a non-empty prefix
    of :data:`PIPELINE_ORDER`."""
    wanted = list(steps)
    if wanted and wanted == list(PIPELINE_ORDER[: len(wanted)]):
        return None
    return "steps must be a non-empty prefix of " + ", ".join(PIPELINE_ORDER) + " (in this order)"


def step_job_id(pipeline_id: str, job_type: str) -> str:
    """The job id (a lower-case UUID) of the pipeline's step of type ``job_type``:
    ``uuid5(PIPELINE_NAMESPACE, "<pipeline id>/<type>")``."""
    return str(uuid.uuid5(PIPELINE_NAMESPACE, f"{pipeline_id.lower()}/{job_type}"))


def upstream_field(job_type: str) -> str:
    """The input field (snake_case) by which a step of ``job_type`` names its upstream. Raises
    ValueError when the type has not exactly one ``*_job_id`` field: it cannot be a later step."""
    fields = list(definition(job_type).upstream_fields())
    if len(fields) != 1:
        raise ValueError(
            f"job type {job_type} has {len(fields)} upstream fields; a pipeline step needs one"
        )
    return fields[0]


def step_inputs(
    pipeline_id: str, steps: Sequence[str], shared: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """[(job type, its input, snake_case)] for each step of the pipeline, in order: the values
    of ``shared`` (``audio_url``, ``language``; None ones left out) for every step whose input
    model has that field, and for each later step its upstream field naming the previous step's
    job. Raises ValueError for a later step without exactly one upstream field."""
    built: list[tuple[str, dict[str, Any]]] = []
    for index, job_type in enumerate(steps):
        model_fields = definition(job_type).input_model.model_fields
        step_input = {
            name: value
            for name, value in shared.items()
            if name in model_fields and value is not None
        }
        if index > 0:
            step_input[upstream_field(job_type)] = step_job_id(pipeline_id, steps[index - 1])
        built.append((job_type, step_input))
    return built


def pipeline_phase(phases: Iterable[str | None]) -> Phase:
    """The pipeline's phase from its steps' (None: not yet observed, i.e. Pending): Failed if any
    step failed, else Cancelled if any was cancelled, else Succeeded if all succeeded, else
    Running if any is Running or Succeeded, else Pending. No steps: Pending."""
    seen = [Phase(p) if p else Phase.PENDING for p in phases]
    for phase in (Phase.FAILED, Phase.CANCELLED):
        if phase in seen:
            return phase
    if seen and all(p is Phase.SUCCEEDED for p in seen):
        return Phase.SUCCEEDED
    if any(p in (Phase.RUNNING, Phase.SUCCEEDED) for p in seen):
        return Phase.RUNNING
    return Phase.PENDING


def _order(ojob: dict[str, Any]) -> tuple[int, str, str]:
    job_type = ojob["spec"]["type"]
    position = PIPELINE_ORDER.index(job_type) if job_type in PIPELINE_ORDER else len(PIPELINE_ORDER)
    return position, ojob["metadata"].get("creationTimestamp") or "", ojob["spec"]["jobId"]


def pipeline_steps(ojobs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The OmveeJobs of one pipeline (bodies with the same ``spec.pipelineId``) in pipeline
    order, keeping only those of the first step's project (a job of another project carrying
    the id is not part of it); [] for none."""
    ordered = sorted(ojobs, key=_order)
    if not ordered:
        return []
    project = str(ordered[0]["spec"]["projectId"]).lower()
    return [o for o in ordered if str(o["spec"]["projectId"]).lower() == project]


class PipelinePublic(BaseModel):
    """A pipeline as the API answers it (``GET /v1/pipelines/{id}``): its id, project, phase
    (see :func:`pipeline_phase`), its steps in order (each the step's ``JobPublic``, as
    ``GET /v1/jobs/{id}`` gives it) and when its first step was created (RFC 3339)."""

    id: str
    project_id: str
    phase: Phase
    steps: list[JobPublic]
    created_at: str | None = None


class PipelineSummary(BaseModel):
    """One line of ``GET /v1/pipelines``: id, project, phase, creation time, number of steps."""

    id: str
    project_id: str
    phase: Phase
    created_at: str | None = None
    step_count: int = Field(ge=0, description="How many steps (jobs) the pipeline has.")


def to_pipeline(pipeline_id: str, steps: Sequence[dict[str, Any]]) -> PipelinePublic:
    """The public view of a pipeline from its step OmveeJobs as :func:`pipeline_steps` orders
    them (at least one). Raises IndexError for none, and what ``to_public`` raises."""
    public = [to_public(ojob) for ojob in steps]
    created = [c for o in steps if (c := o["metadata"].get("creationTimestamp"))]
    return PipelinePublic(
        id=pipeline_id.lower(),
        project_id=public[0].project_id,
        phase=pipeline_phase(p.phase.value if p.phase else None for p in public),
        steps=public,
        created_at=min(created) if created else None,
    )


def summaries(ojobs: Iterable[dict[str, Any]]) -> list[PipelineSummary]:
    """One summary per pipeline among ``ojobs`` (jobs without ``spec.pipelineId`` are left out),
    newest first (by creation time, then id)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for ojob in ojobs:
        pipeline_id = (ojob.get("spec") or {}).get("pipelineId")
        if pipeline_id:
            grouped.setdefault(str(pipeline_id).lower(), []).append(ojob)
    found = []
    for pipeline_id, members in grouped.items():
        steps = pipeline_steps(members)
        view = to_pipeline(pipeline_id, steps)
        found.append(
            PipelineSummary(
                id=view.id,
                project_id=view.project_id,
                phase=view.phase,
                created_at=view.created_at,
                step_count=len(steps),
            )
        )
    return sorted(found, key=lambda s: (s.created_at or "", s.id), reverse=True)


def step_types() -> list[JobType]:
    """The job types a full pipeline has, in order (the default ``steps``)."""
    return [JobType(name) for name in PIPELINE_ORDER]
