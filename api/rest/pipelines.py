"""Pipelines in the REST API: the submission's checks, the step OmveeJobs it creates
(create-or-adopt, upstream first), and cancel/retry over every step.

The pure parts (order, step ids and inputs, phase, public view) are api.catalog.pipelines; the
request and answer bodies api.rest.pipeline_schemas.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from kubernetes import client

from api.catalog.pipelines import SHARED_FIELDS, pipeline_steps, step_inputs, step_job_id
from api.rest.auth import Principal
from api.rest.errors import ApiError, Conflict, NotFound, Unavailable
from api.rest.pipeline_schemas import PipelineCreate
from api.rest.schemas import JobCreate
from api.rest.store import REQUEST_HASH, JobStore
from api.rest.submit import annotation_problems, build_omveejob, input_problems
from api.urlpolicy import UrlPolicy
from api.v1alpha1 import constants
from api.v1alpha1.public import cancel_patch, retry_patch
from api.v1alpha1.types import JobType

# A pipeline's id from the caller and an Idempotency-Key (as single jobs' ids are, in
# api.rest.submit, but in a namespace of its own: a key never names a job and a pipeline alike).
PIPELINE_KEY_NAMESPACE = uuid.UUID("a7d2e1c4-3b8f-4c6a-9e05-2f1b8d7c6e54")
# The fingerprint of the whole pipeline request, on every step: a replay that asks for other
# steps (or other options) is a Conflict, not a pipeline silently grown or mixed.
PIPELINE_HASH = f"{constants.GROUP}/pipeline-request-sha256"
# The pipeline body's fields that are step inputs (a 422 on them names them at the body's top).
BODY_LOC = ("body",)


class PipelineIncomplete(ApiError):
    """A step could not be created (503 when the Kubernetes API failed, else 500); the message
    names the step, the steps that exist, and how to complete or drop the pipeline."""

    code = "pipeline_incomplete"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def pipeline_id_for(subject: str, idempotency_key: str | None) -> str:
    """The new pipeline's id: a UUID5 of the caller's ``subject`` and ``idempotency_key`` (the
    same key gives the same pipeline), else a random UUID4."""
    if idempotency_key:
        return str(uuid.uuid5(PIPELINE_KEY_NAMESPACE, f"{subject}\0{idempotency_key}"))
    return str(uuid.uuid4())


def pipeline_fingerprint(project_id: str, body: PipelineCreate) -> str:
    """SHA-256 (64 hex characters) of everything the pipeline submission asks for."""
    data = {"project_id": project_id.lower(), **body.model_dump(mode="json")}
    data["steps"] = body.step_names()
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def step_creates(project_id: str, pipeline_id: str, body: PipelineCreate) -> list[JobCreate]:
    """The single-job submission of each step, in pipeline order."""
    shared = {name: getattr(body, name) for name in SHARED_FIELDS}
    return [
        JobCreate(
            type=JobType(job_type),
            project_id=project_id,
            input=step_input,
            retries=body.retries,
            timeout_seconds=body.timeout_seconds,
            pod_annotations=body.pod_annotations,
        )
        for job_type, step_input in step_inputs(pipeline_id, body.step_names(), shared)
    ]


def pipeline_bodies(
    project_id: str,
    pipeline_id: str,
    body: PipelineCreate,
    *,
    policy: UrlPolicy,
    annotation_prefixes: list[str],
) -> tuple[list[tuple[JobCreate, dict[str, Any]]], list[dict[str, Any]]]:
    """[(step's submission, its OmveeJob body)] in order, and FastAPI-style 422 entries (each
    once; a step input's loc relocated to the body's top, ``["body", "audio_url"]``). The
    bodies carry ``spec.pipelineId``, the pipeline label and both fingerprints."""
    creates = step_creates(project_id, pipeline_id, body)
    problems: list[dict[str, Any]] = []
    built = []
    pipeline_hash = pipeline_fingerprint(project_id, body)
    for create in creates:
        spec_input, found = input_problems(create, policy=policy)
        problems += [
            p | {"loc": [*BODY_LOC, *p["loc"][2:]]} if p["loc"][:2] == ["body", "input"] else p
            for p in found
        ]
        ojob = build_omveejob(create, step_job_id(pipeline_id, create.type.value), spec_input)
        ojob["spec"]["pipelineId"] = pipeline_id
        ojob["metadata"]["labels"][constants.LABEL_PIPELINE_ID] = pipeline_id
        ojob["metadata"]["annotations"][PIPELINE_HASH] = pipeline_hash
        built.append((create, ojob))
    if creates:
        problems += annotation_problems(creates[0], annotation_prefixes)
    unique = list({json.dumps(p, sort_keys=True): p for p in problems}.values())
    return built, unique


def same_request(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether an OmveeJob found under a step's name was made by the same pipeline request."""
    have = existing["metadata"].get("annotations") or {}
    want = wanted["metadata"]["annotations"]
    return all(have.get(key) == want[key] for key in (REQUEST_HASH, PIPELINE_HASH))


def create_steps(
    store: JobStore,
    pipeline_id: str,
    built: list[tuple[JobCreate, dict[str, Any]]],
    *,
    keyed: bool,
    on_created: Callable[[JobCreate], None] = lambda _: None,
) -> bool:
    """Create each step's OmveeJob, upstream first, or adopt the one already there (a replay,
    or a resumed submission); True when the first step already existed (a replay). Raises
    Conflict when a step exists with a different request, PipelineIncomplete naming the step
    that could not be created after others were (``keyed``: whether submitting again resumes
    it); when the first cannot be, its own error (Unavailable, ApiException: nothing exists)."""
    replayed = False
    done: list[str] = []
    for index, (create, body) in enumerate(built):
        try:
            ojob, created = store.create(body)
        except (Unavailable, Conflict, client.ApiException) as error:
            if not done:  # nothing exists: the error as for a single job
                raise
            raise _incomplete(pipeline_id, create, body, done, error, keyed) from None
        if not created and not same_request(ojob, body):
            raise Conflict(
                f"pipeline {pipeline_id} already exists with a different request (its "
                f"{create.type.value} step differs); use a new Idempotency-Key"
            )
        if created:
            on_created(create)
        elif index == 0:
            replayed = True
        done.append(create.type.value)
    return replayed


def _incomplete(
    pipeline_id: str,
    create: JobCreate,
    body: dict[str, Any],
    done: list[str],
    error: Exception,
    keyed: bool,
) -> PipelineIncomplete:
    if isinstance(error, ApiError):
        cause, status = error.message, error.status if error.status == 503 else 500
    else:
        cause, status = f"the Kubernetes API refused it ({getattr(error, 'status', '?')})", 500
    exists = ", ".join(done)
    then = (
        "submit the same request with the same Idempotency-Key again to complete it"
        if keyed
        else f"it had no Idempotency-Key, so cancel it (POST /v1/pipelines/{pipeline_id}/cancel) "
        "and submit again"
    )
    return PipelineIncomplete(
        f"pipeline {pipeline_id} is incomplete: its {create.type.value} step (job "
        f"{body['spec']['jobId']}) could not be created: {cause}; steps created: {exists}; " + then,
        status,
    )


def pipeline_jobs(store: JobStore, principal: Principal, pipeline_id: str) -> list[dict[str, Any]]:
    """The pipeline's step OmveeJobs in order (api.catalog.pipelines.pipeline_steps). Raises
    NotFound (404) when there are none or the caller may not see their project, Unavailable."""
    found: dict[str, dict[str, Any]] = {}
    for candidate in dict.fromkeys((pipeline_id, pipeline_id.lower())):
        for ojob in store.select(f"spec.pipelineId={candidate}"):
            found[ojob["metadata"]["name"]] = ojob
    steps = pipeline_steps(found.values())
    if not steps or not principal.may_access(steps[0]["spec"]["projectId"]):
        raise NotFound(f"no pipeline {pipeline_id}")
    return steps


def cancel_steps(store: JobStore, pipeline_id: str, steps: list[dict[str, Any]]) -> int:
    """Cancel every unfinished step, the last step first (so none ends for its upstream's
    cancellation before its own); the number cancelled. Raises Conflict when all had ended."""
    cancelled = 0
    for ojob in reversed(steps):
        if _apply(store, ojob, cancel_patch):
            cancelled += 1
    if not cancelled:
        raise Conflict(f"pipeline {pipeline_id} has ended (every step is final); nothing to cancel")
    return cancelled


def retry_steps(store: JobStore, pipeline_id: str, steps: list[dict[str, Any]]) -> int:
    """Retry every Failed or Cancelled step, upstream first, as ``POST /v1/jobs/{id}/retry``
    does; the number retried. A step already retried meanwhile (by the operator, after its
    upstream's retry) is left as it is. Raises Conflict when no step could be retried."""
    retried = 0
    for ojob in steps:
        if _apply(store, ojob, retry_patch):
            retried += 1
    if not retried:
        raise Conflict(f"pipeline {pipeline_id} has no Failed or Cancelled step to retry")
    return retried


def _apply(
    store: JobStore,
    ojob: dict[str, Any],
    patch_for: Callable[[dict[str, Any], str], dict[str, Any] | str],
    attempts: int = 3,
) -> bool:
    """Patch the step with ``patch_for``'s patch when its phase allows it (read again when it
    changed meanwhile); whether it was patched."""
    for _ in range(attempts):
        current = store.get_by_name(ojob["metadata"]["name"])
        if current is None:
            return False
        patch = patch_for(current, current["spec"]["jobId"])
        if isinstance(patch, str):
            return False
        try:
            store.patch_spec(current, patch)
        except Conflict:  # it changed between the read and the patch: decide again
            continue
        return True
    raise Conflict(f"job {ojob['spec']['jobId']} keeps changing; try again")
