"""The stuck-row command on a database seeded with what the old system left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kubernetes import client
from psycopg.types.json import Jsonb

from tests.localcluster.layout import REPO_ROOT
from tests.omveejobs import OmveeJobs, manifest

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.usefixtures("crd")]

PROJECT = str(uuid.uuid4())


def seed(
    dsn: str,
    status: str,
    *,
    age: str = "2 hours",
    input: Any = None,
    job_type: str = "transcription",
) -> str:
    job_id = str(uuid.uuid4())
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "insert into public.jobs (id, project_id, type, status, input, updated_at) "
            "values (%s, %s, %s, %s, %s, now() - %s::interval)",
            [job_id, PROJECT, job_type, status, Jsonb(input) if input is not None else None, age],
        )
    return job_id


def status_of(dsn: str, job_id: str) -> tuple[str, str | None]:
    with psycopg.connect(dsn) as connection:
        found = connection.execute(
            "select status, message from public.jobs where id = %s", [job_id]
        ).fetchone()
    assert found
    return found[0], found[1]


@pytest.fixture
def seeded(mirror_db: str, k8s: client.ApiClient, namespace: str) -> dict[str, str]:
    ojobs = OmveeJobs(k8s, namespace)
    tracked = manifest("tracked", "transcription")
    ojobs.create(tracked)
    audio = {"audioUrl": "https://media.example.com/a.mp3"}
    return {
        "running": seed(mirror_db, "running", input=audio),
        "queued": seed(mirror_db, "queued", input=audio),
        "no-input": seed(mirror_db, "running"),
        "recent": seed(mirror_db, "running", age="1 minute", input=audio),
        "done": seed(mirror_db, "succeeded", input=audio),
        # stuck-looking, but an OmveeJob carries its id
        "tracked": _seed_with_id(mirror_db, tracked["spec"]["jobId"]),
    }


def _seed_with_id(dsn: str, job_id: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "insert into public.jobs (id, project_id, type, status, updated_at) "
            "values (%s, %s, 'transcription', 'running', now() - interval '2 hours')",
            [job_id, PROJECT],
        )
    return job_id


def run(dsn: str, kubeconfig: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "controller.mirror.stuck_rows", "--dsn", dsn, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_dry_run_lists_only_stuck_rows_and_changes_nothing(
    seeded: dict[str, str], mirror_db: str, kubeconfig: Path
) -> None:
    out = run(mirror_db, kubeconfig)
    assert out.startswith("3 stuck row(s)")
    assert f"{seeded['running']}  transcription     running" in out
    assert f"can be resubmitted as job-{seeded['running']}" in out
    assert f"{seeded['no-input']}" in out and "cannot resubmit: the row has no stored input" in out
    for other in ("recent", "done", "tracked"):
        assert seeded[other] not in out
    assert "Nothing changed" in out
    assert status_of(mirror_db, seeded["running"]) == ("running", None)


def test_fail_marks_them_failed_with_the_reason(
    seeded: dict[str, str], mirror_db: str, kubeconfig: Path
) -> None:
    out = run(mirror_db, kubeconfig, "--fail", "--reason", "lost in the migration")
    assert out.count("marked failed") == 3
    for key in ("running", "queued", "no-input"):
        assert status_of(mirror_db, seeded[key]) == ("failed", "lost in the migration")
    assert status_of(mirror_db, seeded["recent"]) == ("running", None)
    assert status_of(mirror_db, seeded["done"])[0] == "succeeded"


def test_resubmit_creates_omveejobs_for_them(
    seeded: dict[str, str], mirror_db: str, kubeconfig: Path, k8s: client.ApiClient, namespace: str
) -> None:
    out = run(mirror_db, kubeconfig, "--resubmit", "--namespace", namespace)
    assert f"resubmitted as {namespace}/job-{seeded['running']}" in out
    assert "skipped: cannot resubmit: the row has no stored input" in out
    ojob = OmveeJobs(k8s, namespace).get(f"job-{seeded['queued']}")
    assert ojob["spec"] | {"cancel": None, "rerun": None, "podAnnotations": None} == {
        "type": "transcription",
        "projectId": PROJECT,
        "jobId": seeded["queued"],
        "input": {"audioUrl": "https://media.example.com/a.mp3"},
        "cancel": None,
        "rerun": None,
        "podAnnotations": None,
    }
    # run again: the resubmitted rows now have OmveeJobs and are no longer stuck
    assert run(mirror_db, kubeconfig).startswith("1 stuck row(s)")
