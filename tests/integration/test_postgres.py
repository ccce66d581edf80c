"""The session PostgreSQL that stands in for Supabase's database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.localcluster.layout import REPO_ROOT, choose_shared_root, others_can_enter, usable_base
from tests.localpostgres import DEFAULT_PORT, LocalPostgres
from tests.private_checkout import make_private_checkout, run_from

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


def test_starts_from_a_checkout_other_users_cannot_enter(tmp_path: Path) -> None:
    """Under root the server runs as `postgres`, which cannot enter a 0700 folder: its data goes
    to a per-checkout folder other users can reach, printed, and removed by `down`."""
    checkout = make_private_checkout(tmp_path)
    port = str(int(os.environ.get("OMVEE_PG_PORT", DEFAULT_PORT)) + 1)
    shared = choose_shared_root(checkout, None, others_can_enter, usable_base)
    data = shared.path / "postgres"
    assert shared.per_checkout and checkout not in data.parents

    def postgres(command: str) -> subprocess.CompletedProcess[str]:
        return run_from(checkout, ["-m", "tests.localpostgres", command], OMVEE_PG_PORT=port)

    try:
        up = postgres("up")
        assert up.returncode == 0, up.stderr
        assert f"data in {data}, outside the checkout" in up.stderr
        assert others_can_enter(data)
        status = postgres("status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"data in {data}" in status.stdout
        url = postgres("url").stdout.strip()
        assert url.endswith(f":{port}/postgres")
        with psycopg.connect(url) as connection:
            assert connection.execute("select 1").fetchone() == (1,)
    finally:
        down = postgres("down")
    assert down.returncode == 0, down.stderr
    assert "[postgres] stopped" in down.stderr
    assert not shared.path.exists()
    assert not (checkout / ".run").exists()
