"""Real media for the job-image tests: speech from espeak-ng, served over HTTP on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
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
    trickles a byte every 50 ms for 10 s."""

    def do_GET(self) -> None:
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
                time.sleep(0.05)
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

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(MediaHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


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
