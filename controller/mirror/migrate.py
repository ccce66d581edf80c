"""Apply the mirror's SQL to a PostgreSQL database: ``python -m controller.mirror.migrate DSN``.

Migrations are the numbered files in ``sql/`` (``0001_jobs.sql``, ``0002_...``), applied in
order, each exactly once: the version (the file's name without ``.sql``) is recorded in
``public.omvee_schema_migrations`` in the same transaction as the file's statements, and the
appliers of several operators or CI jobs take turns on an advisory lock. A database that had
``0001_jobs.sql`` applied before versions were recorded takes it again safely (it is
idempotent) and records it. ``--local`` first adds what a Supabase database has and a plain
PostgreSQL lacks (roles, auth.jwt()); never use it on Supabase, where the migrations go in
through Supabase's own tooling (`supabase db push`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg

SQL_DIR = Path(__file__).with_name("sql")
SHIM = SQL_DIR / "supabase_shim.sql"
LEDGER = "public.omvee_schema_migrations"
# pg_advisory_xact_lock key: "omvee" in ASCII, so other applications' locks do not collide
LOCK_KEY = 0x6F6D766565


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
    return applied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.mirror.migrate")
    parser.add_argument("dsn", help="postgresql://user@host:port/db")
    parser.add_argument(
        "--local",
        action="store_true",
        help="also create Supabase's roles and auth.jwt() (plain PostgreSQL)",
    )
    args = parser.parse_args(argv)
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
