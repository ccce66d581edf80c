"""Apply the mirror's SQL to a PostgreSQL database: ``python -m controller.mirror.migrate DSN``.

The files are idempotent, so applying them again is safe. ``--local`` first adds what a Supabase
database has and a plain PostgreSQL lacks (roles, auth.jwt()); never use it on Supabase, where
the migrations go in through Supabase's own tooling (`supabase db push`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg

SQL_DIR = Path(__file__).with_name("sql")
SHIM = SQL_DIR / "supabase_shim.sql"


def migrations() -> list[Path]:
    return sorted(p for p in SQL_DIR.glob("[0-9]*.sql"))


def apply(dsn: str, local: bool = False) -> list[str]:
    files = ([SHIM] if local else []) + migrations()
    with psycopg.connect(dsn) as connection:
        for path in files:
            connection.execute(path.read_text().encode())
    return [p.name for p in files]


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
    sys.stdout.write("applied " + ", ".join(applied) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
