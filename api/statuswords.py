"""The words the `jobs` table's ``status`` column holds: ours, or an app's own.

The mirror's own status words are queued, running, succeeded, failed and cancelled. An app that
adopts its existing `jobs` table may use others (``pending``, ``processing``, ``completed``...):
``OMVEE_MIRROR_STATUS_WORDS`` maps each of ours to the app's, a JSON object such as
``{"queued": "pending", "running": "processing", "succeeded": "completed"}``; a word it does
not name stays ours. Every writer of the row (the operator's mirror, a ``local`` run, ``omvee
stuck-rows``) writes the mapped words, and tells ``mirror_job_status()`` which of them are
final (``final_statuses``), so that a finished run is never taken back to running.

Two of ours may share one word of the app's only when both are final or both are not
(``cancelled`` and ``failed`` may both be ``failed``; ``queued`` and ``failed`` may not: the
function could no longer tell a finished run from a waiting one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic import Field, field_validator

from api.envsettings import EnvSettings

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATUSES = ("succeeded", "failed", "cancelled")
UNFINISHED_STATUSES = ("queued", "running")
ENV_STATUS_WORDS = "OMVEE_MIRROR_STATUS_WORDS"
# a status is a short word: what an app's CHECK or enum can hold, printable, no quotes
_MAX_WORD = 64


def _valid_word(word: object) -> bool:
    return (
        isinstance(word, str)
        and 0 < len(word) <= _MAX_WORD
        and word.isprintable()
        and word.strip() == word
    )


@dataclass(frozen=True)
class StatusWords:
    """Our status word -> the app's (all five; identity by default). Build it with
    ``StatusWords.from_mapping``, which checks the rules in the module's docstring."""

    words: MappingProxyType[str, str] = field(
        default_factory=lambda: MappingProxyType({s: s for s in STATUSES})
    )

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any] | None) -> StatusWords:
        """The words of ``mapping`` ({our word: the app's}), ours where it names none.
        Raises ValueError naming the key or word that is wrong: an unknown status, a word
        that is empty, longer than 64 characters, padded or unprintable, or one word for a
        final status and an unfinished one."""
        mapping = mapping or {}
        unknown = sorted(set(mapping) - set(STATUSES))
        if unknown:
            raise ValueError(
                f"unknown status {unknown[0]!r}: the statuses are {', '.join(STATUSES)}"
            )
        words = {status: mapping.get(status, status) for status in STATUSES}
        for status, word in words.items():
            if not _valid_word(word):
                raise ValueError(
                    f"{status!r} maps to {word!r}: a status word is 1 to {_MAX_WORD} "
                    "printable characters without surrounding spaces"
                )
        for final in FINAL_STATUSES:
            for unfinished in UNFINISHED_STATUSES:
                if words[final] == words[unfinished]:
                    raise ValueError(
                        f"{final!r} and {unfinished!r} both map to {words[final]!r}: a "
                        "finished job's word must differ from a waiting or running one's"
                    )
        return cls(MappingProxyType(words))

    @property
    def identity(self) -> bool:
        """True when every word is ours (nothing to map)."""
        return all(word == status for status, word in self.words.items())

    def word(self, status: str) -> str:
        """The app's word for our ``status`` (one of STATUSES); KeyError for another."""
        return self.words[status]

    def final(self) -> list[str]:
        """The app's words for the final statuses, without repeats, in STATUSES' order."""
        return list(dict.fromkeys(self.words[s] for s in FINAL_STATUSES))

    def unfinished(self) -> list[str]:
        """The app's words for queued and running, without repeats."""
        return list(dict.fromkeys(self.words[s] for s in UNFINISHED_STATUSES))

    def status(self, word: str) -> str | None:
        """Ours for the app's ``word`` (the first of ours mapping to it), or None."""
        return next((s for s, w in self.words.items() if w == word), None)


OURS = StatusWords()


class MirrorWordsSettings(EnvSettings):
    """The status words every writer of the `jobs` row uses; ``load()`` raises SettingsError
    naming OMVEE_MIRROR_STATUS_WORDS when it is no JSON object or breaks a rule."""

    status_words: dict[str, Any] = Field(
        {},
        validation_alias=ENV_STATUS_WORDS,
        description=(
            "The app's word for each of the mirror's statuses (queued, running, succeeded, "
            'failed, cancelled), a JSON object, e.g. {"queued": "pending", "running": '
            '"processing", "succeeded": "completed"}; a status it does not name keeps its '
            "own word. Unset: the mirror's own words."
        ),
    )

    @field_validator("status_words")
    @classmethod
    def _words(cls, value: dict[str, Any]) -> dict[str, Any]:
        StatusWords.from_mapping(value)
        return value

    def words(self) -> StatusWords:
        """The mapping as StatusWords."""
        return StatusWords.from_mapping(self.status_words)


def status_words() -> StatusWords:
    """The status words from the environment. Raises SettingsError naming
    OMVEE_MIRROR_STATUS_WORDS when it is no JSON object or breaks a rule."""
    return MirrorWordsSettings.load().words()
