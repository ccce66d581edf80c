"""Names the tests put in job inputs resolve on a machine without DNS: names under example.com,
example.org and example.net (reserved for examples, RFC 2606) answer one fixed public address,
as a real media host would; names under .invalid (RFC 6761) do not exist (EAI_NONAME, whatever
the machine's DNS, which may be unreachable: a temporary failure is a 503, not a 422);
localtest.me answers 127.0.0.1, as public DNS does; every other name resolves as usual.

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
LOOPBACK_NAMES = ("localtest.me",)
_real_getaddrinfo = socket.getaddrinfo


def _under(host: object, domains: tuple[str, ...]) -> bool:
    name = host.decode(errors="replace") if isinstance(host, bytes) else host
    if not isinstance(name, str):
        return False
    name = name.rstrip(".").lower()
    return any(name == domain or name.endswith(f".{domain}") for domain in domains)


def is_example(host: object) -> bool:
    return _under(host, EXAMPLE_DOMAINS)


def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if is_example(host):
        return _real_getaddrinfo(PUBLIC_ADDRESS, port, *args, **kwargs)
    if _under(host, ("invalid",)):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    if _under(host, LOOPBACK_NAMES):
        return _real_getaddrinfo("127.0.0.1", port, *args, **kwargs)
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
