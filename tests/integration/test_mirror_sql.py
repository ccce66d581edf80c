"""public.mirror_job_status() on a real PostgreSQL: ordering rules and row-level security."""

from __future__ import annotations

import json
import random
import threading
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from controller.mirror.sinks import PostgresSink, failure_reason

pytestmark = pytest.mark.postgres

PROJECT_A, PROJECT_B = str(uuid.uuid4()), str(uuid.uuid4())


def row(
    job_id: str,
    revision: int,
    status: str = "running",
    *,
    run: int = 0,
    progress: int = 0,
    project: str = PROJECT_A,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "id": job_id,
        "project_id": project,
        "type": "transcription",
        "status": status,
        "run": run,
        "progress": progress,
        "revision": revision,
        "attempts": 1,
        "message": f"{status} at {revision}",
        **fields,
    }


def write(dsn: str, data: dict[str, Any]) -> str:
    with psycopg.connect(dsn, autocommit=True) as connection:
        result = connection.execute("select public.mirror_job_status(%s)", [Jsonb(data)]).fetchone()
    assert result
    return str(result[0])


def read(dsn: str, job_id: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as connection:
        cursor = connection.execute(
            "select status, progress, revision, run, message, attempts from public.jobs "
            "where id = %s",
            [job_id],
        )
        names = [c.name for c in cursor.description or []]
        found = cursor.fetchone()
    assert found, f"no row for {job_id}"
    return dict(zip(names, found, strict=True))


def test_first_write_inserts_then_newer_updates(mirror_db: str) -> None:
    job = str(uuid.uuid4())
    assert write(mirror_db, row(job, 10, "queued")) == "inserted"
    assert write(mirror_db, row(job, 12, "running", progress=30)) == "updated"
    assert read(mirror_db, job) | {"message": None} == {
        "status": "running",
        "progress": 30,
        "revision": 12,
        "run": 0,
        "message": None,
        "attempts": 1,
    }


def test_a_stale_update_is_ignored(mirror_db: str) -> None:
    job = str(uuid.uuid4())
    write(mirror_db, row(job, 20, "running", progress=50))
    assert write(mirror_db, row(job, 15, "queued")) == "stale"
    assert write(mirror_db, row(job, 20, "queued")) == "stale"
    assert read(mirror_db, job)["status"] == "running"


def test_terminal_rows_stay_final_within_a_run(mirror_db: str) -> None:
    job = str(uuid.uuid4())
    write(mirror_db, row(job, 30, "succeeded", progress=100))
    assert write(mirror_db, row(job, 31, "running")) == "final"
    assert read(mirror_db, job)["status"] == "succeeded"
    # the same final status may still be refined (e.g. result added)
    assert (
        write(mirror_db, row(job, 32, "succeeded", progress=100, result={"srt": "x"})) == "updated"
    )


def test_a_retry_is_a_new_run_that_may_start_over(mirror_db: str) -> None:
    job = str(uuid.uuid4())
    write(mirror_db, row(job, 40, "failed", progress=70))
    assert write(mirror_db, row(job, 41, "queued", run=1, progress=0)) == "updated"
    assert read(mirror_db, job) | {"message": None} == {
        "status": "queued",
        "progress": 0,
        "revision": 41,
        "run": 1,
        "message": None,
        "attempts": 1,
    }
    assert write(mirror_db, row(job, 42, "failed", run=0)) == "stale"  # an older run


def test_progress_never_goes_down_within_a_run(mirror_db: str) -> None:
    job = str(uuid.uuid4())
    write(mirror_db, row(job, 50, progress=60))
    assert write(mirror_db, row(job, 51, progress=20)) == "updated"
    assert read(mirror_db, job)["progress"] == 60


def test_missing_revision_is_refused(mirror_db: str) -> None:
    data = row(str(uuid.uuid4()), 1)
    del data["revision"]
    with pytest.raises(psycopg.errors.RaiseException, match="revision is required"):
        write(mirror_db, data)


def test_concurrent_writers_converge_on_the_newest(mirror_db: str) -> None:
    job = str(uuid.uuid4())
    updates = [row(job, revision, "running", progress=revision) for revision in range(1, 81)]
    updates.append(row(job, 81, "succeeded", progress=100))
    random.Random(3).shuffle(updates)
    chunks = [updates[i::8] for i in range(8)]

    def writer(chunk: list[dict[str, Any]]) -> None:
        with psycopg.connect(mirror_db, autocommit=True) as connection:
            for data in chunk:
                connection.execute("select public.mirror_job_status(%s)", [Jsonb(data)])

    threads = [threading.Thread(target=writer, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read(mirror_db, job) | {"attempts": None} == {
        "status": "succeeded",
        "progress": 100,
        "revision": 81,
        "run": 0,
        "message": "succeeded at 81",
        "attempts": None,
    }


def test_rls_shows_a_user_only_their_projects(mirror_db: str) -> None:
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    write(mirror_db, row(mine, 1, project=PROJECT_A))
    write(mirror_db, row(theirs, 1, project=PROJECT_B))
    claims = {
        "sub": str(uuid.uuid4()),
        "role": "authenticated",
        "app_metadata": {"project_ids": [PROJECT_A]},
    }
    with psycopg.connect(mirror_db) as connection:
        connection.execute("set local role authenticated")
        connection.execute(
            "select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)]
        )
        visible = [str(r[0]) for r in connection.execute("select id from public.jobs")]
        assert visible == [mine]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("update public.jobs set status = 'failed'")
    with psycopg.connect(mirror_db) as connection:
        connection.execute("set local role authenticated")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("select public.mirror_job_status('{}'::jsonb)")
    with psycopg.connect(mirror_db) as connection:  # signed in, but no projects
        connection.execute("set local role authenticated")
        assert connection.execute("select count(*) from public.jobs").fetchone() == (0,)


def test_a_row_is_never_taken_over_by_another_project_or_namespace(mirror_db: str) -> None:
    job_id = str(uuid.uuid4())
    assert write(mirror_db, row(job_id, 1, k8s_namespace="media", k8s_name="a")) == "inserted"
    for intruder in (
        row(job_id, 2, "failed", project=PROJECT_B, k8s_namespace="media", k8s_name="b"),
        row(job_id, 2, "failed", k8s_namespace="other", k8s_name="a"),
    ):
        with pytest.raises(psycopg.errors.CheckViolation) as refused:
            write(mirror_db, intruder)
        assert f"job {job_id} belongs to project {PROJECT_A} in namespace media" in str(
            refused.value
        )
    assert read(mirror_db, job_id)["status"] == "running"
    # The owner itself goes on as before.
    assert write(mirror_db, row(job_id, 3, k8s_namespace="media", k8s_name="a")) == "updated"


def test_a_row_without_a_namespace_is_taken_by_its_projects_first_omveejob(mirror_db: str) -> None:
    job_id = str(uuid.uuid4())  # e.g. left by the old BackgroundTasks, resubmitted
    assert write(mirror_db, row(job_id, 1, "queued")) == "inserted"
    assert write(mirror_db, row(job_id, 2, k8s_namespace="media", k8s_name="a")) == "updated"
    with pytest.raises(psycopg.errors.CheckViolation):
        write(mirror_db, row(job_id, 3, k8s_namespace="other", k8s_name="a"))


def test_a_batch_is_written_in_one_statement_all_or_none(mirror_db: str) -> None:
    sink = PostgresSink(mirror_db)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    assert sink.write_many([row(job_id, 1) for job_id in ids]) == ["inserted"] * 3
    newer = [row(ids[0], 2, progress=10), row(ids[1], 0)]  # ids[1]: stale
    assert sink.write_many(newer) == ["updated", "stale"]
    assert read(mirror_db, ids[0])["progress"] == 10
    refused = [row(ids[2], 5, progress=50), {"id": str(uuid.uuid4()), "project_id": PROJECT_A}]
    with pytest.raises(psycopg.Error) as raised:
        sink.write_many(refused)  # the second has no revision: the function refuses it
    assert failure_reason(raised.value) == "Rejected"
    assert read(mirror_db, ids[2])["revision"] == 1  # the first of the batch went in neither
    assert sink.write_many([row(ids[2], 5, progress=50)]) == ["updated"]  # the connection lives
