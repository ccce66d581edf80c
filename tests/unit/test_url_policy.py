"""The URL policy the API and the job runtime share (api.urlpolicy): what is refused and why.
The API's check (``problem``) resolves no name; the runtime's (``connection_problem``) checks
every address a name resolved to."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from api.urlpolicy import ResolutionUnavailable, UrlPolicy, host_of, port_of, resolve

NAMES = {
    "media.example.com": ["93.184.215.14"],
    "rebound.example.com": ["93.184.215.14", "127.0.0.1"],
    "cluster.example.com": ["10.244.3.7"],
    "v6.example.com": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
}


def resolver(host: str) -> list[str]:
    return NAMES.get(host, [])


def at_connection(policy: UrlPolicy, url: str) -> str | None:
    """What the job runtime decides when it connects: the URL rules, then every address the
    host resolves to (``resolver``; an IPv4 address, to itself), as
    jobimages.runtime.egress does."""
    if problem := policy.url_problem(url):
        return problem
    host = host_of(url)
    addresses = [host] if host.replace(".", "").isdigit() else resolver(host)
    return policy.connection_problem(host, port_of(url), addresses)


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """getaddrinfo fails the test's check if called: the hosts it was asked for."""
    asked: list[Any] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        raise AssertionError(f"name resolution of {host!r}")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://media.example.com/a.mp3", None),
        ("http://v6.example.com/a.mp3", None),
        ("https://MEDIA.example.com./a.mp3", None),
        ("https://exa mple.org/x", "host 'exa mple.org' must not contain spaces"),
        ("https://exa\tmple.org/x", "must not contain control characters"),
        ("https://exa\x00mple.org/x", "must not contain control characters"),
        ("https://media.example.com/a\x1b.mp3", "must not contain control characters"),
        ("https://exa%20mple.org/x", "host exa%20mple.org is not a valid host name"),
        ("https://bad_host!.org/x", "host bad_host!.org is not a valid host name"),
        ("https:///x", "has no host"),
        ("http://./x", "has no host"),
        ("http://[::1/x", "is not a valid URL"),
        ("file:///etc/passwd", "must be an http or https URL"),
        ("http://user:pw@media.example.com/a.mp3", "must not carry credentials"),
        ("https://media.example.com:8443/a.mp3", "must use port 80 or 443"),
        ("http://localhost/a.mp3", "host localhost is internal"),
        ("http://minio.storage.svc/a.mp3", "host minio.storage.svc is internal"),
        ("http://fileserver/a.mp3", "host fileserver is internal"),
        # names pass whatever they resolve to, or if they resolve at all: no DNS here
        ("http://localtest.me/x", None),
        ("http://nothing.invalid/x", None),
        ("http://rebound.example.com/a.mp3", None),
        ("http://cluster.example.com/a.mp3", None),
        (
            "http://169.254.169.254/latest/meta-data/",
            "host 169.254.169.254 is a link-local address (cloud metadata services answer there)",
        ),
        ("http://[fd00:ec2::254]/latest", "host fd00:ec2::254 is a cloud metadata address"),
        ("http://127.0.0.1/a.mp3", "host 127.0.0.1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/a.mp3", "host ::ffff:127.0.0.1 is a loopback address"),
        ("http://192.168.1.10/a.mp3", "host 192.168.1.10 is a private address"),
        ("http://100.64.0.1/a.mp3", "host 100.64.0.1 is not a public address"),
        (
            "http://10.96.0.1/a.mp3",
            "host 10.96.0.1 is in the blocked network 10.96.0.0/12 (the cluster's pods or "
            "services)",
        ),
    ],
)
def test_each_url_is_refused_for_its_reason_without_resolving_names(
    no_dns: list[Any], url: str, problem: str | None
) -> None:
    assert UrlPolicy().problem(url) == problem
    assert no_dns == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "http://rebound.example.com/a.mp3",
            "host rebound.example.com has address 127.0.0.1, a loopback address",
        ),
        (
            "http://cluster.example.com/a.mp3",
            "host cluster.example.com has address 10.244.3.7, in the blocked network "
            "10.244.0.0/16 (the cluster's pods or services)",
        ),
        ("http://127.0.0.1/a.mp3", "host 127.0.0.1 is a loopback address"),
        ("https://media.example.com/a.mp3", None),
        ("http://nothing.invalid/x", "host nothing.invalid does not resolve"),
    ],
)
def test_the_job_runtime_is_told_the_refused_address(url: str, problem: str | None) -> None:
    """At connection the addresses a name resolved to are checked, and a refused one is named
    (the job runtime's messages are read by the job's owner only)."""
    assert at_connection(UrlPolicy(), url) == problem


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        # IPv4-mapped ::ffff:0:0/96
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:10.0.5.7", "a private address"),
        ("::ffff:169.254.169.254", "a link-local address (cloud metadata services answer there)"),
        ("::ffff:93.184.215.14", None),
        # NAT64, well-known prefix 64:ff9b::/96 (RFC 6052)
        ("64:ff9b::a00:5", "a private address"),
        ("64:ff9b::10.0.0.5", "a private address"),
        ("64:ff9b::127.0.0.1", "a loopback address"),
        ("64:ff9b::a9fe:a9fe", "a link-local address (cloud metadata services answer there)"),
        (
            "64:ff9b::10.96.0.1",
            "in the blocked network 10.96.0.0/12 (the cluster's pods or services)",
        ),
        ("64:ff9b::100.64.0.1", "not a public address"),
        ("64:ff9b::93.184.215.14", None),
        # NAT64, local-use prefix 64:ff9b:1::/48 (RFC 8215; Python 3.11 counts it global)
        ("64:ff9b:1::a00:5", "a private address"),
        ("64:ff9b:1::127.0.0.1", "a loopback address"),
        (
            "64:ff9b:1:ab::10.244.1.2",
            "in the blocked network 10.244.0.0/16 (the cluster's pods or services)",
        ),
        ("64:ff9b:1::93.184.215.14", None),
        # IPv4-compatible ::/96 (deprecated), but for :: and ::1
        ("::127.0.0.1", "a loopback address"),
        ("::10.0.5.7", "a private address"),
        ("::169.254.169.254", "a link-local address (cloud metadata services answer there)"),
        ("::93.184.215.14", None),
        ("::1", "a loopback address"),
        ("::", "not a unicast address"),
        # IPv4-translated ::ffff:0:0:0/96 (RFC 2765)
        ("::ffff:0:127.0.0.1", "a loopback address"),
        ("::ffff:0:a00:5", "a private address"),
        ("::ffff:0:169.254.169.254", "a link-local address (cloud metadata services answer there)"),
        ("::ffff:0:93.184.215.14", None),
        # 6to4 2002::/16
        ("2002:7f00:1::", "a loopback address"),
        ("2002:a00:5::1", "a private address"),
        ("2002:5db8:d70e::1", None),
        # Teredo 2001::/32: never, whatever address it carries (here 10.0.0.1, 8.8.8.8)
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "a Teredo tunnel address"),
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "a Teredo tunnel address"),
        # a plain global IPv6 address
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", None),
    ],
)
def test_an_ipv4_address_inside_an_ipv6_one_is_checked_as_itself(
    address: str, kind: str | None
) -> None:
    assert UrlPolicy().address_problem(address) == kind
    url = f"http://[{address}]/a.mp3"
    assert UrlPolicy().problem(url) == (kind and f"host {address} is {kind}")
    # the same address from DNS: refused alike when the job runtime connects
    refused = UrlPolicy().connection_problem("v6.example.com", 80, [address])
    assert refused == (kind and f"host v6.example.com has address {address}, {kind}")


def test_allowed_networks_see_the_embedded_ipv4_address() -> None:
    policy = UrlPolicy(allowed_networks=("127.0.0.0/8",))
    assert policy.address_problem("64:ff9b::127.0.0.1") is None
    assert policy.address_problem("64:ff9b::a9fe:a9fe") == (
        "a link-local address (cloud metadata services answer there)"
    )


def test_allowed_hosts_restrict_names_and_open_other_ports() -> None:
    policy = UrlPolicy(allowed_hosts=("*.example.com",))
    assert policy.problem("https://media.example.com:8443/a.mp3") is None
    assert policy.problem("https://media.example.org/a.mp3") == (
        "host media.example.org is not in the allowed list"
    )
    # an allowed name still may not point inside the cluster: refused when the pod connects
    assert at_connection(policy, "http://rebound.example.com/a.mp3") == (
        "host rebound.example.com has address 127.0.0.1, a loopback address"
    )


def test_allowed_networks_open_a_local_server_but_never_link_local() -> None:
    policy = UrlPolicy(allowed_networks=("127.0.0.0/8",))
    assert policy.problem("http://127.0.0.1:8080/a.wav") is None
    assert policy.problem("http://169.254.169.254/latest/meta-data/") == (
        "host 169.254.169.254 is a link-local address (cloud metadata services answer there)"
    )
    assert policy.problem("http://192.168.1.10:8080/a.wav") == (
        "host 192.168.1.10 is a private address"
    )
    # other ports only where every address is in an allowed network: for a name, that is
    # known when the pod connects
    assert policy.problem("http://media.example.com:8080/a.wav") is None
    assert at_connection(policy, "http://media.example.com:8080/a.wav") == (
        "must use port 80 or 443"
    )


def test_the_policy_comes_from_the_pods_environment() -> None:
    policy = UrlPolicy.from_env(
        {
            "OMVEE_URL_HOSTS": '["*.supabase.co"]',
            "OMVEE_URL_BLOCKED_NETWORKS": '["100.96.0.0/11"]',
            "OMVEE_URL_ALLOWED_NETWORKS": "",
        }
    )
    assert policy == UrlPolicy(
        allowed_hosts=("*.supabase.co",), blocked_networks=("100.96.0.0/11",)
    )
    assert UrlPolicy.from_env({}) == UrlPolicy()
    with pytest.raises(ValueError, match=r"\$OMVEE_URL_BLOCKED_NETWORKS must be a JSON list"):
        UrlPolicy.from_env({"OMVEE_URL_BLOCKED_NETWORKS": '["everything"]'})
    with pytest.raises(ValueError, match=r"\$OMVEE_URL_HOSTS must be a JSON list"):
        UrlPolicy.from_env({"OMVEE_URL_HOSTS": "*.supabase.co"})


def failing_getaddrinfo(error: BaseException) -> Any:
    def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        raise error

    return getaddrinfo


NO_SUCH_NAME = [("EAI_NONAME", "Name or service not known")]
if hasattr(socket, "EAI_NODATA"):
    NO_SUCH_NAME.append(("EAI_NODATA", "No address associated with hostname"))


@pytest.mark.parametrize(("code", "text"), NO_SUCH_NAME)
def test_a_name_that_does_not_exist_resolves_to_nothing(
    monkeypatch: pytest.MonkeyPatch, code: str, text: str
) -> None:
    monkeypatch.setattr(
        socket, "getaddrinfo", failing_getaddrinfo(socket.gaierror(getattr(socket, code), text))
    )
    assert resolve("media.example.com") == []


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
            "Temporary failure in name resolution",
        ),
        (
            socket.gaierror(socket.EAI_FAIL, "Non-recoverable failure in name resolution"),
            "Non-recoverable failure in name resolution",
        ),
        (OSError(101, "Network is unreachable"), "Network is unreachable"),
    ],
)
def test_a_failing_resolver_is_unavailable_not_a_missing_name(
    monkeypatch: pytest.MonkeyPatch, error: BaseException, reason: str
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", failing_getaddrinfo(error))
    with pytest.raises(ResolutionUnavailable) as raised:
        resolve("media.example.com")
    assert (raised.value.host, raised.value.reason) == ("media.example.com", reason)
    assert str(raised.value) == f"host media.example.com cannot be resolved just now: {reason}"


def test_a_resolver_that_does_not_answer_in_time_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()

    def hanging(*args: Any, **kwargs: Any) -> Any:
        release.wait(10)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    try:
        with pytest.raises(ResolutionUnavailable, match=r"no answer within 0\.05 s"):
            resolve("media.example.com", timeout=0.05)
    finally:
        release.set()


def test_resolve_answers_each_address_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def answers(*args: Any, **kwargs: Any) -> Any:
        stream = (socket.AF_INET, socket.SOCK_STREAM, 6, "")
        return [(*stream, ("93.184.215.14", 0)), (*stream, ("93.184.215.14", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", answers)
    assert resolve("media.example.com") == ["93.184.215.14"]
    monkeypatch.setattr(socket, "getaddrinfo", failing_getaddrinfo(UnicodeError("label too long")))
    assert resolve("x" * 70 + ".example.com") == []
