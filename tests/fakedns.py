"""Names the tests put in job inputs resolve on a machine without DNS: names under example.com,
example.org and example.net (reserved for examples, RFC 2606) answer one fixed public address,
as a real media host would; every other name resolves as usual.

The API refuses a URL whose host does not resolve, and this machine resolves nothing, so the
test API process runs with this installed (``python -m tests.api_offline``), and in-process API
tests use ``installed()``. Job pods are never sent to these addresses: kwok plays their pods.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PUBLIC_ADDRESS = "93.184.215.14"
EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net")
_real_getaddrinfo = socket.getaddrinfo


def is_example(host: object) -> bool:
    name = host.decode(errors="replace") if isinstance(host, bytes) else host
    if not isinstance(name, str):
        return False
    name = name.rstrip(".").lower()
    return any(name == domain or name.endswith(f".{domain}") for domain in EXAMPLE_DOMAINS)


def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if is_example(host):
        return _real_getaddrinfo(PUBLIC_ADDRESS, port, *args, **kwargs)
    return _real_getaddrinfo(host, port, *args, **kwargs)


def install() -> None:
    socket.getaddrinfo = getaddrinfo


@contextmanager
def installed() -> Iterator[None]:
    before = socket.getaddrinfo
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = before
