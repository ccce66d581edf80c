"""A `local` run (OMVEE_RUN_LOCAL=true): the job's own code in a child process, started exactly
as the app's rollout switch starts it, writing its `jobs` row through public.mirror_job_status()
on a real PostgreSQL; real speech transcribed by real faster-whisper on the CPU."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from controller.mirror import migrate
from controller.mirror.sinks import PostgresSink
from jobimages.runtime.localrun import MirrorReporter
from tests.localcluster.layout import REPO_ROOT
from tests.media import SENTENCE, serve, speak, word_error_rate
from tests.mirrordb import fresh_database, record_status_history

pytestmark = pytest.mark.postgres

PROJECT = str(uuid.uuid4())
APP_WORDS = {"queued": "pending", "running": "processing", "succeeded": "completed"}
# An app's table, as its routers created it: its own columns and words, a CHECK on them.
APP_TABLE = """
create table public.jobs (
    id          uuid primary key default gen_random_uuid(),
    project_id  uuid not null,
    type        text not null,
    status      text not null default 'pending'
                    constraint jobs_status_check check (status in
                        ('pending', 'processing', 'completed', 'failed', 'cancelled')),
    progress    integer not null default 0,
    title       text,
    created_at  timestamptz not null default now()
);
"""
# Settings of the machine running the tests that must not reach the child: the test gives
# each of these itself (or leaves it unset on purpose).
NOT_INHERITED = ("OMVEE_JOB", "OMVEE_RUN_LOCAL", "OMVEE_MIRROR", "OMVEE_RESULTS", "SUPABASE_")


@pytest.fixture
def db(mirror_db: str) -> str:
    """The mirror's own migrated table, its statuses recorded (``record_history``)."""
    return record_status_history(mirror_db)


@pytest.fixture
def app_db(postgres_url: str) -> Iterator[str]:
    """The app's own `jobs` table in its own words (APP_TABLE), adopted by the migrations,
    its statuses recorded."""
    with fresh_database(postgres_url, "local") as dsn:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(migrate.SHIM.read_text().encode())
            connection.execute(APP_TABLE.encode())
        migrate.apply(dsn, local=True)
        yield record_status_history(dsn)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """espeak-ng's SENTENCE as speech.wav, served on 127.0.0.1; yields the base URL."""
    folder = tmp_path_factory.mktemp("media")
    speak(SENTENCE, folder / "speech.wav")
    with serve(folder) as url:
        yield url


def run_local(
    job_type: str, job_id: str, job_input: dict[str, Any], results: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m jobimages.<package>`` with the job in $OMVEE_JOB and OMVEE_RUN_LOCAL=true,
    as the rollout switch starts it; ``env`` adds or (with "") blanks variables."""
    document = {"type": job_type, "projectId": PROJECT, "jobId": job_id, "input": job_input}
    inherited = {
        name: value for name, value in os.environ.items() if not name.startswith(NOT_INHERITED)
    }
    return subprocess.run(
        [sys.executable, "-m", f"jobimages.{job_type.replace('-', '_')}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=inherited
        | {
            "OMVEE_JOB": json.dumps(document | {"run": 0}),
            "OMVEE_RUN_LOCAL": "true",
            "OMVEE_RESULTS_DIR": str(results),
            # the media server is on 127.0.0.1, which the URL policy refuses by default
            "OMVEE_URL_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
        }
        | env,
    )


def read(dsn: str, job_id: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as connection:
        cursor = connection.execute("select * from public.jobs where id = %s", [job_id])
        names = [c.name for c in cursor.description or []]
        found = cursor.fetchall()
    assert len(found) == 1, f"{len(found)} rows for {job_id}"
    return dict(zip(names, found[0], strict=True))


def history(dsn: str, job_id: str) -> list[str]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "select status from jobs_history where id = %s order by at", [job_id]
        ).fetchall()
    return [status for (status,) in rows]


def transcript_text(row: dict[str, Any], results: Path) -> str:
    path = Path(unquote(urlsplit(row["result"]["files"]["json"]).path))
    assert path.is_relative_to(results.resolve()), path
    return " ".join(s["text"] for s in json.loads(path.read_text())["segments"])


@pytest.mark.media
def test_a_local_transcription_writes_its_row_running_then_succeeded(
    db: str, media: str, tmp_path: Path
) -> None:
    job_id = str(uuid.uuid4())
    done = run_local(
        "transcription",
        job_id,
        {"audioUrl": f"{media}/speech.wav"},
        tmp_path,
        OMVEE_MIRROR_DSN=db,
    )
    assert done.returncode == 0, done.stderr
    row = read(db, job_id)
    assert (row["status"], row["progress"], row["reason"]) == ("succeeded", 100, "Succeeded")
    assert (row["project_id"], row["type"], row["attempts"], row["run"]) == (
        uuid.UUID(PROJECT),
        "transcription",
        1,
        0,
    )
    assert row["started_at"] is not None and row["finished_at"] is not None
    assert row["started_at"] <= row["finished_at"]
    assert (row["k8s_namespace"], row["k8s_name"], row["k8s_pod_name"]) == (None, None, None)
    assert (row["message"], row["error"]) == ("succeeded", None)
    assert row["input"] == {"audioUrl": f"{media}/speech.wav"}
    assert row["result"]["words"] >= 12
    assert word_error_rate(SENTENCE, transcript_text(row, tmp_path)) <= 0.3
    # one write for running, one per progress report, one final: each a revision above the last
    assert row["revision"] >= 3
    assert history(db, job_id) == ["running", "succeeded"]


@pytest.mark.media
def test_a_local_run_writes_the_apps_status_words(app_db: str, media: str, tmp_path: Path) -> None:
    """The app's own table, its row created by the app's route in the app's words first."""
    job_id = str(uuid.uuid4())
    with psycopg.connect(app_db, autocommit=True) as connection:
        connection.execute(
            "insert into public.jobs (id, project_id, type, title) "
            "values (%s, %s, 'transcription', 'speech.wav')",
            [job_id, PROJECT],
        )
    done = run_local(
        "transcription",
        job_id,
        {"audioUrl": f"{media}/speech.wav"},
        tmp_path,
        OMVEE_MIRROR_DSN=app_db,
        OMVEE_MIRROR_STATUS_WORDS=json.dumps(APP_WORDS),
    )
    assert done.returncode == 0, done.stderr
    assert "Could not write" not in done.stderr, done.stderr
    row = read(app_db, job_id)
    assert (row["status"], row["progress"], row["reason"]) == ("completed", 100, "Succeeded")
    assert row["title"] == "speech.wav"  # the app's own column, left alone
    assert history(app_db, job_id) == ["pending", "processing", "completed"]


def test_input_the_job_refuses_fails_the_row_permanently(db: str, tmp_path: Path) -> None:
    job_id = str(uuid.uuid4())
    done = run_local(
        "transcription",
        job_id,
        {"audioUrl": "ftp://media.example.com/a.mp3"},
        tmp_path,
        OMVEE_MIRROR_DSN=db,
    )
    assert done.returncode == 65, done.stderr
    row = read(db, job_id)
    assert (row["status"], row["reason"]) == ("failed", "PermanentFailure")
    assert row["message"].startswith("permanent failure: invalid input: ")
    assert "https?://" in row["message"]  # the rule the URL breaks
    assert row["error"] == row["message"]
    assert row["result"] is None and row["started_at"] <= row["finished_at"]
    assert history(db, job_id) == ["running", "failed"]


@pytest.mark.media
def test_a_row_the_app_created_first_is_updated_in_place(
    db: str, media: str, tmp_path: Path
) -> None:
    job_id = str(uuid.uuid4())
    with psycopg.connect(db, autocommit=True) as connection:  # what the app's route does
        connection.execute(
            "insert into public.jobs (id, project_id, type, status, revision, input) "
            "values (%s, %s, 'transcription', 'queued', 0, '{}')",
            [job_id, PROJECT],
        )
    created = read(db, job_id)
    assert created["k8s_namespace"] is None
    done = run_local(
        "transcription",
        job_id,
        {"audioUrl": f"{media}/speech.wav"},
        tmp_path,
        OMVEE_MIRROR_DSN=db,
    )
    assert done.returncode == 0, done.stderr
    row = read(db, job_id)
    assert (row["status"], row["progress"]) == ("succeeded", 100)
    assert row["created_at"] == created["created_at"]
    assert row["input"] == {"audioUrl": f"{media}/speech.wav"}
    assert history(db, job_id) == ["queued", "running", "succeeded"]


def test_without_a_mirror_a_local_run_stops_before_the_work(tmp_path: Path) -> None:
    done = run_local("transcription", str(uuid.uuid4()), {"audioUrl": "ftp://x/a.mp3"}, tmp_path)
    assert done.returncode == 65
    assert "OMVEE_MIRROR_DSN" in done.stderr and "SUPABASE_URL" in done.stderr
    assert "invalid input" not in done.stderr  # the work never ran


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_database_never_stops_the_work(tmp_path: Path) -> None:
    sink = PostgresSink(f"postgresql://postgres@127.0.0.1:{closed_port()}/none", connect_timeout=2)
    job: dict[str, Any] = {
        "type": "transcription",
        "projectId": PROJECT,
        "jobId": str(uuid.uuid4()),
        "run": 0,
    }
    reporter = MirrorReporter(sink, job)
    reporter.start()
    reporter.progress(50, "halfway")
    reporter.note("permanent failure: nothing to hear")
    assert reporter.finish(65, attempts=2, wait=0.01) is None
    assert reporter.revision == 5  # every write tried, each with a revision of its own


def test_the_final_write_waits_for_the_database(db: str) -> None:
    """While mirror_job_status() is missing (a migration under way) the final write fails
    as unavailable, and is tried again until it goes in."""
    job: dict[str, Any] = {
        "type": "transcription",
        "projectId": PROJECT,
        "jobId": str(uuid.uuid4()),
        "run": 0,
    }
    reporter = MirrorReporter(PostgresSink(db), job)
    reporter.start()
    reporter.result({"words": 3})
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute("alter function public.mirror_job_status(jsonb) rename to away")

        def restore() -> None:
            admin.execute("alter function public.away(jsonb) rename to mirror_job_status")

        timer = threading.Timer(1.0, restore)
        timer.start()
        try:
            assert reporter.finish(0, attempts=8, wait=0.25, wait_max=1.0) == "updated"
        finally:
            timer.join()
    assert reporter.revision >= 3  # the running row, then at least one refused final try
    row = read(db, job["jobId"])
    assert (row["status"], row["progress"], row["result"]) == ("succeeded", 100, {"words": 3})
    assert history(db, job["jobId"]) == ["running", "succeeded"]


@pytest.mark.media
def test_a_local_chain_reads_each_upstream_from_its_row(
    db: str, media: str, tmp_path: Path
) -> None:
    """Every type can run locally: a downstream reads its upstream's result from the `jobs`
    row (there is no cluster to ask), and refuses an upstream that has not succeeded."""
    ids = {name: str(uuid.uuid4()) for name in ("transcript", "scenes", "prompts", "orphan")}
    steps = [
        ("transcription", ids["transcript"], {"audioUrl": f"{media}/speech.wav"}),
        ("scene-generation", ids["scenes"], {"transcriptJobId": ids["transcript"]}),
        ("visual-prompts", ids["prompts"], {"scenesJobId": ids["scenes"]}),
    ]
    for job_type, job_id, job_input in steps:
        done = run_local(job_type, job_id, job_input, tmp_path, OMVEE_MIRROR_DSN=db)
        assert done.returncode == 0, (job_type, done.stderr)
        assert read(db, job_id)["status"] == "succeeded"
    scenes = read(db, ids["scenes"])["result"]
    prompts = read(db, ids["prompts"])["result"]
    assert scenes["scenes"] >= 1 and prompts["prompts"] == scenes["scenes"], (scenes, prompts)

    missing = run_local(
        "scene-generation",
        ids["orphan"],
        {"transcriptJobId": str(uuid.uuid4())},
        tmp_path,
        OMVEE_MIRROR_DSN=db,
    )
    assert missing.returncode == 65, missing.stderr
    row = read(db, ids["orphan"])
    assert (row["status"], row["reason"]) == ("failed", "PermanentFailure")
    assert "to take input from" in row["message"]


@pytest.mark.media
def test_a_local_run_of_an_id_that_ran_before_continues_its_row(
    db: str, media: str, tmp_path: Path
) -> None:
    """A row another run left (here a cluster run's, killed mid-way: revision 9000, running in
    run 2; then a finished one) is written above its revision: its run continued while it was
    unfinished, the next run once it had finished; never a write ignored as stale."""
    job_id = str(uuid.uuid4())
    with psycopg.connect(db, autocommit=True) as connection:
        connection.execute(
            "insert into public.jobs (id, project_id, type, status, progress, run, revision, "
            "k8s_namespace) values (%s, %s, 'transcription', 'running', 40, 2, 9000, 'omvee')",
            [job_id, PROJECT],
        )
    job_input = {"audioUrl": f"{media}/speech.wav"}
    done = run_local("transcription", job_id, job_input, tmp_path, OMVEE_MIRROR_DSN=db)
    assert done.returncode == 0, done.stderr
    first = read(db, job_id)
    assert (first["status"], first["run"], first["progress"]) == ("succeeded", 2, 100)
    assert first["revision"] > 9000 and first["k8s_namespace"] is None

    again = run_local("transcription", job_id, job_input, tmp_path, OMVEE_MIRROR_DSN=db)
    assert again.returncode == 0, again.stderr
    second = read(db, job_id)
    assert (second["status"], second["run"]) == ("succeeded", 3)
    assert second["revision"] > first["revision"]
    assert history(db, job_id) == ["running", "succeeded", "running", "succeeded"]


def test_a_row_of_another_project_is_not_taken(db: str, tmp_path: Path) -> None:
    """The job id's row belongs to another project: the run stops before the work (65)
    rather than run with every write refused; the row is unchanged."""
    job_id, other = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(db, autocommit=True) as connection:
        connection.execute(
            "insert into public.jobs (id, project_id, type, status, revision) "
            "values (%s, %s, 'transcription', 'succeeded', 5)",
            [job_id, other],
        )
    done = run_local(
        "transcription",
        job_id,
        {"audioUrl": "https://media.example.com/a.wav"},
        tmp_path,
        OMVEE_MIRROR_DSN=db,
    )
    assert done.returncode == 65, done.stderr
    assert "another project" in done.stderr
    row = read(db, job_id)
    assert (str(row["project_id"]), row["status"], row["revision"]) == (other, "succeeded", 5)
