"""Can the `jobs` table hold what the mirror writes? Checked once at the operator's start.

An adopted table (an app's own, see ``0000_adopt_jobs_table.sql``) may refuse the mirror's rows
for reasons no migration can see beforehand: a CHECK or an enum on ``status`` or ``type``
without our words, a NOT NULL column of the app's without a default, a trigger, a missing
privilege. Rather than learn it from the first refused row, the operator writes, through
``public.mirror_job_status_probe()`` (0003), the rows it would write for every job type and
every status, in the words it is configured with, and rolls them back: each sequence of writes
that fails is a problem, said in the database's words.

``probe_sequences`` and ``problems_text`` are pure; ``check_table`` talks to the sink.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from api.statuswords import FINAL_STATUSES, StatusWords
from api.v1alpha1.reasons import Reason
from controller.mirror.rows import build_row
from controller.mirror.sinks import UNAVAILABLE, error_message, failure_reason

PHASE_OF = {"succeeded": "Succeeded", "failed": "Failed", "cancelled": "Cancelled"}
PROBE_FUNCTION = "public.mirror_job_status_probe(jsonb)"
# SQLSTATE 42883 undefined_function; PostgREST answers PGRST202 for a function it cannot find
MISSING_FUNCTION = frozenset({"42883", "PGRST202"})
# insufficient_privilege; PostgREST's PGRST3nn are its refusals of the key (JWT) itself
NOT_ALLOWED = frozenset({"42501"})
FOREIGN_KEY_VIOLATION = "23503"


class TableMismatch(Exception):
    """The `jobs` table cannot hold what the mirror writes; the message lists each problem
    and what to do about it."""


class Probing(Protocol):
    """A sink that can run the probe (``sinks.PostgresSink``, ``sinks.SupabaseSink``)."""

    def probe(self, sequences: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The problems public.mirror_job_status_probe() returns for ``sequences``."""
        ...

    def describe(self) -> str:
        """The destination, for messages."""
        ...


def _ojob(
    job_id: str, project_id: str, job_type: str, phase: str | None, version: int
) -> dict[str, Any]:
    status: dict[str, Any] = {"progress": 100 if phase in PHASE_OF.values() else 0}
    if phase:
        status["phase"] = phase
    if phase == "Failed":
        status |= {"reason": Reason.PERMANENT_FAILURE, "message": "probe"}
    return {
        "metadata": {
            "namespace": "omvee-probe",
            "name": f"probe-{job_id[:8]}",
            "resourceVersion": str(version),
        },
        "spec": {"jobId": job_id, "projectId": project_id, "type": job_type, "input": {}},
        "status": status,
    }


def probe_sequences(
    words: StatusWords, types: Iterable[str], seed: int | None = None
) -> list[dict[str, Any]]:
    """Pure: the sequences of rows (build_row's, in ``words``) the probe writes: for each final
    status, a job queued, then running, then finished that way (inserted, updated, updated),
    of the first type; for each other type, a job queued (inserted). Ids are fresh uuids (from
    ``seed`` when given, for tests). Each is {"name", "rows", "expect"}."""
    random = uuid.UUID(int=seed) if seed is not None else None
    counter = 0

    def fresh() -> str:
        nonlocal counter
        counter += 1
        if random is None:
            return str(uuid.uuid4())
        return str(uuid.uuid5(random, str(counter)))

    types = list(types)
    sequences = []
    for final in FINAL_STATUSES:
        job_id, project_id = fresh(), fresh()
        phases = [None, "Running", PHASE_OF[final]]
        rows = [
            build_row(_ojob(job_id, project_id, types[0], phase, n + 1), words)
            for n, phase in enumerate(phases)
        ]
        sequences.append(
            {
                "name": f"a {types[0]} job queued, running, then {final} "
                f"(status {', '.join(repr(r['status']) for r in rows)})",
                "rows": rows,
                "expect": ["inserted", "updated", "updated"],
            }
        )
    for job_type in types[1:]:
        row = build_row(_ojob(fresh(), fresh(), job_type, None, 1), words)
        sequences.append(
            {
                "name": f"a {job_type} job queued (status {row['status']!r})",
                "rows": [row],
                "expect": ["inserted"],
            }
        )
    return sequences


def problems_text(problems: list[dict[str, Any]], where: str) -> str:
    """Pure: the error for the probe's ``problems`` ([{"name", "error", "sqlstate"}]) at
    ``where`` (a sink's description): one line each, then what to do."""
    lines = [f"the jobs table in {where} cannot hold what the mirror writes:"]
    for problem in problems:
        lines.append(
            f"  - {problem.get('name')}: {problem.get('error')} "
            f"(SQLSTATE {problem.get('sqlstate')})"
        )
    lines.append(
        "  Map the statuses to words the table accepts (OMVEE_MIRROR_STATUS_WORDS), give the "
        "app's NOT NULL columns a default, or widen its CHECKs; see the README's "
        '"Migrating the OMVEE backend".'
    )
    return "\n".join(lines)


def split_problems(
    problems: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pure: the probe's ``problems`` as (refusals, unchecked). Unchecked, not refused: a
    foreign key on project_id (SQLSTATE 23503, ``project_key``) refusing the probe's random
    project in a table holding no project to write as instead; a real job's project is in
    the table the key references. Any other foreign key (on type, say) is a refusal."""
    unchecked = [
        p
        for p in problems
        if p.get("sqlstate") == FOREIGN_KEY_VIOLATION and p.get("project_key") is True
    ]
    return [p for p in problems if p not in unchecked], unchecked


def check_table(sink: Probing, words: StatusWords, types: Iterable[str]) -> list[str]:
    """Probe the table behind ``sink`` with ``words`` and every job type in ``types``.
    Returns the sequences the probe could not check (a foreign key on project_id in an empty
    table; their names and errors, for a warning): [] when it holds every row. Raises
    TableMismatch listing the problems (the probe function missing or not allowed too: the
    migrations or grants are not in place, and any other SQLSTATE of class 42, such as a
    missing table or column); re-raises the sink's error when the database is unavailable
    (unreachable, timed out, a 5xx: ``sinks.failure_reason`` says Unavailable), to check
    again later."""
    try:
        problems = sink.probe(probe_sequences(words, types))
    except Exception as error:
        code = _code(error)
        if code in MISSING_FUNCTION:
            raise TableMismatch(
                f"{PROBE_FUNCTION} is missing in {sink.describe()} ({error_message(error)}): "
                "apply the mirror's migrations (python -m controller.mirror.migrate DSN)"
            ) from None
        if code in NOT_ALLOWED or (code or "").startswith("PGRST3"):
            raise TableMismatch(
                f"the operator may not run {PROBE_FUNCTION} in {sink.describe()} "
                f"({error_message(error)}, {code}): it needs the service role's key and "
                "grants"
            ) from None
        if failure_reason(error) == UNAVAILABLE and not (code or "").startswith("42"):
            raise
        raise TableMismatch(
            f"checking the jobs table in {sink.describe()} failed: {error_message(error)}"
        ) from None
    refusals, unchecked = split_problems(problems)
    if refusals:
        raise TableMismatch(problems_text(refusals, sink.describe()))
    return [f"{p.get('name')}: {p.get('error')}" for p in unchecked]


def _code(error: Exception) -> str | None:
    """The SQLSTATE of a psycopg error, or PostgREST's code (a SQLSTATE or PGRSTnnn)."""
    code = getattr(error, "sqlstate", None) or getattr(error, "code", None)
    return str(code) if code else None
