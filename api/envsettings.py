"""Settings read from environment variables: the base of every component's settings class, and
errors that name the variable.

Each component (the operator, the API, the log store, the results store, the job runtime) has
one pydantic-settings class. Each field reads exactly one documented variable, named by its
``validation_alias`` (or, in the API's class, by its prefix and name), so that the names the
README and the Helm chart use are the names read, and nothing else is: no field is filled
from a variable named like the field itself.
"""

from __future__ import annotations

import re
from typing import Any, Self

import pydantic_settings
from pydantic import AliasChoices, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the environment variable and says
    what it must be."""


class EnvSettings(BaseSettings):
    """A component's settings. Each field reads the environment variable its
    ``validation_alias`` names, exactly (case included, as the operating system does); an
    empty variable counts as unset (the field's default); other variables are ignored.
    Instances are immutable. Read them with ``load()``, which turns a bad value into a
    ``SettingsError`` naming the variable."""

    model_config = SettingsConfigDict(
        env_ignore_empty=True, extra="ignore", frozen=True, env_file=None, case_sensitive=True
    )

    @classmethod
    def load(cls, **values: Any) -> Self:
        """The settings from the environment; ``values`` take precedence (for tests and
        callers that already hold one), keyed by a field's alias (the variable's name), or
        by its name where the class allows that. Raises ``SettingsError`` naming each
        variable that is wrong and what it must be."""
        try:
            return cls(**values)
        except ValidationError as error:
            raise SettingsError(describe(cls, error)) from None
        except pydantic_settings.SettingsError as error:  # a list or object that is no JSON
            found = re.search(r'field "(\w+)"', str(error))
            name = variable(cls, found.group(1)) if found else "a setting"
            raise SettingsError(
                f'{name} must be JSON, e.g. ["a", "b"] for a list ({error.__cause__})'
            ) from None


def _alias(field: FieldInfo) -> str | None:
    """The variable a field's alias names (the first of several), or None without an alias."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return None


def variable(settings: type[BaseSettings], name: str) -> str:
    """The environment variable that field ``name`` of ``settings`` reads: its alias (the
    first of several), else the class's ``env_prefix`` and the name in capitals. A name that
    is no field (an error's location is already the variable) is returned as it is."""
    field = settings.model_fields.get(name)
    if field is None:
        return name
    return _alias(field) or f"{settings.model_config.get('env_prefix', '')}{name}".upper()


def _field(settings: type[BaseSettings], located: str) -> FieldInfo | None:
    """The field an error's location names: by its name, or by the variable it reads."""
    field = settings.model_fields.get(located)
    if field is not None:
        return field
    return next((f for f in settings.model_fields.values() if _alias(f) == located), None)


def describe(settings: type[BaseSettings], error: ValidationError) -> str:
    """One line for all of ``error``'s problems, each naming its variable: e.g.
    ``OMVEE_KUBE_QPS should be greater than 0, not '0'``. A check across several settings
    says itself which ones. The value of a secret (a field with ``repr=False``) is never
    quoted."""
    lines = []
    for problem in error.errors(include_url=False):
        message = str(problem["msg"]).removeprefix("Value error, ")
        if not problem["loc"]:  # a check across fields names its variables itself
            lines.append(message)
            continue
        located = str(problem["loc"][0])
        name = variable(settings, located)
        if message.startswith(name):  # a field's own check, already naming it
            lines.append(message)
            continue
        field = _field(settings, located)
        secret = field is not None and field.repr is False
        # pydantic's "Input should be ..." reads as "OMVEE_X should be ..."
        said = f"{name} {message[6:]}" if message.startswith("Input ") else f"{name}: {message}"
        shown = "" if secret or "input" not in problem else f", not {problem['input']!r}"
        lines.append(f"{said}{shown}")
    return "; ".join(lines)
