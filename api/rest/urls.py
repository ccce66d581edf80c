"""Pure: may a job pod be sent to fetch this URL? Pods fetch inputs from inside the cluster,
so a URL must not reach the node, the cluster or a cloud metadata service."""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

BLOCKED_SUFFIXES = (".local", ".localhost", ".internal", ".svc", ".cluster.local", ".lan")
Resolver = Callable[[str], list[str]]


def resolve(host: str) -> list[str]:
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except (socket.gaierror, UnicodeError):
        return []


def _blocked_address(address: str, extra: Sequence[str]) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        return True
    return any(ip in ipaddress.ip_network(network) for network in extra)


def url_problem(
    url: str,
    *,
    allowed_hosts: Sequence[str] = (),
    blocked_networks: Sequence[str] = (),
    resolver: Resolver = resolve,
) -> str | None:
    """Why ``url`` is refused, or None when a pod may fetch it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "has no host"
    if parts.username or parts.password:
        return "must not carry credentials"
    if port is not None and port not in (80, 443) and not allowed_hosts:
        return "must use port 80 or 443"
    if allowed_hosts and not any(fnmatch.fnmatch(host, pattern) for pattern in allowed_hosts):
        return f"host {host} is not in the allowed list"
    if (
        host == "localhost"
        or host.endswith(BLOCKED_SUFFIXES)
        or ("." not in host and not _is_ip(host))
    ):
        return f"host {host} is internal"
    addresses = [host] if _is_ip(host) else resolver(host)
    if any(_blocked_address(address, blocked_networks) for address in addresses):
        return f"host {host} points at a private, loopback, link-local or cluster address"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
