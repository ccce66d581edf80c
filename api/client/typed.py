"""The per-type methods of both clients, made from the job type declarations, and their stub.

Every declared job type (api.catalog.registry, built-in or from ``OMVEE_JOB_TYPE_MODULES``)
gets a method named by its ``operation_id`` on :class:`api.client.jobtypes.JobTypeMethods`
(``OmveeClient``'s base) and :class:`~api.client.jobtypes.AsyncJobTypeMethods`, taking
``project_id`` and the type's input fields as keyword arguments, plus the submit options.
They are made at import, so a new type has its method with no client code.

For mypy and IDEs, ``api/client/jobtypes.pyi`` spells out the built-in types' signatures; it
is generated from the same declarations by api.client.stub (``python -m api.client.stub``
rewrites it) and a unit test fails when it no longer matches them. A type added with
``OMVEE_JOB_TYPE_MODULES`` has its method at run time, not in the stub (call it untyped, or
use ``submit``).
"""

from __future__ import annotations

import inspect
import textwrap
import types
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Protocol, Union, get_args, get_origin

from api.catalog.definition import DefinitionError, JobTypeDefinition
from api.catalog.registry import DEFINITIONS
from api.v1alpha1.public import JobAccepted

#: (name, annotation) of the submit options every per-type method takes after the input.
OPTIONS: tuple[tuple[str, str], ...] = (
    ("job_id", "str | None"),
    ("retries", "int | None"),
    ("timeout_seconds", "int | None"),
    ("pod_annotations", "Mapping[str, str] | None"),
    ("idempotency_key", "str | None"),
)


class Submitter(Protocol):
    """What a per-type method calls: the client's ``_submit_type``."""

    def _submit_type(
        self, definition: JobTypeDefinition, project_id: str, given: Mapping[str, Any]
    ) -> Any: ...


def annotation_text(annotation: Any) -> str:
    """``annotation`` (a field's type) as Python source: ``str``, ``int | None``,
    ``list[str]``, ``dict[str, float]``; ``Any`` for what it cannot spell."""
    if annotation is None or annotation is type(None):
        return "None"
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " | ".join(annotation_text(arg) for arg in get_args(annotation))
    if origin in (list, dict, tuple, set, frozenset):
        return f"{origin.__name__}[{', '.join(annotation_text(a) for a in get_args(annotation))}]"
    if annotation in (str, int, float, bool, bytes):
        return str(annotation.__name__)
    return "Any"


def input_fields(definition: JobTypeDefinition) -> list[tuple[str, str, bool, str]]:
    """(name, annotation, required, what: its type, default and description) of each input
    field of ``definition``."""
    found = []
    for name, field in definition.input_model.model_fields.items():
        required, annotation = field.is_required(), annotation_text(field.annotation)
        what = f"{annotation}, " + ("required" if required else f"default {field.get_default()!r}")
        what = f"({what})" + (f": {field.description}" if field.description else "")
        found.append((name, annotation, required, what))
    return found


def method_doc(definition: JobTypeDefinition, width: int = 88) -> str:
    """The per-type method's docstring: what it submits, each input field, the options, what
    it returns and raises; lines of at most ``width`` characters."""
    lines = [
        f"{definition.summary}: submit a {definition.name} job to ``project_id`` "
        f"(``POST /v1/projects/{{project_id}}/{definition.route}``).",
        "",
        "Input fields (keyword arguments):",
    ]
    for name, _, _, what in input_fields(definition):
        lines.append(f"- ``{name}`` {what}")
    lines += [
        "",
        "Options: ``job_id`` (your UUID), ``retries``, ``timeout_seconds``, "
        "``pod_annotations``, ``idempotency_key`` (a new UUID4 by default, reused on every "
        "retry). Returns the 202 answer (JobAccepted). Raises ValidationFailed before sending "
        "for a bad or unknown field (``field`` names it), and what ``submit`` raises.",
    ]
    wrapped: list[str] = []
    for line in lines:
        indent = "  " if line.startswith("- ") else ""
        wrapped += textwrap.wrap(line, width, subsequent_indent=indent) or [""]
    return "\n".join(wrapped)


def signature(definition: JobTypeDefinition, *, awaitable: bool = False) -> inspect.Signature:
    """The per-type method's signature (annotations as strings): ``self``, ``project_id``,
    then keyword-only input fields (required ones without a default) and options."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("project_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="str"),
    ]
    for name, field in definition.input_model.model_fields.items():
        default = inspect.Parameter.empty if field.is_required() else field.get_default()
        parameters.append(
            inspect.Parameter(
                name, keyword, default=default, annotation=annotation_text(field.annotation)
            )
        )
    for name, annotation in OPTIONS:
        parameters.append(inspect.Parameter(name, keyword, default=None, annotation=annotation))
    returns = "Coroutine[Any, Any, JobAccepted]" if awaitable else "JobAccepted"
    return inspect.Signature(parameters, return_annotation=returns)


def _named(
    method: Callable[..., Any], definition: JobTypeDefinition, awaitable: bool
) -> Callable[..., Any]:
    method.__name__ = method.__qualname__ = definition.operation_id
    method.__doc__ = method_doc(definition)
    method.__signature__ = signature(definition, awaitable=awaitable)  # type: ignore[attr-defined]
    return method


def sync_method(definition: JobTypeDefinition) -> Callable[..., JobAccepted]:
    """The sync client's method for ``definition``: checks the fields, submits, returns the
    202 answer."""

    def method(self: Submitter, project_id: str, **given: Any) -> JobAccepted:
        accepted: JobAccepted = self._submit_type(definition, project_id, given)
        return accepted

    return _named(method, definition, awaitable=False)


def async_method(
    definition: JobTypeDefinition,
) -> Callable[..., Coroutine[Any, Any, JobAccepted]]:
    """The async client's method for ``definition`` (a coroutine function)."""

    async def method(self: Submitter, project_id: str, **given: Any) -> JobAccepted:
        accepted: JobAccepted = await self._submit_type(definition, project_id, given)
        return accepted

    return _named(method, definition, awaitable=True)


def install(
    sync_class: type, async_class: type, definitions: Iterable[JobTypeDefinition] = DEFINITIONS
) -> None:
    """Give ``sync_class`` and ``async_class`` one method per declaration, named by its
    operation id."""
    for definition in definitions:
        setattr(sync_class, definition.operation_id, sync_method(definition))
        setattr(async_class, definition.operation_id, async_method(definition))


def check_names(client_class: type, definitions: Iterable[JobTypeDefinition] = DEFINITIONS) -> None:
    """Raises DefinitionError when a job type's operation id is also one of
    ``client_class``'s own methods (``submit``, ``get``, ``wait``...): it would hide one."""
    for definition in definitions:
        if definition.operation_id in vars(client_class):
            raise DefinitionError(
                f"job type {definition.name}: its operation id {definition.operation_id!r} is "
                f"a method of {client_class.__name__}; choose another operation_id"
            )
