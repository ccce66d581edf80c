"""Contract: the exact requests the supabase-py path sends, against a recording HTTP server on
127.0.0.1 (Supabase itself cannot run here). Wired by configuration alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.statuswords import OURS
from controller.mirror.sinks import SupabaseSink, build_sink
from controller.mirror.tablecheck import TableMismatch, check_table, probe_sequences
from controller.settings import OperatorSettings, SettingsError
from tests.recorder import Recording, recording_server

SERVICE_KEY = "service-role-key-for-tests"


@pytest.fixture
def supabase() -> Iterator[Recording]:
    with recording_server(lambda path, body: (200, "updated")) as recording:
        yield recording


def test_configuration_alone_selects_supabase(
    monkeypatch: pytest.MonkeyPatch, supabase: Recording
) -> None:
    monkeypatch.setenv("SUPABASE_URL", supabase.url)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
    monkeypatch.delenv("OMVEE_MIRROR", raising=False)
    monkeypatch.delenv("OMVEE_MIRROR_DSN", raising=False)
    sink = build_sink(OperatorSettings.from_env())
    assert isinstance(sink, SupabaseSink)
    assert sink.describe() == f"Supabase {supabase.url}"


def test_rpc_request_is_pinned(supabase: Recording) -> None:
    row = {
        "id": "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e",
        "status": "running",
        "progress": 40,
        "revision": 1234,
        "result": None,
    }
    assert SupabaseSink(supabase.url, SERVICE_KEY).write(row) == "updated"
    [request] = supabase.requests
    assert request["path"] == "/rest/v1/rpc/mirror_job_status"
    headers = supabase.headers()
    assert headers["apikey"] == SERVICE_KEY
    assert headers["authorization"] == f"Bearer {SERVICE_KEY}"
    assert headers["content-type"] == "application/json"
    assert headers["content-profile"] == "public"
    assert request["body"] == {"job": row}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OMVEE_MIRROR": "supabase"}, "needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"),
        ({"OMVEE_MIRROR": "postgres"}, "needs OMVEE_MIRROR_DSN"),
        ({"OMVEE_MIRROR": "redis"}, "must be postgres, supabase or off"),
    ],
)
def test_incomplete_configuration_is_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name in ("OMVEE_MIRROR", "OMVEE_MIRROR_DSN", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        OperatorSettings.from_env()


def test_probe_request_is_pinned() -> None:
    """The table check at start: POST /rest/v1/rpc/mirror_job_status_probe {"sequences"}; the
    problems PostgreSQL returns come back as they are."""
    problem = {"name": "a transcription job queued", "error": "refused", "sqlstate": "23514"}
    with recording_server(lambda path, body: (200, [problem])) as supabase:
        sequences = probe_sequences(OURS, ["transcription"], seed=3)
        assert SupabaseSink(supabase.url, SERVICE_KEY).probe(sequences) == [problem]
        [request] = supabase.requests
        assert (request["method"], request["path"]) == (
            "POST",
            "/rest/v1/rpc/mirror_job_status_probe",
        )
        assert supabase.headers()["authorization"] == f"Bearer {SERVICE_KEY}"
        assert request["body"] == {"sequences": sequences}


def test_upstream_row_read_is_pinned() -> None:
    """A local run reads a row (its upstream's result, its own revision and run): GET
    /rest/v1/jobs with the id, five columns."""
    row = {"project_id": "p", "status": "succeeded", "result": {"words": 3}}
    with recording_server(lambda path, body: (200, [row])) as supabase:
        job_id = "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e"
        assert SupabaseSink(supabase.url, SERVICE_KEY).read_row(job_id) == row
        [request] = supabase.requests
        assert request["method"] == "GET"
        assert request["path"] == (
            f"/rest/v1/jobs?select=project_id%2Cstatus%2Cresult%2Crevision%2Crun&id=eq.{job_id}&limit=1"
        )
        assert supabase.headers()["apikey"] == SERVICE_KEY


@pytest.mark.parametrize(
    ("status", "answer", "deferred"),
    [
        (503, {"code": "PGRST001", "message": "Database client error"}, True),
        (500, {"code": "XX000", "message": "internal error"}, True),
        (404, {"code": "PGRST202", "message": "Could not find the function"}, False),
        (403, {"code": "42501", "message": "permission denied for function"}, False),
        (401, {"code": "PGRST301", "message": "JWSError JWSInvalidSignature"}, False),
        (400, {"code": "42P01", "message": 'relation "public.jobs" does not exist'}, False),
    ],
)
def test_the_start_check_waits_out_an_unavailable_supabase_and_refuses_the_rest(
    status: int, answer: dict[str, str], deferred: bool
) -> None:
    with recording_server(lambda path, body: (status, answer)) as supabase:
        sink = SupabaseSink(supabase.url, SERVICE_KEY)
        if deferred:  # re-raised: the operator starts and checks before its first write
            with pytest.raises(Exception) as raised:
                check_table(sink, OURS, ["transcription"])
            assert not isinstance(raised.value, TableMismatch)
        else:
            with pytest.raises(TableMismatch, match=answer["code"] + "|" + answer["message"]):
                check_table(sink, OURS, ["transcription"])
