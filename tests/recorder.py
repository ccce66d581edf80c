"""A recording HTTP server on 127.0.0.1, for contract tests of the exact requests a client
sends to a service that cannot run here (Supabase, a hosted model)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str, Any], tuple[int, Any]]  # (path, body) -> (status, JSON body)


@dataclass
class Recording:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)

    def headers(self, index: int = 0) -> dict[str, str]:
        return {k.lower(): v for k, v in self.requests[index]["headers"].items()}


@contextmanager
def recording_server(answer: Answer) -> Iterator[Recording]:
    recording = Recording("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.do_POST()

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:  # multipart or binary: keep only the bytes
                body = None
            recording.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                    "raw": raw,
                }
            )
            status, reply = answer(self.path, body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recording.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield recording
    finally:
        server.shutdown()
