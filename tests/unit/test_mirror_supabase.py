"""Contract: the exact requests the supabase-py path sends, against a recording HTTP server on
127.0.0.1 (Supabase itself cannot run here). Wired by configuration alone."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from controller.mirror.sinks import SupabaseSink, build_sink
from controller.settings import OperatorSettings, SettingsError

SERVICE_KEY = "service-role-key-for-tests"


class Recorder(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
        )
        answer = b'"updated"'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def supabase_url() -> Iterator[str]:
    Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_configuration_alone_selects_supabase(
    monkeypatch: pytest.MonkeyPatch, supabase_url: str
) -> None:
    monkeypatch.setenv("SUPABASE_URL", supabase_url)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
    monkeypatch.delenv("OMVEE_MIRROR", raising=False)
    monkeypatch.delenv("OMVEE_MIRROR_DSN", raising=False)
    sink = build_sink(OperatorSettings.from_env())
    assert isinstance(sink, SupabaseSink)
    assert sink.describe() == f"Supabase {supabase_url}"


def test_rpc_request_is_pinned(supabase_url: str) -> None:
    row = {
        "id": "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e",
        "status": "running",
        "progress": 40,
        "revision": 1234,
        "result": None,
    }
    assert SupabaseSink(supabase_url, SERVICE_KEY).write(row) == "updated"
    [request] = Recorder.requests
    assert request["path"] == "/rest/v1/rpc/mirror_job_status"
    headers = {k.lower(): v for k, v in request["headers"].items()}
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
