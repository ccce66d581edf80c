"""The cap on open streams: a slot per stream, given back however the stream ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.rest.errors import TooManyStreams
from api.rest.streams import StreamSlots


def chunks() -> Iterator[bytes]:
    yield b"a"
    yield b"b"


def test_a_full_server_refuses_with_429_until_a_stream_ends() -> None:
    slots = StreamSlots(2)
    first, second = slots.hold(chunks()), slots.hold(chunks())
    with pytest.raises(TooManyStreams, match="2 streams are open") as refused:
        slots.hold(chunks())
    assert refused.value.status == 429
    assert b"".join(first) == b"ab"  # read to its end: its slot is free again
    third = slots.hold(chunks())
    second.close()  # the client went away mid-stream
    fourth = slots.hold(chunks())
    with pytest.raises(TooManyStreams):
        slots.hold(chunks())
    assert list(third) == [b"a", b"b"]
    del fourth  # dropped unread, as when a response is never sent: collected, released
    slots.hold(chunks())
