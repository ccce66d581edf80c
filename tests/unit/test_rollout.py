"""Per-type rollout (api.client.rollout): OMVEE_ROLLOUT parsed and refused with the variable and
the bad key or value named; every declared type has a job package a local run can start; a
local run's input refused as the API's 422 would; the child's command line and environment; a
started child reaped with its exit code logged; cluster mode sending exactly the client's
submission. The API side is an httpx.MockTransport (as in test_client.py); the app against the
real stack is tests/integration/test_backend_rollout.py."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import sys
import uuid
from typing import Any

import httpx
import pytest

from api.catalog.registry import BY_NAME, TYPE_NAMES
from api.client import (
    AsyncOmveeClient,
    AsyncRollout,
    OmveeClient,
    RetryPolicy,
    Rollout,
    RolloutSettings,
    ValidationFailed,
)
from api.client import rollout as rollout_module
from api.client.rollout import (
    ENV_RUN_LOCAL,
    LocalLaunch,
    build_local_launch,
    local_command,
    local_environment,
    start_local,
)
from api.envsettings import SettingsError
from api.urlpolicy import ENV_ALLOWED_NETWORKS
from tests.waiting import wait_for

BASE = "http://omvee.test"
PROJECT = "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10"
JOB = "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e"
AUDIO = "https://media.example.com/episode-1.mp3"
FAST = RetryPolicy(attempts=2, backoff=0.0, max_backoff=0.0, jitter=0.0)


@pytest.fixture(autouse=True)
def no_rollout_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own OMVEE_ROLLOUT and mirror never leak in; a local child has a
    destination for its row."""
    for name in ("OMVEE_ROLLOUT", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OMVEE_MIRROR_STATUS_WORDS", raising=False)
    monkeypatch.setenv("OMVEE_MIRROR_DSN", "postgresql://app@db.example.com/app")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "set OMVEE_MIRROR_DSN, or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"),
        ({"SUPABASE_URL": "https://p.supabase.co"}, "SUPABASE_SERVICE_ROLE_KEY"),
        (
            {"OMVEE_MIRROR_DSN": "postgresql://db/app", "OMVEE_MIRROR_STATUS_WORDS": "a=b"},
            "OMVEE_MIRROR_STATUS_WORDS must be a JSON object",
        ),
        (
            {"OMVEE_MIRROR_DSN": "postgresql://db/app", "OMVEE_MIRROR_STATUS_WORDS": '{"x": "y"}'},
            "OMVEE_MIRROR_STATUS_WORDS: unknown status 'x'",
        ),
        (
            {
                "OMVEE_MIRROR_DSN": "postgresql://db/app",
                "OMVEE_MIRROR_STATUS_WORDS": '{"succeeded": "x", "running": "x"}',
            },
            "both map to 'x'",
        ),
    ],
)
def test_a_local_type_without_a_destination_for_its_row_is_refused_at_start(
    environ: dict[str, str], message: str
) -> None:
    settings = RolloutSettings.load(OMVEE_ROLLOUT='{"transcription": "local"}')
    with pytest.raises(SettingsError, match=message) as refused:
        Rollout(refusing_client(), settings, environ=environ)
    assert "transcription" in str(refused.value) or "STATUS_WORDS" in str(refused.value)
    # every type on the cluster: nothing to check
    Rollout(refusing_client(), RolloutSettings.load(), environ=environ)
    supabase = {"SUPABASE_URL": "https://p.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "k"}
    Rollout(refusing_client(), settings, environ=supabase)


def refusing_client() -> OmveeClient:
    """A client whose every request fails the test: local mode must send nothing."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"local mode sent {request.method} {request.url}")

    return OmveeClient(BASE, "token", retry=FAST, transport=httpx.MockTransport(refuse))


# -- OMVEE_ROLLOUT ---------------------------------------------------------------------------


def test_unset_or_empty_rollout_puts_every_type_on_the_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert {name: RolloutSettings.load().mode(name) for name in TYPE_NAMES} == dict.fromkeys(
        TYPE_NAMES, "cluster"
    )
    monkeypatch.setenv("OMVEE_ROLLOUT", "")
    assert RolloutSettings.load().rollout == {}
    monkeypatch.setenv("OMVEE_ROLLOUT", "{}")
    assert RolloutSettings.load().mode("transcription") == "cluster"


def test_rollout_names_the_local_types_and_the_others_stay_on_the_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMVEE_ROLLOUT", '{"transcription": "local", "scene-generation": "cluster"}')
    settings = RolloutSettings.load()
    assert {name: settings.mode(name) for name in TYPE_NAMES} == {
        "transcription": "local",
        "scene-generation": "cluster",
        "visual-prompts": "cluster",
        "image-generation": "cluster",
        "video-generation": "cluster",
    }
    # a caller's own value (by the variable's name) wins, as with every settings class
    given = RolloutSettings.load(OMVEE_ROLLOUT='{"video-generation": "local"}')
    assert (given.mode("video-generation"), given.mode("transcription")) == ("local", "cluster")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '{"transcriptions": "local"}',
            "OMVEE_ROLLOUT names an unknown job type 'transcriptions'; known: transcription, ",
        ),
        (
            '{"transcription": "gpu"}',
            "OMVEE_ROLLOUT: the mode of 'transcription' must be 'cluster' or 'local', not 'gpu'",
        ),
        (
            '{"transcription": "Local"}',
            "OMVEE_ROLLOUT: the mode of 'transcription' must be 'cluster' or 'local', not 'Local'",
        ),
        ('{"scene-generation": true}', "the mode of 'scene-generation' must be 'cluster' or"),
        ('["transcription"]', "OMVEE_ROLLOUT must be a JSON object such as"),
        ("transcription=local", "OMVEE_ROLLOUT must be a JSON object such as"),
    ],
)
def test_a_bad_rollout_is_refused_naming_the_variable_and_the_bad_key_or_value(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("OMVEE_ROLLOUT", value)
    with pytest.raises(SettingsError) as refused:
        RolloutSettings.load()
    assert message in str(refused.value)
    with pytest.raises(SettingsError):  # and when the app builds its Rollout from the env
        Rollout(refusing_client())


def test_the_setting_is_documented() -> None:
    description = RolloutSettings.model_fields["rollout"].description or ""
    for needed in ("cluster", "local", "does not name", "mirror_job_status", "OMVEE_MIRROR_DSN"):
        assert needed in description


# -- what a local run starts -----------------------------------------------------------------


@pytest.mark.parametrize("job_type", TYPE_NAMES)
def test_every_declared_type_has_a_job_package_a_local_run_can_start(job_type: str) -> None:
    command = local_command(BY_NAME[job_type], python="/usr/bin/python3")
    package = "jobimages." + job_type.replace("-", "_")
    assert command == ("/usr/bin/python3", "-m", package)
    # -m runs the package's __main__: both must be there (found without importing job code)
    assert importlib.util.find_spec(package) is not None
    assert importlib.util.find_spec(f"{package}.__main__") is not None


def test_the_child_gets_the_callers_environment_the_job_and_the_local_switch() -> None:
    caller = {
        "PATH": "/usr/bin",
        "OMVEE_MIRROR_DSN": "postgresql://app@db/app",
        "OMVEE_RESULTS_DIR": "/srv/results",
        "OMVEE_JOB": "a stale one",
        ENV_RUN_LOCAL: "false",
    }
    launch = build_local_launch(
        "transcription",
        PROJECT.upper(),
        {"audioUrl": AUDIO, "language": "en"},
        job_id=JOB.upper(),
        environ=caller,
        python="/opt/app/bin/python",
    )
    assert launch.job_id == JOB
    assert launch.command == ("/opt/app/bin/python", "-m", "jobimages.transcription")
    env = dict(launch.env)
    job = json.loads(env.pop("OMVEE_JOB"))
    # the caller's variables pass through; a stale OMVEE_JOB and OMVEE_RUN_LOCAL are replaced
    assert env == {
        "PATH": "/usr/bin",
        "OMVEE_MIRROR_DSN": "postgresql://app@db/app",
        "OMVEE_RESULTS_DIR": "/srv/results",
        ENV_RUN_LOCAL: "true",
    }
    # the document the job runtime reads, with the input as the API stores it (camelCase,
    # defaults applied)
    assert job == {
        "type": "transcription",
        "projectId": PROJECT,
        "jobId": JOB,
        "input": {
            "audioUrl": AUDIO,
            "language": "en",
            "wordTimestamps": True,
            "vadFilter": True,
        },
        "run": 0,
    }
    assert "OMVEE_MIRROR_DSN" not in repr(launch)  # the caller's secrets are not logged


def test_a_local_run_without_an_id_gets_a_new_uuid_each_time() -> None:
    ids = {
        build_local_launch(
            "transcription", PROJECT, {"audio_url": AUDIO}, job_id=None, environ={}
        ).job_id
        for _ in range(3)
    }
    assert len(ids) == 3
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_local_environment_is_pure_and_leaves_the_base_alone() -> None:
    base = {"A": "1"}
    env = local_environment(base, "scene-generation", PROJECT, JOB, {"transcriptJobId": JOB})
    assert base == {"A": "1"}
    assert json.loads(env["OMVEE_JOB"])["input"] == {"transcriptJobId": JOB}
    assert (env["A"], env[ENV_RUN_LOCAL]) == ("1", "true")


# -- local mode refuses what the API refuses ------------------------------------------------


@pytest.mark.parametrize(
    ("job_type", "project", "job_id", "input", "field", "kind"),
    [
        ("transcription", PROJECT, None, {"audio_url": "ftp://x/a.mp3"}, "input.audio_url", None),
        ("transcription", PROJECT, None, {}, "input.audio_url", "missing"),
        ("transcription", PROJECT, None, {"audio_url": AUDIO, "speed": 2}, "input.speed", None),
        ("transcription", PROJECT, None, {"audio_url": AUDIO, "language": "English"}, None, None),
        (
            "transcription",
            PROJECT,
            None,
            {"audio_url": "http://169.254.169.254/latest"},
            "input.audio_url",
            "url_not_allowed",
        ),
        ("scene-generation", PROJECT, None, {"transcript_job_id": "nope"}, None, None),
        ("transcriptions", PROJECT, None, {"audio_url": AUDIO}, "type", "enum"),
        ("transcription", "project-1", None, {"audio_url": AUDIO}, "project_id", None),
        ("transcription", PROJECT, "job-1", {"audio_url": AUDIO}, "job_id", None),
    ],
)
def test_local_mode_refuses_a_bad_submission_with_the_field_as_the_api_would(
    job_type: str,
    project: str,
    job_id: str | None,
    input: dict[str, Any],
    field: str | None,
    kind: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[LocalLaunch] = []
    monkeypatch.setattr(rollout_module, "start_local", started.append)
    everything_local = json.dumps(dict.fromkeys(TYPE_NAMES, "local"))
    rollout = Rollout(refusing_client(), RolloutSettings.load(OMVEE_ROLLOUT=everything_local))
    with pytest.raises(ValidationFailed) as refused:
        rollout.submit(job_type, project, input, job_id=job_id)
    error = refused.value
    assert error.status is None  # refused before anything started
    assert started == []
    if field is not None:
        assert error.field == field
    if kind is not None:
        assert error.errors[0]["type"] == kind
    # the client's own check of the same submission (cluster mode) names the same field
    if field not in ("project_id", "job_id", None) and kind != "url_not_allowed":
        with pytest.raises(ValidationFailed) as client_refused:
            refusing_client().submit(job_type, project, input, job_id=job_id)
        assert client_refused.value.field == error.field


def test_local_mode_obeys_the_url_policy_the_child_will_fetch_under() -> None:
    loopback = {"audio_url": "http://127.0.0.1:8080/speech.wav"}
    with pytest.raises(ValidationFailed, match=r"input\.audio_url: URL must use port 80 or 443"):
        build_local_launch("transcription", PROJECT, loopback, job_id=None, environ={})
    allowed = {ENV_ALLOWED_NETWORKS: '["127.0.0.1/32"]'}
    launch = build_local_launch("transcription", PROJECT, loopback, job_id=None, environ=allowed)
    assert json.loads(launch.env["OMVEE_JOB"])["input"]["audioUrl"] == loopback["audio_url"]


# -- the effects -----------------------------------------------------------------------------


def test_a_local_submission_starts_the_child_and_returns_its_id_sending_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[LocalLaunch] = []
    monkeypatch.setattr(rollout_module, "start_local", started.append)
    monkeypatch.setenv("OMVEE_ROLLOUT", '{"transcription": "local"}')
    monkeypatch.setenv("OMVEE_MIRROR_DSN", "postgresql://app@db/app")
    rollout = Rollout(refusing_client())
    assert rollout.mode("transcription") == "local"
    assert rollout.submit("transcription", PROJECT, {"audio_url": AUDIO}, job_id=JOB) == JOB
    (launch,) = started
    assert launch.command == (sys.executable, "-m", "jobimages.transcription")
    # the caller's environment as it is at the submission
    assert launch.env["OMVEE_MIRROR_DSN"] == "postgresql://app@db/app"
    assert launch.env["PATH"] == os.environ["PATH"]


def test_a_started_child_is_reaped_and_its_exit_code_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="api.client.rollout")
    code = "import os, sys; sys.exit(3 if os.environ['OMVEE_RUN_LOCAL'] == 'true' else 1)"
    launch = LocalLaunch(
        job_id=JOB,
        command=(sys.executable, "-c", code),
        env={**os.environ, ENV_RUN_LOCAL: "true"},
    )
    process = start_local(launch)
    # the reaper thread's wait() sets returncode: nobody else waits for the child here
    wait_for(lambda: process.returncode is not None, "the reaper to wait for the child", 30)
    assert process.returncode == 3
    with pytest.raises(ChildProcessError):  # no zombie left to collect
        os.waitpid(process.pid, os.WNOHANG)
    wait_for(
        lambda: any("exited with code 3" in r.getMessage() for r in caplog.records),
        "the exit code in the log",
        10,
    )
    (exited,) = [r for r in caplog.records if "exited with code" in r.getMessage()]
    assert exited.levelno == logging.WARNING and JOB in exited.getMessage()


def accepting(requests: list[httpx.Request]) -> httpx.MockTransport:
    """The API's 202 to a submission, recording it."""

    def answer(request: httpx.Request) -> httpx.Response:
        request.read()
        requests.append(request)
        body = json.loads(request.content)
        return httpx.Response(
            202,
            json={"id": body["job_id"], "status_url": f"/v1/jobs/{body['job_id']}"},
        )

    return httpx.MockTransport(answer)


def test_cluster_mode_is_the_clients_submission_with_its_options() -> None:
    requests: list[httpx.Request] = []
    with OmveeClient(BASE, "token", retry=FAST, transport=accepting(requests)) as client:
        rollout = Rollout(
            client, RolloutSettings.load(OMVEE_ROLLOUT='{"transcription": "cluster"}')
        )
        job_id = rollout.submit(
            "transcription",
            PROJECT,
            {"audio_url": AUDIO},
            job_id=JOB,
            retries=2,
            pod_annotations={"example.com/team": "media"},
        )
    assert job_id == JOB
    (request,) = requests
    assert (request.method, request.url.path) == ("POST", "/v1/jobs")
    assert request.headers["Idempotency-Key"]  # the client's idempotency holds
    assert json.loads(request.content) == {
        "type": "transcription",
        "project_id": PROJECT,
        "input": {"audio_url": AUDIO},
        "job_id": JOB,
        "retries": 2,
        "pod_annotations": {"example.com/team": "media"},
    }


def test_the_async_rollout_submits_through_the_async_client_or_starts_a_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requests: list[httpx.Request] = []
    started: list[LocalLaunch] = []
    monkeypatch.setattr(rollout_module, "start_local", started.append)
    settings = RolloutSettings.load(OMVEE_ROLLOUT='{"scene-generation": "local"}')

    async def both() -> tuple[str, str]:
        async with AsyncOmveeClient(
            BASE, "token", retry=FAST, transport=accepting(requests)
        ) as client:
            rollout = AsyncRollout(client, settings)
            on_cluster = await rollout.submit(
                "transcription", PROJECT, {"audio_url": AUDIO}, job_id=JOB
            )
            here = await rollout.submit("scene-generation", PROJECT, {"transcript_job_id": JOB})
            return on_cluster, here

    on_cluster, here = asyncio.run(both())
    assert on_cluster == JOB
    assert [json.loads(r.content)["type"] for r in requests] == ["transcription"]
    (launch,) = started
    assert launch.job_id == here != JOB
    assert launch.command[-1] == "jobimages.scene_generation"
