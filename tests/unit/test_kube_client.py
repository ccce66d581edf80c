"""Every request of the operator's API client takes a token from one bucket first, whichever API
object sends it, and the bucket's bounds come from validated settings."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from kubernetes import client

from controller.flowcontrol import TokenBucket
from controller.k8s import Kube, RateLimitedApiClient
from controller.settings import OperatorSettings, SettingsError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class ApiServer(BaseHTTPRequestHandler):
    """Answers every request with an empty object or list, and records its method and path."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append((self.command, self.path.split("?")[0]))
        body = json.dumps({"metadata": {"name": "x", "namespace": "ns"}, "items": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PATCH = do_POST = do_DELETE = _answer

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    ApiServer.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ApiServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_every_call_through_kube_waits_for_the_one_bucket(server: str) -> None:
    clock = Clock()
    bucket = TokenBucket(qps=10, burst=2, clock=clock, sleep=clock.sleep)
    configuration = client.Configuration()
    configuration.host = server
    seen: list[tuple[str, float]] = []
    kube = Kube(
        RateLimitedApiClient(configuration, bucket, on_request=lambda m, w: seen.append((m, w)))
    )
    kube.get_job("ns", "a")  # batch/v1
    kube.read_pod_log("ns", "p", 1024)  # core/v1
    kube.get_omveejob("ns", "b")  # a custom resource
    kube.patch_status("ns", "b", "1", {"phase": "Running"})  # its status subresource
    kube.delete_job("ns", "a")
    assert [method for method, _ in seen] == ["GET", "GET", "GET", "PATCH", "DELETE"]
    assert [m for m, _ in ApiServer.seen] == ["GET", "GET", "GET", "PATCH", "DELETE"]
    # two from the full bucket, then one every 1/qps: the clock never moved between calls
    assert [w for _, w in seen] == pytest.approx([0, 0, 0.1, 0.1, 0.1])
    assert clock.slept == pytest.approx([0.1, 0.1, 0.1])


def test_client_rate_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OMVEE_KUBE_QPS", "OMVEE_KUBE_BURST"):
        monkeypatch.delenv(name, raising=False)
    defaults = OperatorSettings.from_env()
    assert (defaults.kube_qps, defaults.kube_burst) == (200.0, 400)
    monkeypatch.setenv("OMVEE_KUBE_QPS", "12.5")
    monkeypatch.setenv("OMVEE_KUBE_BURST", "25")
    settings = OperatorSettings.from_env()
    assert (settings.kube_qps, settings.kube_burst) == (12.5, 25)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OMVEE_KUBE_QPS", "0"),
        ("OMVEE_KUBE_QPS", "-5"),
        ("OMVEE_KUBE_QPS", "fast"),
        ("OMVEE_KUBE_QPS", "inf"),
        ("OMVEE_KUBE_QPS", "nan"),
        ("OMVEE_KUBE_BURST", "0"),
        ("OMVEE_KUBE_BURST", "2.5"),
        ("OMVEE_KUBE_BURST", "lots"),
    ],
)
def test_nonsense_client_rates_stop_the_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        OperatorSettings.from_env()
