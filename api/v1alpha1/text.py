"""Pure: which characters a submitted string may hold.

Strings from a job's spec end in the Supabase `jobs` row, whose text and jsonb columns cannot
hold U+0000, and in logs, pods and URLs, where control characters only ever do harm. So every
submitted string refuses Unicode control characters (category Cc: U+0000-U+001F, U+007F-U+009F)
and unpaired surrogates (U+D800-U+DFFF, which UTF-8 cannot encode). Free text (a style
description, an annotation value) may also hold a tab, a line feed and a carriage return.

``TEXT_PATTERN`` says the same of free text for a schema (the CRD, OpenAPI); it is valid in Go's
RE2 (the API server), Rust's regex (pydantic) and Python's re alike. A pattern cannot name a
surrogate, which Go's JSON decoder replaces anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

T = TypeVar("T")

TEXT_PATTERN = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"

_STRICT = re.compile(r"[\x00-\x1F\x7F-\x9F\uD800-\uDFFF]")
_TEXT = re.compile(r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\uD800-\uDFFF]")


@dataclass(frozen=True)
class _FreeText:
    """Marks a field (in ``Annotated[...]``) whose strings may hold tabs and line breaks."""


FREE_TEXT = _FreeText()


def refused_characters(value: str, *, free_text: bool = False) -> list[str]:
    """The characters of ``value`` a submitted string may not hold, as ``U+XXXX``, each once,
    in order of appearance; empty when ``value`` is fine."""
    found = (_TEXT if free_text else _STRICT).findall(value)
    return [f"U+{ord(c):04X}" for c in dict.fromkeys(found)]


def _strings(value: object, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string in ``value`` (dict keys too, at any depth) with where it is: ``""`` for
    ``value`` itself, else e.g. ``['speakers'][0]`` or ``the key 'a\\x00'``."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield f"{where} the key {key!r}".strip(), key
            yield from _strings(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")


def check_value(value: T, *, free_text: bool = False) -> T:
    """``value`` unchanged when no string in it (at any depth, dict keys included) holds a
    refused character; else raises ``PydanticCustomError`` (type ``control_character``: a
    field-level 422 at the API) naming the characters and, in a nested value, where."""
    for where, text in _strings(value):
        if found := refused_characters(text, free_text=free_text):
            raise PydanticCustomError(
                "control_character",
                "must not contain control characters or unpaired surrogates (found {found}{at})",
                {"found": ", ".join(found), "at": f" in {where}" if where else ""},
            )
    return value


def _check_text(value: str) -> str:
    return check_value(value, free_text=True)


# A free-text string: refused characters raise a clear error; schemas carry TEXT_PATTERN.
Text = Annotated[
    str, AfterValidator(_check_text), Field(json_schema_extra={"pattern": TEXT_PATTERN})
]
