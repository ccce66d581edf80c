"""Databases for the mirror's tests on the session PostgreSQL: a fresh one per test, and a
history of every status a `jobs` row goes through."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

STATUS_HISTORY = """
    create table jobs_history (id uuid, status text, progress smallint,
                               at timestamptz default clock_timestamp());
    create function record_status() returns trigger language plpgsql as $$
    begin
        if tg_op = 'INSERT' or new.status is distinct from old.status then
            insert into jobs_history (id, status, progress)
            values (new.id, new.status, new.progress);
        end if;
        return new;
    end $$;
    create trigger jobs_history after insert or update on public.jobs
        for each row execute function record_status();
"""


@contextmanager
def fresh_database(postgres_url: str, prefix: str) -> Iterator[str]:
    """A new empty database ``<prefix>_<random>`` on the server of ``postgres_url``; yields
    its DSN and drops it (with force) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"create database {name}".encode())
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"drop database {name} with (force)".encode())


def record_status_history(dsn: str) -> str:
    """``dsn``, whose public.jobs now records in ``jobs_history`` (id, status, progress, at)
    each status a row takes (a trigger); returns ``dsn``."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(STATUS_HISTORY.encode())
    return dsn
