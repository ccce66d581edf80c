"""Request and response bodies (snake_case JSON). Input fields come from api.catalog.inputs, so
the API, the CRD and the job images validate one model per type."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_snake
from pydantic_core import PydanticCustomError

from api.catalog.definition import JobTypeDefinition
from api.catalog.registry import DEFINITIONS
from api.v1alpha1.public import JobAccepted as JobAccepted
from api.v1alpha1.public import JobPublic as JobPublic
from api.v1alpha1.public import JobsPublic as JobsPublic
from api.v1alpha1.public import to_public as to_public
from api.v1alpha1.text import FREE_TEXT, Text, check_value
from api.v1alpha1.types import MAX_RETRIES, MAX_TIMEOUT_SECONDS, UUID_PATTERN, JobType

SNAKE = ConfigDict(alias_generator=to_snake, populate_by_name=True, extra="forbid")

# A Kubernetes qualified name (an annotation or label key): an optional DNS subdomain prefix
# and "/", then a name (k8s.io/apimachinery validation.IsQualifiedName).
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
QUALIFIED_NAME_LENGTH, DNS_SUBDOMAIN_LENGTH = 63, 253


def annotation_key_problem(key: str) -> str | None:
    """Why ``key`` is not a Kubernetes annotation key (the API server would refuse the pod),
    or None."""
    parts = key.split("/")
    if len(parts) > 2:
        return "must hold at most one '/' (between a prefix and a name)"
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            return "must not have an empty prefix before '/'"
        if len(prefix) > DNS_SUBDOMAIN_LENGTH or not DNS_SUBDOMAIN.fullmatch(prefix):
            return (
                f"must have a prefix that is a DNS subdomain of at most {DNS_SUBDOMAIN_LENGTH} "
                "characters (lower-case letters, digits, '-' and '.', e.g. example.com)"
            )
    if not name:
        return "must have a name"
    if len(name) > QUALIFIED_NAME_LENGTH or not QUALIFIED_NAME.fullmatch(name):
        return (
            f"must have a name of at most {QUALIFIED_NAME_LENGTH} characters: letters, digits, "
            "'-', '_' and '.', beginning and ending with a letter or digit"
        )
    return None


def _check_annotation_key(key: str) -> str:
    check_value(key)  # strictly: no control character at all (tab and line breaks neither)
    if problem := annotation_key_problem(key):
        raise PydanticCustomError(
            "annotation_key",
            "the key {problem}",
            {"problem": problem},
        )
    return key


# An annotation key: no control character, and a Kubernetes qualified name.
AnnotationKey = Annotated[str, AfterValidator(_check_annotation_key)]


class SubmitOptions(BaseModel):
    """The options every submission body may carry beside the input: an id, retries, a
    deadline in seconds and pod annotations."""

    job_id: str | None = Field(
        None,
        pattern=UUID_PATTERN,
        description="Your id for the job (a UUID, e.g. the Supabase jobs.id). Submitting the "
        "same id again returns the same job instead of a second one.",
    )
    retries: int | None = Field(
        None,
        ge=0,
        le=MAX_RETRIES,
        description="Retries after a failed attempt; the type's default when unset.",
    )
    timeout_seconds: int | None = Field(
        None, ge=1, le=MAX_TIMEOUT_SECONDS, description="Deadline for the whole run."
    )
    pod_annotations: Annotated[dict[AnnotationKey, Text] | None, FREE_TEXT] = Field(
        None,
        description="Annotations for the job's pods; only keys under the prefixes the "
        "deployment allows (OMVEE_API_POD_ANNOTATION_PREFIXES). Keys are Kubernetes qualified "
        "names (an optional DNS subdomain prefix of at most 253 characters and '/', then a "
        "name of at most 63: letters, digits, '-', '_', '.') without control characters; "
        "values hold no control characters but tab and line breaks.",
    )


class JobCreate(SubmitOptions):
    """The body of ``POST /v1/jobs``: any job type, its input as a mapping checked against
    the type's input model at submission (api.rest.submit), and the submit options."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "transcription",
                    "project_id": "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10",
                    "input": {
                        "audio_url": "https://media.example.com/episode-1.mp3",
                        "language": "en",
                    },
                }
            ]
        },
    )
    type: JobType
    project_id: str = Field(pattern=UUID_PATTERN, description="The OMVEE project (a UUID).")
    input: dict[str, Any] = Field(description="The type's input; see the typed routes.")


def _create_model(definition: JobTypeDefinition) -> type[BaseModel]:
    """The typed route's body for ``definition``: its input's fields (snake_case) and the
    submit options, named ``<Type>Create`` (``SceneGenerationCreate``) in the OpenAPI."""
    name = "".join(word.capitalize() for word in definition.name.split("-")) + "Create"
    examples = [dict(definition.example)] if definition.example else None
    config = SNAKE | ({"json_schema_extra": {"examples": examples}} if examples else {})
    return type(
        name,
        (definition.input_model, SubmitOptions),
        {
            "model_config": config,
            "__module__": __name__,
            "__doc__": f"{definition.summary}: the input's fields and the submit options.",
        },
    )


#: {job type: the typed route's body model}, one per declared type.
CREATE_MODELS: dict[JobType, type[BaseModel]] = {
    JobType(d.name): _create_model(d) for d in DEFINITIONS
}


class Problem(BaseModel):
    """Every error answer: a code and a sentence."""

    code: str
    message: str


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


# Error answers any route may give; documented once for all routers.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem("No valid token."),
    404: _problem("No such job, or it belongs to a project you cannot see."),
    413: _problem("The body is too large."),
    503: _problem("The Kubernetes API is unreachable; nothing was changed."),
}
# Streaming routes may also answer this (api.rest.streams).
TOO_MANY_STREAMS: dict[int | str, dict[str, Any]] = {
    429: _problem("Too many streams are open on this server; try again later.")
}
# Server-sent events pass through proxies unbuffered and uncached.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event_stream_responses(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses of a server-sent events route: 200 ``text/event-stream`` with
    ``description`` (what events it sends), and 429 when too many streams are open."""
    return {
        200: {"content": {"text/event-stream": {}}, "description": description},
        **TOO_MANY_STREAMS,
    }
