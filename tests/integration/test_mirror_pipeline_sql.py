"""Migration 0002 on a real PostgreSQL: jobs.pipeline_id, written by mirror_job_status() from
the row's pipeline_id, kept when a later write leaves it out, null for a single job; and its
index."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from controller.mirror import migrate
from tests.integration.test_mirror_sql import row, write

pytestmark = pytest.mark.postgres


def pipeline_of(dsn: str, job_id: str) -> str | None:
    with psycopg.connect(dsn) as connection:
        found = connection.execute(
            "select pipeline_id from public.jobs where id = %s", [job_id]
        ).fetchone()
    assert found, f"no row for {job_id}"
    return None if found[0] is None else str(found[0])


def test_the_pipeline_id_is_written_kept_and_null_for_a_single_job(mirror_db: str) -> None:
    step, single, pipeline = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    assert write(mirror_db, row(step, 1, "queued", pipeline_id=pipeline)) == "inserted"
    assert pipeline_of(mirror_db, step) == pipeline
    assert write(mirror_db, row(step, 2, "running")) == "updated"  # an older writer's row
    assert pipeline_of(mirror_db, step) == pipeline
    assert write(mirror_db, row(step, 3, "succeeded", pipeline_id=pipeline)) == "updated"
    assert pipeline_of(mirror_db, step) == pipeline
    assert write(mirror_db, row(single, 1, "queued")) == "inserted"
    assert pipeline_of(mirror_db, single) is None
    # the ordering rules of 0001 still hold
    assert write(mirror_db, row(step, 2, "running", pipeline_id=pipeline)) == "stale"


def test_a_pipelines_rows_are_read_by_its_id_through_the_index(mirror_db: str) -> None:
    pipeline = str(uuid.uuid4())
    steps = [str(uuid.uuid4()) for _ in range(3)]
    for revision, job_id in enumerate(steps, 1):
        write(mirror_db, row(job_id, revision, "queued", pipeline_id=pipeline))
    with psycopg.connect(mirror_db) as connection:
        found = connection.execute(
            "select id from public.jobs where pipeline_id = %s order by created_at", [pipeline]
        ).fetchall()
        index = connection.execute(
            "select indexdef from pg_indexes where indexname = 'jobs_pipeline_idx'"
        ).fetchone()
    assert sorted(str(r[0]) for r in found) == sorted(steps)
    assert index and "(pipeline_id)" in index[0] and "WHERE (pipeline_id IS NOT NULL)" in index[0]


def test_0002_applies_again_safely(mirror_db: str) -> None:
    path = migrate.SQL_DIR / "0002_pipeline_id.sql"
    job_id, pipeline = str(uuid.uuid4()), str(uuid.uuid4())
    write(mirror_db, row(job_id, 1, "queued", pipeline_id=pipeline))
    with psycopg.connect(mirror_db) as connection:
        connection.execute(path.read_text().encode())
    assert pipeline_of(mirror_db, job_id) == pipeline
    assert write(mirror_db, row(job_id, 2, "running", pipeline_id=pipeline)) == "updated"
