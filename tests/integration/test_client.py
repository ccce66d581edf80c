"""The Python client (api.client) against the real API process and the operator on kwok: a job
submitted and waited for, a failed job's reason and message, and the retries that must never
make a second job (a network cut during submission, a 503 on the way back).

Between the client and the API sits a small HTTP-aware TCP proxy on 127.0.0.1 (this file's
``CuttingProxy``): it forwards the first POST to the API, waits for the API's answer (the job
exists by then), and instead of relaying it either closes the client's connection or answers
503 itself; every later request is relayed as it is."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Literal

import pytest

from api.client import JobFailed, OmveeClient, RetryPolicy
from tests import factories
from tests.api_process import SERVICE_TOKEN, ApiProcess

pytestmark = pytest.mark.cluster
AUDIO = "https://media.example.com/projects/client.mp3"
RETRY = RetryPolicy(attempts=5, backoff=0.2, max_backoff=1.0, jitter=0.0)
SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 56\r\n\r\n"
    b'{"code": "kubernetes_unavailable", "message": "proxied"}'
)


def _read_message(sock: socket.socket, buffer: bytearray) -> tuple[bytes, bytes] | None:
    """One HTTP/1.1 message (head, body) from ``sock`` (bodies by Content-Length only, as the
    API's JSON answers and the client's requests have), or None when the peer closed."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    buffer[:] = rest[length:]
    return head + b"\r\n\r\n", rest[:length]


class CuttingProxy:
    """127.0.0.1:<port> in front of the API at ``upstream``. The first POST is forwarded and
    the API's answer read, then ``mode`` ``cut`` closes the client's connection without a
    byte, ``503`` answers 503 (with Retry-After: 1) instead. ``heads`` records each request
    line and headers seen."""

    def __init__(self, upstream: tuple[str, int], mode: Literal["cut", "503"]) -> None:
        self.upstream, self.mode = upstream, mode
        self.heads: list[bytes] = []
        self.tripped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = bytearray()
        with conn:
            while (request := _read_message(conn, buffer)) is not None:
                head, body = request
                self.heads.append(head)
                with socket.create_connection(self.upstream, timeout=30) as api:
                    api.sendall(head + body)
                    answer = _read_message(api, bytearray())
                if answer is None:
                    return
                if head.startswith(b"POST ") and not self.tripped.is_set():
                    self.tripped.set()  # the API created the job; the client never hears it
                    if self.mode == "503":
                        conn.sendall(SERVICE_UNAVAILABLE)
                    return
                conn.sendall(answer[0] + answer[1])

    def posts(self) -> list[dict[str, str]]:
        """The headers (lower-case names) of each POST seen, in order."""
        found = []
        for head in self.heads:
            if head.startswith(b"POST "):
                lines = head.decode().split("\r\n")[1:]
                found.append(
                    {
                        name.strip().lower(): value.strip()
                        for name, _, value in (line.partition(":") for line in lines if line)
                    }
                )
        return found

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def omvee(api_server: ApiProcess) -> Iterator[OmveeClient]:
    with OmveeClient(api_server.url, SERVICE_TOKEN, retry=RETRY) as client:
        yield client


def proxied(api_server: ApiProcess, mode: Literal["cut", "503"]) -> CuttingProxy:
    host, _, port = api_server.url.removeprefix("http://").partition(":")
    return CuttingProxy((host, int(port)), mode)


def project() -> str:
    return str(uuid.uuid4())


def test_a_job_submitted_through_the_client_is_waited_for_to_success(omvee: OmveeClient) -> None:
    pid = project()
    accepted = omvee.transcribe(
        pid, audio_url=AUDIO, language="en", pod_annotations=factories.pod_annotations()
    )
    assert not accepted.replayed
    done = omvee.wait(accepted.id, timeout=120)
    assert (done.id, done.phase, done.progress, done.type) == (
        accepted.id,
        "Succeeded",
        100,
        "transcription",
    )
    scenes = omvee.generate_scenes(
        pid, transcript_job_id=accepted.id, pod_annotations=factories.pod_annotations()
    )
    assert omvee.wait(scenes.id, timeout=120).phase == "Succeeded"
    assert {j.id for j in omvee.list(project_id=pid, phase="Succeeded")} == {
        accepted.id,
        scenes.id,
    }


def test_waiting_on_a_failing_job_raises_job_failed_with_its_reason_and_message(
    omvee: OmveeClient,
) -> None:
    accepted = omvee.submit(
        "transcription",
        project(),
        {"audio_url": AUDIO},
        retries=0,
        pod_annotations=factories.pod_annotations(exit_code=1, run_duration="1s"),
    )
    with pytest.raises(JobFailed) as raised:
        omvee.wait(accepted.id, timeout=120)
    failed = omvee.get(accepted.id)
    assert failed.phase == "Failed"
    assert (raised.value.reason, raised.value.message) == (failed.reason, failed.message)
    assert raised.value.reason == "BackoffLimitExceeded"
    assert "exit code 1" in (raised.value.message or "")
    assert raised.value.job.id == accepted.id


@pytest.mark.parametrize("mode", ["cut", "503"])
def test_a_lost_answer_then_a_retry_makes_exactly_one_job(
    api_server: ApiProcess, omvee: OmveeClient, mode: Literal["cut", "503"]
) -> None:
    proxy = proxied(api_server, mode)
    pid = project()
    started = time.monotonic()
    try:
        with OmveeClient(proxy.url, SERVICE_TOKEN, retry=RETRY) as through_proxy:
            accepted = through_proxy.transcribe(
                pid, audio_url=AUDIO, pod_annotations=factories.pod_annotations()
            )
    finally:
        proxy.close()
    assert proxy.tripped.is_set()
    posts = proxy.posts()
    assert len(posts) == 2  # the one whose answer was lost, and the retry
    assert posts[0]["idempotency-key"] == posts[1]["idempotency-key"]
    assert accepted.replayed  # the first try had created it
    if mode == "503":
        assert time.monotonic() - started >= 1.0  # the proxy's Retry-After: 1
    jobs = list(omvee.list(project_id=pid))
    assert [j.id for j in jobs] == [accepted.id]
    assert omvee.wait(accepted.id, timeout=120).phase == "Succeeded"
