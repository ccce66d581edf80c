"""A cap on open streams (SSE, followed logs). Each holds one of the server's worker threads for
its whole life, as the Kubernetes client blocks; without a cap, enough open dashboards would
leave none for other requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from api.rest.errors import TooManyStreams


class StreamSlots:
    """At most ``limit`` streams open at once in this process; ``hold`` raises ``TooManyStreams``
    (429) beyond."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._free = threading.BoundedSemaphore(limit)

    def hold(self, stream: Iterator[bytes]) -> Iterator[bytes]:
        """``stream``, holding a slot until it ends or is closed; 429 when none is free."""
        if not self._free.acquire(blocking=False):
            raise TooManyStreams(
                f"{self.limit} streams are open on this server; close one or try again later"
            )
        held = self._held(stream)
        next(held)  # started: from now on, closing it (or losing it) releases the slot
        return held

    def _held(self, stream: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield b""
            yield from stream
        finally:
            self._free.release()
