"""Pure: what declares a job type, and how the declarations are found.

A job type is one module in :mod:`api.catalog.jobtypes` (or one named by
``OMVEE_JOB_TYPE_MODULES``) holding ``DEFINITION = JobTypeDefinition(...)``: its input model
(whose ``*_job_id`` fields name the jobs it reads from), its REST route, its title and whether it
runs on a GPU. Everything else follows from these declarations: the ``JobType`` enumeration, the
CRD's type enum, the typed REST routes and ``GET /v1/types``, the chart's values schema, the
mirror's ``omvee_job_types`` rows and the images ``make images`` builds. Its profile (where and
how it runs) is its entry in ``profiles.yaml``; its code is the ``jobimages/<package>/`` folder.

This is how Kueue adds job integrations (one package each that registers itself); here no list
is kept at all: every module of the package is a type.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from api.v1alpha1.text import FREE_TEXT, check_value

#: Comma-separated importable modules declaring job types besides the built-in ones.
EXTRA_MODULES_ENV = "OMVEE_JOB_TYPE_MODULES"
#: The package whose every module declares one built-in job type.
BUILTIN_PACKAGE = "api.catalog.jobtypes"
#: A type's name is its spec.type, its profile key, its jobs.type and part of its image name.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
NAME_MAX_LENGTH = 40  # "job-<name>" image names and "omvee-<name>" labels stay short
UPSTREAM_SUFFIX = "_job_id"


class DefinitionError(ValueError):
    """A job type module is missing its DEFINITION, or two declarations clash; the message
    names the module."""


class JobInput(BaseModel):
    """Base of every job type's input model (``spec.input``): camelCase on the wire, unknown
    fields refused, and no control characters in any string (see the validator)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        """Every string of every field, of every type present and future (nested ones and dict
        keys too): no control characters or unpaired surrogates (U+0000 cannot even be stored
        in the jobs row). A field marked ``Annotated[..., FREE_TEXT]`` may hold tabs and line
        breaks. Raises a field-level error (type ``control_character``)."""
        field = cls.model_fields.get(info.field_name or "")
        free_text = field is not None and FREE_TEXT in field.metadata
        return check_value(value, free_text=free_text)


@dataclass(frozen=True)
class JobTypeDefinition:
    """One job type, declared once.

    ``name``: ``spec.type``, the profile key and ``jobs.type`` (lower-case words joined by
    ``-``, at most 40 characters). ``input_model``: what ``spec.input`` takes. ``route``: the
    typed REST route ``POST /v1/projects/{project_id}/<route>``; ``operation_id`` and
    ``summary`` its OpenAPI names. ``title``: how people see it (dashboard, CLI). ``gpu``: runs
    on a GPU node in production (the chart adds its GPU node selector and toleration).
    ``order``: where it sorts in every list (the pipeline's order). ``example``: the typed
    route's request example. ``local_build_args``: build args ``make images`` passes to its
    Dockerfile (``jobimages/<package>/Dockerfile``) for the local image (no GPU, no registry).
    """

    name: str
    input_model: type[JobInput]
    route: str
    operation_id: str
    summary: str
    title: str
    gpu: bool = False
    order: int = 100
    example: Mapping[str, Any] | None = None
    local_build_args: Mapping[str, str] = field(default_factory=dict)

    @property
    def package(self) -> str:
        """The job image's Python package (``jobimages.scene_generation``), run with -m."""
        return "jobimages." + self.name.replace("-", "_")

    @property
    def member(self) -> str:
        """Its ``JobType`` member name (``SCENE_GENERATION``)."""
        return self.name.replace("-", "_").upper()

    @property
    def image_name(self) -> str:
        """Its image's name (``job-scene-generation``)."""
        return f"job-{self.name}"

    @property
    def dockerfile(self) -> str:
        """Its image's Dockerfile, relative to the repository root."""
        return self.package.replace(".", "/") + "/Dockerfile"

    def upstream_fields(self) -> dict[str, str]:
        """{python field name: camelCase alias} of the input fields naming another job: those
        whose name ends in ``_job_id``."""
        return {
            name: model_field.alias or name
            for name, model_field in self.input_model.model_fields.items()
            if name.endswith(UPSTREAM_SUFFIX)
        }


def _definition_of(module: ModuleType) -> JobTypeDefinition:
    definition = getattr(module, "DEFINITION", None)
    if not isinstance(definition, JobTypeDefinition):
        raise DefinitionError(
            f"{module.__name__}: a job type module needs DEFINITION = JobTypeDefinition(...)"
        )
    if not NAME_PATTERN.match(definition.name) or len(definition.name) > NAME_MAX_LENGTH:
        raise DefinitionError(
            f"{module.__name__}: job type name {definition.name!r} must be lower-case words "
            f"joined by '-', at most {NAME_MAX_LENGTH} characters"
        )
    if not issubclass(definition.input_model, JobInput):
        raise DefinitionError(f"{module.__name__}: input_model must subclass JobInput")
    return definition


def check_unique(definitions: Iterable[JobTypeDefinition]) -> tuple[JobTypeDefinition, ...]:
    """The definitions sorted by (order, name). Raises DefinitionError when two share a name,
    a route or an operation id."""
    ordered = tuple(sorted(definitions, key=lambda d: (d.order, d.name)))
    for attribute in ("name", "route", "operation_id"):
        seen: dict[str, str] = {}
        for definition in ordered:
            value = getattr(definition, attribute)
            if value in seen:
                raise DefinitionError(
                    f"job types {seen[value]} and {definition.name} share the {attribute} {value!r}"
                )
            seen[value] = definition.name
    return ordered


def discover(extra: str | None = None) -> tuple[JobTypeDefinition, ...]:
    """Every job type: each module of :data:`BUILTIN_PACKAGE`, then each module named in
    ``extra`` (default: ``$OMVEE_JOB_TYPE_MODULES``, comma-separated), sorted by order then
    name. Raises DefinitionError (a module without a valid DEFINITION, clashing names or
    routes) or ImportError (an extra module that cannot be imported)."""
    package = importlib.import_module(BUILTIN_PACKAGE)
    names = [
        f"{BUILTIN_PACKAGE}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    ]
    extra = os.environ.get(EXTRA_MODULES_ENV, "") if extra is None else extra
    names += [name.strip() for name in extra.split(",") if name.strip()]
    return check_unique(_definition_of(importlib.import_module(name)) for name in names)
