"""Pure: a validated submission -> the OmveeJob to create, with idempotency and URL checks, and
the earlier jobs its input names (which the route looks up in the submitting project)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from api.catalog.inputs import INPUT_MODELS
from api.catalog.upstreams import upstream_fields
from api.rest.schemas import JobCreate
from api.rest.store import REQUEST_HASH
from api.urlpolicy import UrlPolicy
from api.v1alpha1 import constants
from api.v1alpha1.names import omveejob_name

# Idempotency keys map to job ids in this UUID namespace, per caller.
IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0c3f4e-1d7a-4f0e-9a51-0b6c2a9e8d11")


def job_id_for(create: JobCreate, subject: str, idempotency_key: str | None) -> str:
    """The new job's id (a lower-case UUID): the body's ``job_id``, else a UUID5 of the
    caller's subject and ``idempotency_key`` (the same key gives the same job), else a random
    UUID4."""
    if create.job_id:
        return create.job_id.lower()
    if idempotency_key:
        return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{subject}\0{idempotency_key}"))
    return str(uuid.uuid4())


def fingerprint(create: JobCreate, spec_input: dict[str, Any]) -> str:
    """SHA-256 (64 hex characters) of what the submission asks for: type, project, stored
    input and options; a replay with another fingerprint is a Conflict."""
    data = {
        "type": create.type.value,
        "project_id": create.project_id.lower(),
        "input": spec_input,
        "retries": create.retries,
        "timeout_seconds": create.timeout_seconds,
        "pod_annotations": create.pod_annotations,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def input_problems(
    create: JobCreate, *, policy: UrlPolicy
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The input as stored in the spec (camelCase), and FastAPI-style 422 error entries.

    Pure, no I/O: every ``*_url`` field passes ``policy.problem``, which resolves no name (a
    name is checked against its addresses by the job pod when it fetches)."""
    model = INPUT_MODELS[create.type]
    try:
        parsed = model.model_validate(create.input)
    except ValidationError as error:
        return {}, [
            {
                "loc": ["body", "input", *[str(p) for p in e["loc"]]],
                "msg": e["msg"],
                "type": e["type"],
            }
            for e in error.errors()
        ]
    problems = [
        {"loc": ["body", "input", field], "msg": f"URL {problem}", "type": "url_not_allowed"}
        for field, value in parsed.model_dump().items()
        if field.endswith("_url") and isinstance(value, str)
        if (problem := policy.problem(value))
    ]
    return parsed.model_dump(by_alias=True, exclude_none=True), problems


def upstream_job_ids(create: JobCreate) -> dict[str, str]:
    """{input field: job id} of the earlier jobs a valid input names (every ``*_job_id``
    field, see api.catalog.upstreams, so a type added later is covered as well)."""
    parsed = INPUT_MODELS[create.type].model_validate(create.input).model_dump()
    return {
        field: parsed[field]
        for field in upstream_fields(create.type)
        if isinstance(parsed.get(field), str)
    }


def unknown_upstream_problem(field: str, job_id: str) -> dict[str, Any]:
    """The answer for a named job that is not in the submitting project: the same whether it
    does not exist or belongs to another project, so that nothing is learnt about others."""
    return {
        "loc": ["body", "input", field],
        "msg": f"no job {job_id} in this project",
        "type": "job_not_found",
    }


def annotation_problems(create: JobCreate, allowed_prefixes: Sequence[str]) -> list[dict[str, Any]]:
    """FastAPI-style 422 entries, one per pod annotation key under none of
    ``allowed_prefixes``; empty when all are allowed."""
    return [
        {
            "loc": ["body", "pod_annotations", key],
            "msg": "this annotation is not allowed on job pods",
            "type": "not_allowed",
        }
        for key in create.pod_annotations or {}
        if not any(key.startswith(prefix) for prefix in allowed_prefixes)
    ]


def build_omveejob(create: JobCreate, job_id: str, spec_input: dict[str, Any]) -> dict[str, Any]:
    """The OmveeJob body to create (camelCase spec, the name derived from ``job_id``, the
    request fingerprint as an annotation); unset options are left out so the type's profile
    decides them."""
    spec: dict[str, Any] = {
        "type": create.type.value,
        "projectId": create.project_id.lower(),
        "jobId": job_id,
        "input": spec_input,
    }
    if create.retries is not None:
        spec["retries"] = create.retries
    if create.timeout_seconds is not None:
        spec["timeoutSeconds"] = create.timeout_seconds
    if create.pod_annotations:
        spec["podAnnotations"] = dict(create.pod_annotations)
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "metadata": {
            "name": omveejob_name(job_id),
            "labels": {constants.LABEL_MANAGED_BY: "omvee-api"},
            "annotations": {REQUEST_HASH: fingerprint(create, spec_input)},
        },
        "spec": spec,
    }
