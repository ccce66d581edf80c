"""The mirror's migrations on a real PostgreSQL: applied in order, each exactly once, recorded
in a ledger; a database migrated before the ledger existed is adopted; a failed migration
leaves itself and the later ones unrecorded; concurrent appliers take turns."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from controller.mirror import migrate

pytestmark = pytest.mark.postgres


@pytest.fixture
def empty_db(postgres_url: str) -> Iterator[str]:
    name = f"migrations_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"create database {name}")
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"drop database {name} with (force)")


def ledger(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(f"select version from {migrate.LEDGER} order by version")
        return [str(version) for (version,) in rows]


def test_each_migration_applies_once_and_is_recorded(empty_db: str) -> None:
    names = [p.name for p in migrate.migrations()]
    assert migrate.apply(empty_db, local=True) == names
    assert ledger(empty_db) == [p.stem for p in migrate.migrations()]
    assert migrate.apply(empty_db, local=True) == []  # up to date: nothing runs again
    assert migrate.main([empty_db]) == 0


def test_a_database_migrated_before_the_ledger_is_adopted(empty_db: str) -> None:
    with psycopg.connect(empty_db) as connection:  # the old way: every file, no ledger
        connection.execute(migrate.SHIM.read_text().encode())
        for path in migrate.migrations():
            connection.execute(path.read_text().encode())
    assert migrate.apply(empty_db, local=True) == [p.name for p in migrate.migrations()]
    assert ledger(empty_db) == [p.stem for p in migrate.migrations()]


def test_a_failed_migration_is_not_recorded_and_goes_in_once_fixed(
    empty_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in migrate.migrations():
        shutil.copy(path, tmp_path / path.name)
    shutil.copy(migrate.SHIM, tmp_path / migrate.SHIM.name)
    (tmp_path / "9001_broken.sql").write_text(
        "create table public.half_done (x int);\nselect no_such_function();\n"
    )
    (tmp_path / "9002_later.sql").write_text("create table public.later (x int);\n")
    monkeypatch.setattr(migrate, "SQL_DIR", tmp_path)
    with pytest.raises(psycopg.errors.UndefinedFunction):
        migrate.apply(empty_db, local=True)
    assert "9001_broken" not in ledger(empty_db) and "9002_later" not in ledger(empty_db)
    with psycopg.connect(empty_db) as connection:  # its transaction was rolled back
        found = connection.execute("select to_regclass('public.half_done')").fetchone()
    assert found == (None,)
    (tmp_path / "9001_broken.sql").write_text("create table public.half_done (x int);\n")
    assert migrate.apply(empty_db, local=True) == ["9001_broken.sql", "9002_later.sql"]


def test_concurrent_appliers_apply_each_migration_once(empty_db: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate.apply(empty_db, local=True))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    applied = sorted(name for result in results for name in result)
    assert applied == sorted(p.name for p in migrate.migrations())  # once each, in all
