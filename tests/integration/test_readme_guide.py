"""The README's code samples stay true: the migration guide's Python blocks, run in order as one
module against the API and the operator (kwok plays the pods), then its routes called as the
app would; its shell lines, run by bash against an app-shaped `jobs` table; and the Python
client section's example, against the same API."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.client import NotFound, OmveeClient, ValidationFailed
from controller.mirror import migrate
from tests.api_process import SERVICE_TOKEN, ApiProcess
from tests.integration.test_mirror_adopt import APP_TABLE
from tests.localcluster.layout import REPO_ROOT
from tests.mirrordb import fresh_database
from tests.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

README = REPO_ROOT / "README.md"
GUIDE = "## Migrating the OMVEE backend"
CLIENT = "## Python client"
AUDIO = "https://media.example.com/projects/guide.mp3"


def section(heading: str) -> str:
    """The README's text from ``heading`` to the next second-level heading."""
    text = README.read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def blocks(text: str, language: str) -> list[str]:
    """The fenced ``language`` code blocks of ``text``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.M | re.S)


def test_the_guide_has_samples_for_every_call_site() -> None:
    python = "\n".join(blocks(section(GUIDE), "python"))
    for call_site in ("transcription.py:209", "scenes.py:362", ":448", "image_generation.py"):
        assert call_site in python
    for old_task in (
        "transcription_background_task",
        "scene_generation_background_task",
        "visual_prompt_generation_task",
        "image_generation_task",
        "video_generation_task",
    ):
        assert f"# background_tasks.add_task({old_task}" in python
    shell = "\n".join(blocks(section(GUIDE), "sh"))
    assert "omvee stuck-rows" in shell and "controller.mirror.migrate" in shell


def test_the_guides_python_runs_and_its_routes_submit_a_chain(
    api_server: ApiProcess, operator_mirror_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMVEE_API_URL", api_server.url)
    monkeypatch.setenv("OMVEE_API_TOKEN", SERVICE_TOKEN)
    monkeypatch.delenv("OMVEE_ROLLOUT", raising=False)
    module: dict[str, Any] = {"__name__": "omvee_guide"}
    for code in blocks(section(GUIDE), "python"):
        exec(compile(code, f"{README}:guide", "exec"), module)
    app = FastAPI()
    app.include_router(module["router"])
    project = str(uuid.uuid4())
    ids: list[str] = []
    with TestClient(app) as routes:
        answer = routes.post(f"/projects/{project}/transcription", json={"audio_url": AUDIO})
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["job_id"])
        for path in ("scenes", "visual-prompts", "images", "video"):
            answer = routes.post(f"/projects/{project}/{path}", json={"job_id": ids[-1]})
            assert answer.status_code == 202, (path, answer.text)
            assert answer.json()["status"] == "queued"
            ids.append(answer.json()["job_id"])
        with pytest.raises(ValidationFailed) as refused:
            routes.post(f"/projects/{project}/transcription", json={"audio_url": "ftp://x/a"})
        assert refused.value.field == "input.audio_url"

    omvee: OmveeClient = module["omvee"]
    jobs = [omvee.get(job_id) for job_id in ids]
    assert [job.type for job in jobs] == [
        "transcription",
        "scene-generation",
        "visual-prompts",
        "image-generation",
        "video-generation",
    ]
    assert omvee.wait(ids[-1], timeout=180).phase == "Succeeded"  # after each upstream

    def mirrored() -> list[str] | None:
        with psycopg.connect(operator_mirror_dsn) as connection:
            found = dict(
                connection.execute(
                    "select id::text, status from public.jobs where id = any(%s::uuid[])", [ids]
                ).fetchall()
            )
        statuses = [found.get(job_id, "") for job_id in ids]
        return statuses if all(s == "succeeded" for s in statuses) else None

    wait_for(mirrored, "the five rows succeeded in the jobs table", 60)


def test_the_guides_shell_lines_adopt_a_table_and_settle_its_stuck_rows(
    postgres_url: str, kubeconfig: Path, job_namespace: str
) -> None:
    stuck = str(uuid.uuid4())
    with fresh_database(postgres_url, "guide") as dsn:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(migrate.SHIM.read_text().encode())
            connection.execute(APP_TABLE.encode())
            connection.execute(
                "insert into public.jobs (id, project_id, type, status, updated_at) values "
                "(%s, %s, 'transcription', 'processing', now() - interval '2 hours')",
                [stuck, str(uuid.uuid4())],
            )
        script = "set -euo pipefail\n" + "\n".join(blocks(section(GUIDE), "sh"))
        env = {
            **os.environ,
            "PATH": f"{REPO_ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
            "OMVEE_MIRROR_DSN": dsn,
            "KUBECONFIG": str(kubeconfig),
            "OMVEE_NAMESPACE": job_namespace,
        }
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        # listed in the app's word, not resubmittable (no stored input), then marked failed
        assert f"{stuck}  transcription     processing" in done.stdout, done.stdout
        assert "cannot resubmit" in done.stdout
        with psycopg.connect(dsn) as connection:
            assert migrate.adopted(connection)
            row = connection.execute(
                "select status, reason, message from public.jobs where id = %s", [stuck]
            ).fetchone()
        assert row == ("failed", "Abandoned", "lost in the restart of the old job system")


def test_the_python_client_example_runs(api_server: ApiProcess) -> None:
    [code] = blocks(section(CLIENT), "python")
    project = re.search(r'PROJECT = "([0-9a-f-]{36})"', code)
    sample = re.search(r'SAMPLE = "([0-9a-f-]{36})"', code)
    assert project and sample and 'OmveeClient("http://127.0.0.1:26400", token=None)' in code
    # make up's sample job, here submitted to the test API (a fresh id when an earlier run
    # of the session made it already)
    sample_id = sample.group(1)
    with OmveeClient(api_server.url, SERVICE_TOKEN) as omvee:
        with contextlib.suppress(NotFound):
            omvee.get(sample_id)
            sample_id = str(uuid.uuid4())
        omvee.transcribe(project.group(1), audio_url=AUDIO, job_id=sample_id)
    runnable = code.replace(
        'OmveeClient("http://127.0.0.1:26400", token=None)',
        f'OmveeClient("{api_server.url}", token="{SERVICE_TOKEN}")',
    ).replace(sample.group(1), sample_id)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(runnable, f"{README}:client", "exec"), {"__name__": "client_example"})
    assert printed.getvalue().startswith("Succeeded 100 ["), printed.getvalue()
