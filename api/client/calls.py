"""Pure: the HTTP requests the client makes, built and checked before anything is sent.

A :class:`Call` is one request (method, path, query, JSON body, headers); the sync and async
clients send the same calls. Inputs are validated here by the job type's own input model
(api.catalog), so a bad field fails locally with :class:`~api.client.errors.ValidationFailed`
naming it, as the API's 422 would. Every submission carries an ``Idempotency-Key`` (a new
UUID4 unless the caller gives one); the client sends the same call, key included, on every
retry, so that a retried submission can only return the job the first try created.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from api.catalog.definition import JobTypeDefinition
from api.catalog.pipelines import steps_problem
from api.catalog.registry import BY_NAME
from api.client.errors import ValidationFailed

#: The options every submission takes beside the input (the API's SubmitOptions), then the
#: client's own: the Idempotency-Key header.
OPTION_NAMES = ("job_id", "retries", "timeout_seconds", "pod_annotations")
KEY_OPTION = "idempotency_key"
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "omvee-jobs-client/1"


@dataclass(frozen=True)
class Call:
    """One request: ``method`` and ``path`` (relative to the API's base URL), the query
    ``params``, the ``json`` body and extra ``headers``."""

    method: str
    path: str
    params: Mapping[str, str | int] | None = None
    json: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def client_headers(token: str | None) -> dict[str, str]:
    """The headers of every request: ``Authorization: Bearer <token>`` (none without a
    token), JSON accepted, and the client's User-Agent."""
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def segment(value: str) -> str:
    """``value`` quoted as one path segment (a ``/`` in an id cannot reach another route)."""
    return quote(str(value), safe="")


def new_key() -> str:
    """A fresh Idempotency-Key: a random UUID4."""
    return str(uuid.uuid4())


def _keyed(key: str | None) -> dict[str, str]:
    return {IDEMPOTENCY_HEADER: key or new_key()}


def options_body(
    *,
    job_id: str | None = None,
    retries: int | None = None,
    timeout_seconds: int | None = None,
    pod_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The submit options given (None ones left out), as the body's snake_case fields."""
    given = {
        "job_id": job_id,
        "retries": retries,
        "timeout_seconds": timeout_seconds,
        "pod_annotations": dict(pod_annotations) if pod_annotations is not None else None,
    }
    return {name: value for name, value in given.items() if value is not None}


def job_type_definition(job_type: str) -> JobTypeDefinition:
    """The declaration of ``job_type`` (a ``JobType`` or its name). Raises ValidationFailed
    (field ``type``) for a type this installation does not declare."""
    found = BY_NAME.get(str(getattr(job_type, "value", job_type)))
    if found is None:
        raise ValidationFailed(
            None,
            None,
            [
                {
                    "loc": ["body", "type"],
                    "msg": f"unknown job type {job_type!r}; known: {', '.join(BY_NAME)}",
                    "type": "enum",
                }
            ],
        )
    return found


def checked_input(
    definition: JobTypeDefinition, fields: Mapping[str, Any], loc: Sequence[str]
) -> dict[str, Any]:
    """``fields`` (snake_case or camelCase names) validated by the type's input model, as the
    snake_case JSON to send (only the fields given: the API applies the defaults). Raises
    ValidationFailed whose errors' ``loc`` start with ``loc`` (``["body"]`` for a typed route,
    ``["body", "input"]`` for ``POST /v1/jobs``), as the API's 422 would."""
    try:
        model = definition.input_model.model_validate(dict(fields))
    except ValidationError as error:
        # a missing field is named by its alias (camelCase): name it as the caller does
        names = {f.alias: name for name, f in definition.input_model.model_fields.items()}
        raise ValidationFailed(
            None,
            None,
            [
                {
                    "loc": [*loc, *[names.get(str(p), p) for p in e["loc"][:1]], *e["loc"][1:]],
                    "msg": e["msg"],
                    "type": e["type"],
                }
                for e in error.errors(include_url=False)
            ],
        ) from None
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True)
    return dumped


def split_options(given: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """Keyword arguments of a per-type method split into (input fields, submit options given,
    Idempotency-Key or None)."""
    fields = {k: v for k, v in given.items() if k not in (*OPTION_NAMES, KEY_OPTION)}
    options = options_body(**{k: given[k] for k in OPTION_NAMES if k in given})
    return fields, options, given.get(KEY_OPTION)


def typed_submission(
    definition: JobTypeDefinition,
    project_id: str,
    fields: Mapping[str, Any],
    options: Mapping[str, Any],
    key: str | None = None,
) -> Call:
    """``POST /v1/projects/{project_id}/<route>`` of the type: its input fields (checked) and
    the options at the top of the body, with an Idempotency-Key (``key``, or a new one).
    Raises ValidationFailed for a bad input field."""
    body = checked_input(definition, fields, ["body"]) | dict(options)
    return Call(
        "POST",
        f"/v1/projects/{segment(project_id)}/{definition.route}",
        json=body,
        headers=_keyed(key),
    )


def submission(
    job_type: str,
    project_id: str,
    job_input: Mapping[str, Any],
    options: Mapping[str, Any],
    key: str | None = None,
) -> Call:
    """``POST /v1/jobs`` with ``{type, project_id, input, <options>}``, the input checked by
    the type's model, with an Idempotency-Key (``key``, or a new one). Raises ValidationFailed
    for an unknown type (field ``type``) or a bad input field (``input.<field>``)."""
    definition = job_type_definition(job_type)
    body = {
        "type": definition.name,
        "project_id": project_id,
        "input": checked_input(definition, job_input, ["body", "input"]),
        **options,
    }
    return Call("POST", "/v1/jobs", json=body, headers=_keyed(key))


def get_job(job_id: str) -> Call:
    """``GET /v1/jobs/{job_id}``: the job's public view."""
    return Call("GET", f"/v1/jobs/{segment(job_id)}")


def job_action(job_id: str, action: str) -> Call:
    """``POST /v1/jobs/{job_id}/<action>`` (``cancel`` or ``retry``)."""
    return Call("POST", f"/v1/jobs/{segment(job_id)}/{action}")


def list_page(
    *,
    project_id: str | None,
    job_type: str | None,
    phase: str | None,
    limit: int,
    cursor: str | None,
) -> Call:
    """``GET /v1/jobs`` for one page of at most ``limit`` jobs (1-500) after ``cursor``."""
    params: dict[str, str | int] = {"limit": limit}
    for name, value in (
        ("project_id", project_id),
        ("type", job_type),
        ("phase", phase),
        ("cursor", cursor),
    ):
        if value is not None:
            params[name] = str(getattr(value, "value", value))
    return Call("GET", "/v1/jobs", params=params)


def job_events(job_id: str, seconds: int) -> Call:
    """``GET /v1/jobs/{job_id}/events?timeout=<seconds>``: the server-sent ``status`` events
    (1 to 3600 seconds of them)."""
    return Call(
        "GET",
        f"/v1/jobs/{segment(job_id)}/events",
        params={"timeout": max(1, min(3600, seconds))},
        headers={"Accept": "text/event-stream", "Cache-Control": "no-store"},
    )


def pipeline_submission(
    project_id: str,
    audio_url: str,
    steps: Sequence[str] | None,
    *,
    language: str | None = None,
    retries: int | None = None,
    timeout_seconds: int | None = None,
    pod_annotations: Mapping[str, str] | None = None,
    key: str | None = None,
) -> Call:
    """``POST /v1/projects/{project_id}/pipelines`` with an Idempotency-Key (``key``, or a new
    one). Raises ValidationFailed (field ``steps``) when ``steps`` is not a non-empty prefix of
    the pipeline order."""
    body: dict[str, Any] = {"audio_url": audio_url}
    if steps is not None:
        names = [str(getattr(step, "value", step)) for step in steps]
        if problem := steps_problem(names):
            raise ValidationFailed(
                None, None, [{"loc": ["body", "steps"], "msg": problem, "type": "value_error"}]
            )
        body["steps"] = names
    if language is not None:
        body["language"] = language
    body |= options_body(
        retries=retries, timeout_seconds=timeout_seconds, pod_annotations=pod_annotations
    )
    return Call(
        "POST",
        f"/v1/projects/{segment(project_id)}/pipelines",
        json=body,
        headers=_keyed(key),
    )


def get_pipeline(pipeline_id: str) -> Call:
    """``GET /v1/pipelines/{pipeline_id}``: the pipeline and each step's job."""
    return Call("GET", f"/v1/pipelines/{segment(pipeline_id)}")


def pipeline_action(pipeline_id: str, action: str) -> Call:
    """``POST /v1/pipelines/{pipeline_id}/<action>`` (``cancel`` or ``retry``)."""
    return Call("POST", f"/v1/pipelines/{segment(pipeline_id)}/{action}")
