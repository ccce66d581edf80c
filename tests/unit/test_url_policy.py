"""The URL policy the API and the job runtime share (api.urlpolicy): what is refused and why."""

from __future__ import annotations

import pytest

from api.urlpolicy import UrlPolicy

NAMES = {
    "media.example.com": ["93.184.215.14"],
    "rebound.example.com": ["93.184.215.14", "127.0.0.1"],
    "cluster.example.com": ["10.244.3.7"],
    "v6.example.com": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
}


def resolver(host: str) -> list[str]:
    return NAMES.get(host, [])


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
        ("http://localtest.me/x", "host localtest.me does not resolve"),
        ("http://nothing.invalid/x", "host nothing.invalid does not resolve"),
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
        (
            "http://rebound.example.com/a.mp3",
            "host rebound.example.com has address 127.0.0.1, a loopback address",
        ),
        (
            "http://cluster.example.com/a.mp3",
            "host cluster.example.com has address 10.244.3.7, in the blocked network "
            "10.244.0.0/16 (the cluster's pods or services)",
        ),
    ],
)
def test_each_url_is_refused_for_its_reason(url: str, problem: str | None) -> None:
    assert UrlPolicy().problem(url, resolver) == problem


def test_allowed_hosts_restrict_names_and_open_other_ports() -> None:
    policy = UrlPolicy(allowed_hosts=("*.example.com",))
    assert policy.problem("https://media.example.com:8443/a.mp3", resolver) is None
    assert policy.problem("https://media.example.org/a.mp3", resolver) == (
        "host media.example.org is not in the allowed list"
    )
    # an allowed name still may not point inside the cluster
    assert "loopback" in (policy.problem("http://rebound.example.com/a.mp3", resolver) or "")


def test_allowed_networks_open_a_local_server_but_never_link_local() -> None:
    policy = UrlPolicy(allowed_networks=("127.0.0.0/8",))
    assert policy.problem("http://127.0.0.1:8080/a.wav", resolver) is None
    assert policy.problem("http://169.254.169.254/latest/meta-data/", resolver) == (
        "host 169.254.169.254 is a link-local address (cloud metadata services answer there)"
    )
    assert policy.problem("http://192.168.1.10:8080/a.wav", resolver) == (
        "host 192.168.1.10 is a private address"
    )
    # other ports only where every address is in an allowed network
    assert policy.problem("http://media.example.com:8080/a.wav", resolver) == (
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
