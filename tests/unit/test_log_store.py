"""The log stores: a directory, and the exact requests to Supabase Storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.logs.store import DirectoryLogs, LogStoreError, SupabaseLogs, logs_from_env
from tests.recorder import recording_server


def test_directory_store_round_trips_and_refuses_escaping_keys(tmp_path: Path) -> None:
    store = DirectoryLogs(tmp_path)
    assert store.get("logs/ns/j/run-0/attempt-1.log") is None
    store.put("logs/ns/j/run-0/attempt-1.log", b"line\n")
    assert store.get("logs/ns/j/run-0/attempt-1.log") == b"line\n"
    with pytest.raises(LogStoreError, match="leaves the log directory"):
        store.put("../../etc/x", b"")


def test_supabase_store_requests_are_pinned() -> None:
    def answer(path: str, body: object) -> tuple[int, object]:
        if path.endswith("missing.log"):
            return 400, {"statusCode": "404", "error": "not_found", "message": "Object not found"}
        return 200, {"Key": "job-logs/logs/a.log"}

    with recording_server(answer) as server:
        store = SupabaseLogs(server.url, "service-key", "job-logs")
        store.put("logs/ns/j/run-0/attempt-1.log", b"# omvee: run 0\nstep 1\n")
        saved = store.get("logs/ns/j/run-0/attempt-1.log")
        missing = store.get("logs/ns/j/run-0/missing.log")
    upload, download, _ = server.requests
    assert (upload["method"], upload["path"]) == (
        "POST",
        "/storage/v1/object/job-logs/logs/ns/j/run-0/attempt-1.log",
    )
    assert b"# omvee: run 0\nstep 1\n" in upload["raw"]
    headers = server.headers(0)
    assert (headers["authorization"], headers["x-upsert"]) == ("Bearer service-key", "true")
    assert (download["method"], download["path"]) == (
        "GET",
        "/storage/v1/object/job-logs/logs/ns/j/run-0/attempt-1.log",
    )
    assert server.headers(1)["apikey"] == "service-key"
    assert saved == b'{"Key": "job-logs/logs/a.log"}'  # the server's bytes, as they came
    assert missing is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, type(None)),
        ({"OMVEE_LOGS": "directory"}, DirectoryLogs),
        ({"OMVEE_LOGS": "off", "SUPABASE_URL": "http://x"}, type(None)),
    ],
)
def test_store_from_env(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: type
) -> None:
    for name in ("OMVEE_LOGS", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert isinstance(logs_from_env(), expected)


def test_bad_store_settings_say_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMVEE_LOGS", "supabase")
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    with pytest.raises(LogStoreError, match="needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"):
        logs_from_env()
    monkeypatch.setenv("OMVEE_LOGS", "s3")
    with pytest.raises(LogStoreError, match="directory, supabase or off, not 's3'"):
        logs_from_env()
