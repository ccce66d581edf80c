"""Pure: which URLs a job pod may be sent to fetch, and which addresses it may connect to.

One policy for the REST API, which checks a URL once at submission (``api.rest.submit``), and
for the job runtime, which checks again on every connection, redirects included
(``jobimages.runtime.egress``). Pods fetch from inside the cluster, so a URL must not reach the
node, the cluster's pods and services, or a cloud metadata service.

The API resolves no name (``UrlPolicy.problem``): it checks what needs no DNS (syntax, scheme,
allowed hosts, internal names, and the address of an IP-literal host), so a slow or hostile
name server cannot hold a request. What a name resolves to is checked where it matters, by the
job runtime on every connection (``connection_problem``), which connects only to the address
it checked: a name resolving inward is refused there (exit 65), at any time, redirects too.

Resolving a name (``resolve``, the job runtime's) has three outcomes: its addresses; none,
because the name does not exist; or ``ResolutionUnavailable``, because the resolver failed for
now or did not answer in time (the job runtime retries).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# The job runtime reads the policy from these (JSON lists); the API has its own settings
# (OMVEE_API_URL_HOSTS, OMVEE_API_BLOCKED_NETWORKS, OMVEE_API_URL_ALLOWED_NETWORKS).
ENV_HOSTS = "OMVEE_URL_HOSTS"
ENV_BLOCKED_NETWORKS = "OMVEE_URL_BLOCKED_NETWORKS"
ENV_ALLOWED_NETWORKS = "OMVEE_URL_ALLOWED_NETWORKS"

# A common pod and service network; private anyway, named so that the message says "cluster".
DEFAULT_BLOCKED_NETWORKS = ("10.96.0.0/12", "10.244.0.0/16")
# Refused whatever is allowed: link-local (169.254.169.254 and fd00:ec2::254 are cloud metadata
# services), "this network", multicast and broadcast.
NEVER_ALLOWED = {
    "169.254.0.0/16": "a link-local address (cloud metadata services answer there)",
    "fe80::/10": "a link-local address",
    "fd00:ec2::254/128": "a cloud metadata address",
    "0.0.0.0/8": "not a unicast address",
    "::/128": "not a unicast address",
    "224.0.0.0/3": "not a unicast address",
    "ff00::/8": "not a unicast address",
    # Teredo tunnels to an obfuscated IPv4 address through a relay; never a media server's.
    "2001::/32": "a Teredo tunnel address",
}
# IPv6 prefixes whose last 32 bits are an IPv4 address that the connection reaches (besides
# IPv4-mapped ::ffff:0:0/96 and 6to4 2002::/16, which ipaddress unwraps itself): NAT64's
# well-known and local-use prefixes (RFC 6052, RFC 8215), IPv4-translated (RFC 2765) and the
# deprecated IPv4-compatible ::/96 (but for :: and ::1, which are themselves).
EMBEDDING_PREFIXES = ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96")
BLOCKED_SUFFIXES = (".local", ".localhost", ".internal", ".svc", ".cluster.local", ".lan")
STANDARD_PORTS = (80, 443)
RESOLVE_SECONDS = 5.0
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# getaddrinfo's answers for "no such name" and "the name has no address": permanent. Any
# other failure (EAI_AGAIN, EAI_FAIL, ...) says nothing of the name, only of the resolver.
NO_SUCH_NAME = frozenset(
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
)

# host -> its addresses; [] when the name does not exist; raises ResolutionUnavailable.
Resolver = Callable[[str], list[str]]


class ResolutionUnavailable(Exception):
    """``host`` could not be resolved just now (a temporary DNS failure, or no answer in
    time): worth trying again later; says nothing of whether the name exists."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"host {host} cannot be resolved just now: {reason}")
        self.host, self.reason = host, reason


def resolve(host: str, timeout: float = RESOLVE_SECONDS) -> list[str]:
    """The addresses ``host`` resolves to, in the system's order of preference; empty when the
    name does not exist or has no address (EAI_NONAME, EAI_NODATA). ``ResolutionUnavailable``
    when the resolver fails otherwise (EAI_AGAIN, EAI_FAIL...) or does not answer within
    ``timeout`` seconds (getaddrinfo has no timeout of its own, so it runs in a thread)."""
    found: list[str] = []
    failures: list[OSError] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except UnicodeError:  # not a name that can exist (IDNA refuses it)
            return
        except socket.gaierror as error:
            if error.errno not in NO_SUCH_NAME:
                failures.append(error)
            return
        except OSError as error:
            failures.append(error)
            return
        found.extend(dict.fromkeys(str(info[4][0]) for info in infos))

    thread = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ResolutionUnavailable(host, f"no answer within {timeout:g} s")
    if failures:
        raise ResolutionUnavailable(host, failures[0].strerror or str(failures[0]))
    return list(found)


def _networks(values: Sequence[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


_EMBEDDING = tuple(ipaddress.IPv6Network(prefix) for prefix in EMBEDDING_PREFIXES)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(value.split("%", 1)[0])  # a scoped IPv6 address: fe80::1%eth0
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        # an IPv4 address in IPv6 clothing reaches that IPv4 address
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            return embedded
        if int(ip) > 1 and any(ip in prefix for prefix in _EMBEDDING):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


@dataclass(frozen=True)
class UrlPolicy:
    """``allowed_hosts``: glob patterns (``*.supabase.co``); empty: any public host.
    ``blocked_networks``: ranges refused even if public (the cluster's pod and service
    networks). ``allowed_networks``: ranges allowed although not public, on any port: a
    development cluster's own media server, or tests; link-local stays refused."""

    allowed_hosts: tuple[str, ...] = ()
    blocked_networks: tuple[str, ...] = DEFAULT_BLOCKED_NETWORKS
    allowed_networks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _networks(self.blocked_networks)  # a bad range fails here, not at the first fetch
        _networks(self.allowed_networks)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> UrlPolicy:
        """From $OMVEE_URL_HOSTS, $OMVEE_URL_BLOCKED_NETWORKS and $OMVEE_URL_ALLOWED_NETWORKS
        (JSON lists of strings); ``ValueError`` naming the variable when one is malformed."""
        values: dict[str, tuple[str, ...]] = {}
        for field, name in (
            ("allowed_hosts", ENV_HOSTS),
            ("blocked_networks", ENV_BLOCKED_NETWORKS),
            ("allowed_networks", ENV_ALLOWED_NETWORKS),
        ):
            raw = env.get(name, "").strip()
            if not raw:
                continue
            try:
                parsed = json.loads(raw)
                if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
                    raise ValueError("not a list of strings")
                if field != "allowed_hosts":
                    _networks(parsed)
            except ValueError as error:
                raise ValueError(f"${name} must be a JSON list of strings: {error}") from None
            values[field] = tuple(parsed)
        return cls(**values)

    def url_problem(self, url: str) -> str | None:
        """Why ``url`` is refused before any name is resolved, or None."""
        if _CONTROL.search(url):
            return "must not contain control characters"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return "is not a valid URL"
        if parts.scheme not in ("http", "https"):
            return "must be an http or https URL"
        if " " in parts.netloc:
            return f"host {parts.netloc.rpartition('@')[2]!r} must not contain spaces"
        host = host_of(url)
        if not host:
            return "has no host"
        if parts.username is not None or parts.password is not None:
            return "must not carry credentials"
        if _ip(host) is None and not _valid_name(host):
            return f"host {host} is not a valid host name"
        if self.allowed_hosts and not any(fnmatch.fnmatch(host, p) for p in self.allowed_hosts):
            return f"host {host} is not in the allowed list"
        if not self._any_port() and port is not None and port not in STANDARD_PORTS:
            return "must use port 80 or 443"
        if host == "localhost" or host.endswith(BLOCKED_SUFFIXES):
            return f"host {host} is internal"
        if "." not in host and _ip(host) is None:
            return f"host {host} is internal"
        return None

    def address_problem(self, address: str) -> str | None:
        """Why connecting to ``address`` is refused ("a loopback address"...), or None."""
        ip = _ip(address)
        if ip is None:
            return "not an IP address"
        for never, kind in NEVER_ALLOWED.items():
            if ip in ipaddress.ip_network(never):
                return kind
        if any(ip in network for network in _networks(self.allowed_networks)):
            return None
        for network in _networks(self.blocked_networks):
            if ip in network:
                return f"in the blocked network {network} (the cluster's pods or services)"
        if ip.is_loopback:
            return "a loopback address"
        if ip.is_private:
            return "a private address"
        if not ip.is_global:
            return "not a public address"
        return None

    def connection_problem(
        self, host: str, port: int | None, addresses: Sequence[str]
    ) -> str | None:
        """Why connecting to ``host`` at any of ``addresses`` (what it resolved to) is refused,
        or None; every address is checked, since any of them may be the one connected to. The
        message names the refused address: only the job runtime resolves names, and its
        messages are read by the job's owner alone."""
        if not addresses:
            return f"host {host} does not resolve"
        for address in addresses:
            if kind := self.address_problem(address):
                if address == host:
                    return f"host {host} is {kind}"
                return f"host {host} has address {address}, {kind}"
        if (
            port is not None
            and port not in STANDARD_PORTS
            and not self.allowed_hosts
            and not all(self._in_allowed_network(address) for address in addresses)
        ):
            return "must use port 80 or 443"
        return None

    def problem(self, url: str) -> str | None:
        """Why ``url`` is refused at submission, or None; resolves no name (no I/O at all).

        The URL rules (``url_problem``) for every host; for an IP-literal host, also the
        address rules (``connection_problem`` with the address itself). A host name passes
        whatever it resolves to: the job runtime checks its addresses on every connection."""
        if problem := self.url_problem(url):
            return problem
        host = host_of(url)
        if _ip(host) is None:
            return None
        return self.connection_problem(host, port_of(url), [host])

    def _any_port(self) -> bool:
        return bool(self.allowed_hosts or self.allowed_networks)

    def _in_allowed_network(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in n for n in _networks(self.allowed_networks))


def host_of(url: str) -> str:
    """The URL's host, lower case, without a trailing dot, IDNA-encoded; "" when none."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return host


def port_of(url: str) -> int:
    """The URL's port: the one it names, else 443 for https and 80 otherwise; ``ValueError`` when
    the port is not a number from 0 to 65535."""
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _valid_name(host: str) -> bool:
    return len(host) <= 253 and all(_LABEL.match(label) for label in host.split("."))
