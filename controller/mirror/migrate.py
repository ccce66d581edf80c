"""Apply the mirror's SQL to a PostgreSQL database: ``python -m controller.mirror.migrate DSN``.

Migrations are the numbered files in ``sql/`` (``0001_jobs.sql``, ``0002_...``), applied in
order, each exactly once: the version (the file's name without ``.sql``) is recorded in
``public.omvee_schema_migrations`` in the same transaction as the file's statements, and the
appliers of several operators or CI jobs take turns on an advisory lock. A database that had
``0001_jobs.sql`` applied before versions were recorded takes it again safely (it is
idempotent) and records it. ``--local`` first adds what a Supabase database has and a plain
PostgreSQL lacks (roles, auth.jwt()); never use it on Supabase, where the migrations go in
through Supabase's own tooling (`supabase db push`).

The job types ``jobs.type`` accepts follow the declared job types (:mod:`api.catalog.registry`):
after the files, ``apply`` widens the ``jobs_type_check`` constraint to every declared type
(never narrowing it: a type no longer declared keeps its rows valid), so a new job type needs no
hand-written migration. ``--job-types-sql`` prints that statement, for a Supabase migration.

An app's existing ``jobs`` table is adopted (``0000_adopt_jobs_table.sql``, which runs first):
the columns the mirror writes are added where missing, nothing of the app's is dropped or
rewritten, 0001 (the mirror's own table, policies and grants) is recorded as done without
running, and the ledger holds ``adopted public.jobs``; ``jobs_type_check`` is then left alone
(the app's ``type`` column is the app's). Whether the table can hold what the mirror writes is
checked by the operator at start (:mod:`controller.mirror.tablecheck`).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import psycopg

from api.catalog.registry import TYPE_NAMES

SQL_DIR = Path(__file__).with_name("sql")
SHIM = SQL_DIR / "supabase_shim.sql"
LEDGER = "public.omvee_schema_migrations"
# pg_advisory_xact_lock key: "omvee" in ASCII, so other applications' locks do not collide
LOCK_KEY = 0x6F6D766565


TYPE_CHECK = "jobs_type_check"
ADOPTED = "adopted public.jobs"  # the ledger's mark of an adopted table (0000_adopt_jobs_table)
_QUOTED = re.compile(r"'((?:[^']|'')*)'")


def accepted_types(constraint: str | None) -> list[str]:
    """The type names a ``jobs_type_check`` definition (``pg_get_constraintdef``'s text, e.g.
    ``CHECK ((type = ANY (ARRAY['transcription'::text, ...])))``) accepts; [] for None."""
    return [m.replace("''", "'") for m in _QUOTED.findall(constraint or "")]


def type_check_sql(constraint: str | None, declared: Iterable[str]) -> str | None:
    """The statement replacing ``jobs_type_check`` so that it accepts every ``declared`` type
    and every type it accepts now, or None when it already accepts them all. ``NOT VALID``: the
    rows already there passed the narrower check, so none is scanned; new rows are checked."""
    current = accepted_types(constraint)
    wanted = list(dict.fromkeys([*current, *declared]))
    if constraint is not None and wanted == current:
        return None
    names = ", ".join("'" + name.replace("'", "''") + "'" for name in wanted)
    return (
        f"alter table public.jobs drop constraint if exists {TYPE_CHECK}, "
        f"add constraint {TYPE_CHECK} check (type in ({names})) not valid"
    )


def sync_job_types(connection: psycopg.Connection, declared: Iterable[str] = TYPE_NAMES) -> bool:
    """Widen ``jobs_type_check`` to the ``declared`` job types, under the advisory lock, in its
    own transaction; True when it changed. Raises psycopg.Error."""
    with connection.transaction():
        connection.execute("select pg_advisory_xact_lock(%s)", [LOCK_KEY])
        row = connection.execute(
            "select pg_get_constraintdef(oid) from pg_constraint "
            "where conname = %s and conrelid = 'public.jobs'::regclass",
            [TYPE_CHECK],
        ).fetchone()
        statement = type_check_sql(row[0] if row else None, declared)
        if statement is None:
            return False
        connection.execute(statement.encode())
        return True


def adopted(connection: psycopg.Connection) -> bool:
    """True when ``jobs`` is an app's table the mirror adopted (``ADOPTED`` in the ledger).
    Raises psycopg.Error."""
    found = connection.execute(f"select 1 from {LEDGER} where version = %s", [ADOPTED]).fetchone()
    return found is not None


def migrations() -> list[Path]:
    """The numbered migration files, in the order they apply."""
    return sorted(p for p in SQL_DIR.glob("[0-9]*.sql"))


def apply(dsn: str, local: bool = False) -> list[str]:
    """Apply every migration not yet recorded in ``dsn``'s ledger, in order, one transaction
    each; returns the names of those applied now ([] when up to date). ``local``: first the
    Supabase shim (idempotent, applied every time). Raises psycopg.Error when one fails (the
    failed one and the later ones stay unapplied and unrecorded)."""
    applied: list[str] = []
    with psycopg.connect(dsn) as connection:
        if local:
            with connection.transaction():
                connection.execute("select pg_advisory_xact_lock(%s)", [LOCK_KEY])
                connection.execute(SHIM.read_text().encode())
        for path in migrations():
            with connection.transaction():
                connection.execute("select pg_advisory_xact_lock(%s)", [LOCK_KEY])
                connection.execute(
                    f"create table if not exists {LEDGER} (version text primary key, "
                    "applied_at timestamptz not null default now())"
                )
                version = path.stem
                done = connection.execute(
                    f"select 1 from {LEDGER} where version = %s", [version]
                ).fetchone()
                if done:
                    continue
                connection.execute(path.read_text().encode())
                connection.execute(f"insert into {LEDGER} (version) values (%s)", [version])
                applied.append(path.name)
        if not adopted(connection) and sync_job_types(connection):
            applied.append(TYPE_CHECK)
    return applied


def main(argv: list[str] | None = None) -> int:
    """The command line: apply the migrations to ``dsn``; returns 0, or 1 when PostgreSQL
    fails (the error on stderr). No dsn (without ``--job-types-sql``) exits 2 (SystemExit)."""
    parser = argparse.ArgumentParser(prog="python -m controller.mirror.migrate")
    parser.add_argument("dsn", nargs="?", help="postgresql://user@host:port/db")
    parser.add_argument(
        "--local",
        action="store_true",
        help="also create Supabase's roles and auth.jwt() (plain PostgreSQL)",
    )
    parser.add_argument(
        "--job-types-sql",
        action="store_true",
        help="print the statement making jobs.type accept every declared job type, and exit",
    )
    args = parser.parse_args(argv)
    if args.job_types_sql:
        sys.stdout.write(f"{type_check_sql('', TYPE_NAMES)};\n")
        return 0
    if not args.dsn:
        parser.error("the dsn is required")
    try:
        applied = apply(args.dsn, args.local)
    except psycopg.Error as error:
        sys.stderr.write(f"error: migration failed: {error}\n")
        return 1
    if applied:
        sys.stdout.write("applied " + ", ".join(applied) + "\n")
    else:
        sys.stdout.write("up to date: every migration is applied\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
