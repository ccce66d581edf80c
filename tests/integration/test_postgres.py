"""The session PostgreSQL that stands in for Supabase's database."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from tests.localcluster.layout import REPO_ROOT
from tests.localpostgres import LocalPostgres

pytestmark = pytest.mark.postgres


def test_server_accepts_connections_and_keeps_data(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        version = connection.execute("show server_version_num").fetchone()
        assert version and int(version[0]) >= 150000
        connection.execute("create temporary table probe (id int primary key, note text)")
        connection.execute("insert into probe values (1, 'queued')")
        row = connection.execute("select note from probe where id = 1").fetchone()
        assert row == ("queued",)


def test_listens_only_on_loopback(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as connection:
        row = connection.execute("show listen_addresses").fetchone()
    assert row == ("127.0.0.1",)


def test_url_command_prints_the_session_url(local_postgres: LocalPostgres) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "tests.localpostgres", "url"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert printed.strip() == local_postgres.url
