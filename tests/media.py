"""Real media for the job-image tests: speech from espeak-ng, served over HTTP (on 127.0.0.1, or
on the real node's address for pods)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SENTENCE = "The quick brown fox jumps over the lazy dog. Then it runs into the dark forest."
# Long enough for several progress reports, and no sentence twice: whisper decodes repeated
# text with a high compression ratio, which makes faster-whisper fall back to sampling at a
# raised temperature, and the transcript then differs from run to run.
PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. Then it runs into the dark forest. "
    "A small boat sails across the quiet lake at noon. "
    "My sister reads the morning paper before she goes to work. "
    "Heavy rain fell on the city for three long days. "
    "We planted apple trees along the garden wall last spring."
)


def speak(text: str, path: Path) -> Path:
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is needed (Debian: apt-get install espeak-ng; .ci/run does it)"
    subprocess.run([espeak, "-w", str(path), text], check=True, capture_output=True)
    return path


def silent_wav(path: Path, frames: int = 0) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * frames)
    return path


class MediaHandler(SimpleHTTPRequestHandler):
    """Serves a folder; ``/cut`` promises a megabyte and hangs up after a kilobyte; ``/slow``
    trickles a byte every 50 ms for 10 s; ``/flaky/<file>`` answers 503 to the first request
    for each file and serves it after; ``/trickle/<file>`` sends the file a kilobyte a second.
    ``requests`` counts the GETs per path."""

    requests: dict[str, int]
    closing: threading.Event  # set when the server shuts down: a trickle stops at once
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.requests[self.path] = self.requests.get(self.path, 0) + 1
            count = self.requests[self.path]
        if self.path.startswith("/flaky/"):
            if count == 1:
                self.send_error(503, "busy, try again")
                return
            self.path = self.path.removeprefix("/flaky")
        if self.path.startswith("/trickle/"):
            self._trickle(Path(self.directory) / self.path.removeprefix("/trickle/"))
            return
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "200")
            self.end_headers()
            for _ in range(200):
                try:
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                except OSError:
                    return
                if self.closing.wait(0.05):
                    return
            return
        if self.path == "/cut":
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(1 << 20))
            self.end_headers()
            self.wfile.write(b"\0" * 1024)
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        super().do_GET()

    def _trickle(self, path: Path) -> None:
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for start in range(0, len(data), 1024):
            try:
                self.wfile.write(data[start : start + 1024])
                self.wfile.flush()
            except OSError:
                return
            if self.closing.wait(1):  # a kilobyte a second, until the server closes
                return

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serve(folder: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``folder`` on ``host`` (a free port); yields the base URL."""
    with serving(folder, host) as (url, _):
        yield url


@contextmanager
def serving(folder: Path, host: str = "127.0.0.1") -> Iterator[tuple[str, dict[str, int]]]:
    """Like serve, also yielding the GET count per path (``MediaHandler.requests``)."""
    requests: dict[str, int] = {}
    closing = threading.Event()
    handler = type("Handler", (MediaHandler,), {"requests": requests, "closing": closing})
    server = ThreadingHTTPServer((host, 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}", requests
    finally:
        closing.set()
        server.shutdown()
        server.server_close()


def word_error_rate(reference: str, hypothesis: str) -> float:
    def norm(text: str) -> list[str]:
        return "".join(c.lower() if c.isalnum() or c.isspace() else " " for c in text).split()

    ref, hyp = norm(reference), norm(hypothesis)
    distance = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, start=1):
        previous, distance[0] = distance[0], i
        for j, other in enumerate(hyp, start=1):
            previous, distance[j] = (
                distance[j],
                min(distance[j] + 1, distance[j - 1] + 1, previous + (word != other)),
            )
    return distance[len(hyp)] / max(len(ref), 1)
