"""The mirror adopts an app's existing `jobs` table (issue 18): OMVEE's own, with other columns,
its own status words (pending/processing/completed/failed, a CHECK on them) and rows already in
it. The migrations add only the columns the mirror writes; the operator, told the app's words,
updates the app's rows in them and leaves the app's columns and other rows alone; told the
wrong words, it refuses to start, naming each word and the constraint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kubernetes import client

from api.statuswords import OURS, StatusWords
from controller.mirror import migrate
from controller.mirror.sinks import PostgresSink
from controller.mirror.tablecheck import TableMismatch, check_table
from tests.localcluster.layout import REPO_ROOT
from tests.mirrordb import fresh_database, record_status_history
from tests.omveejobs import OmveeJobs, manifest
from tests.operator_process import OperatorProcess
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

APP_WORDS = {
    "queued": "pending",
    "running": "processing",
    "succeeded": "completed",
    "cancelled": "failed",
}
PROJECT = "5d0c2f7e-6a43-4a7e-9d1e-0c5b7a2e9f11"
# The app's table, as its routers created it: its own columns, words and rows.
APP_TABLE = """
create table public.jobs (
    id          uuid primary key default gen_random_uuid(),
    project_id  uuid not null,
    user_id     uuid,
    type        text not null,
    status      text not null default 'pending'
                    constraint jobs_status_check
                    check (status in ('pending', 'processing', 'completed', 'failed')),
    progress    integer not null default 0,
    title       text,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz
);
create index jobs_user_idx on public.jobs (user_id);
"""
USER = "7a1c0d2e-4b3f-4c5d-8e6f-708192a3b4c5"
APP_ROWS = [
    # (id, project, user, type, status, progress, title)
    (
        "0b9d7c1e-1111-4c3a-9a55-6f1e2d3c4b5a",
        PROJECT,
        USER,
        "transcription",
        "pending",
        0,
        "interview.mp3",
    ),
    (
        "0b9d7c1e-2222-4c3a-9a55-6f1e2d3c4b5a",
        PROJECT,
        None,
        "transcription",
        "completed",
        100,
        "intro.mp3",
    ),
    (
        "0b9d7c1e-3333-4c3a-9a55-6f1e2d3c4b5a",
        str(uuid.uuid4()),
        None,
        "scene_selection",
        "processing",
        40,
        None,
    ),
]


@pytest.fixture
def app_db(postgres_url: str) -> Iterator[str]:
    """A fresh database holding the app's `jobs` table and rows (plus Supabase's roles)."""
    with fresh_database(postgres_url, "adopt") as dsn:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(migrate.SHIM.read_text().encode())
            connection.execute(APP_TABLE.encode())
            connection.cursor().executemany(
                "insert into public.jobs (id, project_id, user_id, type, status, progress, title) "
                "values (%s, %s, %s, %s, %s, %s, %s)",
                APP_ROWS,
            )
        yield dsn


def columns(dsn: str) -> dict[str, tuple[str, str, str | None]]:
    """{column: (type, nullable, default)} of public.jobs."""
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "select column_name, data_type, is_nullable, column_default "
            "from information_schema.columns where table_schema = 'public' "
            "and table_name = 'jobs'"
        ).fetchall()
    return {name: (kind, nullable, default) for name, kind, nullable, default in rows}


def table_facts(dsn: str) -> dict[str, Any]:
    """The app's constraints, indexes and row-level security flag on public.jobs."""
    with psycopg.connect(dsn) as connection:
        constraints = connection.execute(
            "select conname, pg_get_constraintdef(oid) from pg_constraint "
            "where conrelid = 'public.jobs'::regclass order by conname"
        ).fetchall()
        indexes = connection.execute(
            "select indexname from pg_indexes where schemaname = 'public' "
            "and tablename = 'jobs' order by indexname"
        ).fetchall()
        rls = connection.execute(
            "select relrowsecurity from pg_class where oid = 'public.jobs'::regclass"
        ).fetchone()
    return {"constraints": constraints, "indexes": [i for (i,) in indexes], "rls": rls}


def app_view(dsn: str) -> dict[str, tuple[Any, ...]]:
    """Every row's app columns, by id."""
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "select id::text, project_id::text, user_id::text, type, status, progress, title, "
            "created_at from public.jobs"
        ).fetchall()
    return {row[0]: row for row in rows}


def test_migrations_add_only_the_mirrors_columns(app_db: str) -> None:
    before_columns, before_facts, before_rows = (
        columns(app_db),
        table_facts(app_db),
        app_view(app_db),
    )
    applied = migrate.apply(app_db, local=True)
    # 0001 (the mirror's own table, RLS, policies) is recorded as done without running
    assert "0001_jobs.sql" not in applied and "0000_adopt_jobs_table.sql" in applied
    assert migrate.TYPE_CHECK not in applied  # the app's type column is left alone
    with psycopg.connect(app_db) as connection:
        assert migrate.adopted(connection)
    after = columns(app_db)
    for name, shape in before_columns.items():  # the app's columns, exactly as they were
        assert after[name] == shape, name
    added = set(after) - set(before_columns)
    assert added == {
        "progress_message",
        "reason",
        "message",
        "error",
        "attempts",
        "run",
        "input",
        "result",
        "k8s_namespace",
        "k8s_name",
        "k8s_job_name",
        "k8s_pod_name",
        "k8s_node_name",
        "revision",
        "started_at",
        "finished_at",
        "pipeline_id",
    }
    facts = table_facts(app_db)
    assert facts["constraints"] == before_facts["constraints"]  # no type check, no status check
    assert facts["rls"] == before_facts["rls"] == (False,)  # the app's security, as it was
    # only the pipeline column's partial index is added
    assert set(facts["indexes"]) - set(before_facts["indexes"]) == {"jobs_pipeline_idx"}
    assert app_view(app_db) == before_rows
    assert migrate.apply(app_db, local=True) == []  # up to date; nothing runs again


def test_the_table_check_names_each_word_the_table_refuses(app_db: str) -> None:
    migrate.apply(app_db, local=True)
    sink = PostgresSink(app_db)
    before = app_view(app_db)
    check_table(sink, StatusWords.from_mapping(APP_WORDS), ["transcription", "scene-generation"])
    with pytest.raises(TableMismatch) as refused:
        check_table(sink, OURS, ["transcription"])
    text = str(refused.value)
    for word in ("'queued'", "'running'", "'succeeded'", "'cancelled'"):
        assert word in text, text
    assert "jobs_status_check" in text and "SQLSTATE 23514" in text
    assert "OMVEE_MIRROR_STATUS_WORDS" in text
    assert app_view(app_db) == before  # the probe's rows were all rolled back


def test_the_operator_writes_the_apps_words_into_its_rows(
    app_db: str,
    kubeconfig: Path,
    k8s: client.ApiClient,
    job_namespace: str,
    operator: OperatorProcess,
) -> None:
    migrate.apply(app_db, local=True)
    record_status_history(app_db)  # every status the rows take
    before = app_view(app_db)
    pending_id = APP_ROWS[0][0]
    new_id = str(uuid.uuid4())

    refusing = OperatorProcess(
        kubeconfig,
        port_offset=98,
        log_name="operator-adopt-refused.log",
        env={"OMVEE_MIRROR_DSN": app_db},
    )
    with pytest.raises(RuntimeError, match="exited during start-up") as exited:
        refusing.start()
    assert refusing.process is not None and refusing.process.wait(10) == 2
    assert "cannot hold what the mirror writes" in str(exited.value)
    assert "jobs_status_check" in str(exited.value)

    operator.stop()  # two operators would both act; this one knows the app's words
    ours = OperatorProcess(  # this test's namespace only: other tests' jobs are no rows here
        kubeconfig,
        port_offset=98,
        namespaces=(job_namespace,),
        log_name="operator-adopt.log",
        env={"OMVEE_MIRROR_DSN": app_db, "OMVEE_MIRROR_STATUS_WORDS": json.dumps(APP_WORDS)},
    )
    try:
        ours.start()
        ojobs = OmveeJobs(k8s, job_namespace)
        for job_id in (pending_id, new_id):  # the app's own pending row, and a new job
            ojobs.create(
                manifest(f"adopt-{job_id[:8]}", "transcription", jobId=job_id, projectId=PROJECT)
            )

        def finished() -> list[str] | None:
            with psycopg.connect(app_db) as connection:
                found = connection.execute(
                    "select status from public.jobs where id = any(%s::uuid[]) order by id",
                    [[pending_id, new_id]],
                ).fetchall()
            statuses = [s for (s,) in found]
            return statuses if statuses and all(s == "completed" for s in statuses) else None

        wait_for(finished, "both rows completed in the app's word", 90, ours._alive)
    finally:
        ours.stop()
        operator.start()
    after = app_view(app_db)
    # the app's pending row: its own columns kept, status in the app's words
    kept = list(before[pending_id])
    kept[4], kept[5] = "completed", 100
    assert list(after[pending_id]) == kept
    # the app's other rows: untouched
    for other in (APP_ROWS[1][0], APP_ROWS[2][0]):
        assert after[other] == before[other]
    assert after[new_id][4:6] == ("completed", 100)
    with psycopg.connect(app_db) as connection:
        recorded = connection.execute(
            "select id::text, status from jobs_history where id = any(%s::uuid[])",
            [[pending_id, new_id]],
        ).fetchall()
        words = {s for (_, s) in recorded}
        mirrored = connection.execute(
            "select k8s_namespace, reason, revision > 0 from public.jobs where id = %s",
            [pending_id],
        ).fetchone()
        # the app's updated_at has no default: the mirror's insert sets it (stuck-rows reads it)
        stamped = connection.execute(
            "select updated_at is not null from public.jobs where id = %s", [new_id]
        ).fetchone()
    assert stamped == (True,)
    assert words <= {"pending", "processing", "completed"}, recorded  # never one of ours
    assert mirrored == (job_namespace, "Succeeded", True)


def test_stuck_rows_reads_and_writes_the_apps_words(
    app_db: str, kubeconfig: Path, crd: dict[str, object]
) -> None:
    migrate.apply(app_db, local=True)
    waiting = str(uuid.uuid4())  # no OmveeJob carries it (an earlier test's may carry APP_ROWS')
    untyped = str(uuid.uuid4())  # an app row with no type (a column 0000 may have added)
    with psycopg.connect(app_db, autocommit=True) as connection:
        connection.execute(
            "insert into public.jobs (id, project_id, type, status, title) "
            "values (%s, %s, 'transcription', 'pending', 'lost.mp3')",
            [waiting, PROJECT],
        )
        connection.execute("alter table public.jobs alter column type drop not null")
        connection.execute(
            "insert into public.jobs (id, project_id, status) values (%s, %s, 'processing')",
            [untyped, PROJECT],
        )
    before = app_view(app_db)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}

    def stuck_rows(*args: str, words: dict[str, str] | None = None) -> str:
        extra = {"OMVEE_MIRROR_STATUS_WORDS": json.dumps(words)} if words else {}
        result = subprocess.run(
            [sys.executable, "-m", "controller.mirror.stuck_rows", "--dsn", app_db, *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            env=env | extra,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    # in the mirror's own words, the app's rows are never queued or running
    assert stuck_rows("--older-than", "0s").startswith("0 stuck row(s)")
    report = stuck_rows("--older-than", "0s", "--fail", words={**APP_WORDS, "failed": "failed"})
    assert report.startswith("3 stuck row(s)"), report
    assert f"{untyped}  (no type)" in report
    after = app_view(app_db)
    for job_id in (waiting, untyped, APP_ROWS[2][0]):  # pending and processing: now failed
        assert after[job_id][4] == "failed"
        assert after[job_id][:4] + after[job_id][5:] == before[job_id][:4] + before[job_id][5:]
    assert after[APP_ROWS[1][0]] == before[APP_ROWS[1][0]]  # completed: left alone


def test_a_table_an_older_migrate_took_through_0001_is_adopted_now(app_db: str) -> None:
    """Before adoption existed, `migrate` ran 0001 and 0002 on an app's table: its
    `create table if not exists` created nothing, so the mirror's columns were missing."""
    with psycopg.connect(app_db, autocommit=True) as connection:
        connection.execute(
            f"create table {migrate.LEDGER} (version text primary key, "
            "applied_at timestamptz not null default now())"
        )
        for path in migrate.migrations():
            if path.stem in ("0001_jobs", "0002_pipeline_id"):
                connection.execute(path.read_text().encode())
                connection.execute(
                    f"insert into {migrate.LEDGER} (version) values (%s)", [path.stem]
                )
    assert "revision" not in columns(app_db)
    applied = migrate.apply(app_db, local=True)
    assert applied == ["0000_adopt_jobs_table.sql", "0003_status_words.sql"]
    assert {"revision", "run", "k8s_namespace", "result"} <= set(columns(app_db))
    with psycopg.connect(app_db) as connection:
        assert migrate.adopted(connection)
    check_table(PostgresSink(app_db), StatusWords.from_mapping(APP_WORDS), ["transcription"])


def test_a_foreign_key_on_project_id_is_no_refusal(postgres_url: str) -> None:
    """An app's jobs.project_id referencing its projects: the probe writes as a project the
    table holds; in an empty table it cannot, and says so without refusing."""
    with fresh_database(postgres_url, "adopt_fk") as dsn:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(migrate.SHIM.read_text().encode())
            connection.execute("create table public.projects (id uuid primary key)")
            connection.execute(
                APP_TABLE.replace(
                    "project_id  uuid not null,",
                    "project_id  uuid not null references public.projects (id),",
                ).encode()
            )
        migrate.apply(dsn, local=True)
        words = StatusWords.from_mapping(APP_WORDS)
        unchecked = check_table(PostgresSink(dsn), words, ["transcription"])
        assert unchecked and all("jobs_project_id_fkey" in line for line in unchecked)
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("insert into public.projects values (%s)", [PROJECT])
            connection.execute(
                "insert into public.jobs (project_id, type, status) "
                "values (%s, 'transcription', 'completed')",
                [PROJECT],
            )
        assert check_table(PostgresSink(dsn), words, ["transcription", "scene-generation"]) == []
        with pytest.raises(TableMismatch, match="jobs_status_check"):
            check_table(PostgresSink(dsn), OURS, ["transcription"])  # the words still count


def test_the_probe_writes_as_a_random_project_first_and_refuses_a_key_on_type(
    app_db: str,
) -> None:
    """An app's one-active-job-per-project index does not refuse the probe while a project
    has an active job (its random project first); a foreign key on type does refuse it."""
    migrate.apply(app_db, local=True)
    with psycopg.connect(app_db, autocommit=True) as connection:
        connection.execute(
            "create unique index one_active_per_type on public.jobs (project_id, type) "
            "where status in ('pending', 'processing')"
        )
        connection.execute(
            "insert into public.jobs (project_id, type, status) "
            "values (%s, 'scene-generation', 'processing')",
            [PROJECT],
        )
    words = StatusWords.from_mapping(APP_WORDS)
    assert check_table(PostgresSink(app_db), words, ["transcription", "scene-generation"]) == []
    with psycopg.connect(app_db, autocommit=True) as connection:
        connection.execute("create table public.job_types (name text primary key)")
        connection.execute(
            "insert into public.job_types select distinct type from public.jobs "
            "union select 'transcription'"
        )
        connection.execute(
            "alter table public.jobs add constraint jobs_type_fkey foreign key (type) "
            "references public.job_types (name)"
        )
    with pytest.raises(TableMismatch, match="jobs_type_fkey") as refused:
        check_table(PostgresSink(app_db), words, ["transcription", "video-generation"])
    assert "video-generation" in str(refused.value)
