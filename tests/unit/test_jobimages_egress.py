"""The job runtime keeps the URL policy when it fetches: each redirect is checked, the address
connected to is the one checked, and a refusal ends the job with exit 65 naming host and
address. Real HTTP(S) servers on 127.0.0.1; the test-only allowance opens 127.0.0.1 itself,
never where it redirects."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from api.urlpolicy import ResolutionUnavailable, UrlPolicy
from jobimages.runtime.exitcodes import PERMANENT, RETRYABLE, PermanentError, RetryableError
from jobimages.runtime.fetch import download
from jobimages.runtime.job import Job
from jobimages.runtime.previous import read_location
from jobimages.runtime.results import LocalResults
from jobimages.runtime.run import execute
from jobimages.transcription.whisper import transcribe

LOCAL_ONLY = UrlPolicy(allowed_networks=("127.0.0.1/32",))
Route = Callable[[str], tuple[int, dict[str, str], bytes]]  # path -> status, headers, body


class Notes:
    """A reporter that keeps what the job said."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def progress(self, percent: float, message: str) -> None:
        pass

    def result(self, result: dict[str, Any]) -> None:
        pass

    def note(self, message: str) -> None:
        self.notes.append(message)


@contextmanager
def server(route: Route, tls: ssl.SSLContext | None = None) -> Iterator[tuple[int, list[Any]]]:
    """(port, requests seen as (path, Host header)) of a server answering with ``route``."""
    seen: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Host")))
            status, headers, body = route(self.path)
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd.server_address[1], seen
    finally:
        httpd.shutdown()


def redirect_to(location: str) -> Route:
    return lambda path: (302, {"Location": location}, b"")


def test_a_redirect_to_cloud_metadata_ends_the_job_with_exit_65(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMVEE_URL_ALLOWED_NETWORKS", '["127.0.0.1/32"]')  # the first host only
    with server(redirect_to("http://169.254.169.254/latest/meta-data/")) as (port, seen):
        url = f"http://127.0.0.1:{port}/episode.wav"
        job = Job("transcription", "proj", str(uuid.uuid4()), {"audioUrl": url})
        notes = Notes()
        code = execute(transcribe, job, notes, LocalResults(tmp_path))
    assert code == PERMANENT == 65
    assert notes.notes == [
        f"permanent failure: {url} redirects to http://169.254.169.254/latest/meta-data/, "
        "which is refused: host 169.254.169.254 is a link-local address (cloud metadata "
        "services answer there)"
    ]
    assert seen == [("/episode.wav", f"127.0.0.1:{port}")]


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://localhost:{port}/b.wav", "host localhost is internal"),
        ("http://127.0.0.2:{port}/b.wav", "host 127.0.0.2 is a loopback address"),
        ("http://10.96.0.1/b.wav", "host 10.96.0.1 is in the blocked network 10.96.0.0/12"),
        ("file:///etc/passwd", "must be an http or https URL"),
    ],
)
def test_every_redirect_is_checked_again(tmp_path: Path, location: str, reason: str) -> None:
    with server(lambda path: (0, {}, b"")) as (port, _):
        pass  # a port that was free: nothing listens there now
    target = location.format(port=port)
    with server(redirect_to(target)) as (first, _), pytest.raises(PermanentError) as raised:
        download(f"http://127.0.0.1:{first}/a.wav", tmp_path / "a", max_bytes=10, policy=LOCAL_ONLY)
    assert reason in str(raised.value)
    assert "redirects to" in str(raised.value)


def test_redirects_are_bounded(tmp_path: Path) -> None:
    hops = iter(range(100))
    with (
        server(lambda path: (302, {"Location": f"/hop-{next(hops)}"}, b"")) as (port, seen),
        pytest.raises(PermanentError, match="redirects more than 5 times"),
    ):
        download(f"http://127.0.0.1:{port}/", tmp_path / "a", max_bytes=10, policy=LOCAL_ONLY)
    assert len(seen) == 6


def test_a_name_resolving_to_loopback_at_fetch_time_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API accepted the name without resolving it; when the pod fetches, it resolves to
    loopback (as after DNS rebinding), and the pod refuses to connect."""
    answers = iter([["127.0.0.1"]])
    real = socket.getaddrinfo

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "media.example.com":
            return real(next(answers)[0], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = "http://media.example.com/episode.wav"
    assert UrlPolicy().problem(url) is None  # what the API saw at submission
    job = Job("transcription", "proj", str(uuid.uuid4()), {"audioUrl": url})
    notes = Notes()
    assert execute(transcribe, job, notes, LocalResults(tmp_path)) == 65
    assert notes.notes == [
        f"permanent failure: {url} is refused: host media.example.com has address 127.0.0.1, "
        "a loopback address"
    ]


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (socket.EAI_AGAIN, "Temporary failure in name resolution"),
        (socket.EAI_FAIL, "Non-recoverable failure in name resolution"),
    ],
)
def test_a_temporary_dns_failure_at_fetch_time_is_retried_not_permanent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, text: str
) -> None:
    """The resolver failing for now says nothing of the URL: the attempt fails with exit 75
    (another attempt follows), never 65."""
    real = socket.getaddrinfo

    def failing(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "media.example.com":
            raise socket.gaierror(code, text)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    url = "http://media.example.com/episode.wav"
    job = Job("transcription", "proj", str(uuid.uuid4()), {"audioUrl": url})
    notes = Notes()
    assert execute(transcribe, job, notes, LocalResults(tmp_path)) == RETRYABLE == 75
    assert notes.notes == [
        f"failed: downloading {url} failed: ConnectError: host media.example.com cannot be "
        f"resolved just now: {text}"
    ]


@pytest.mark.parametrize("reason", ["Temporary failure in name resolution", "no answer within 5 s"])
def test_an_unavailable_resolver_is_a_retryable_error_for_inputs_and_results(
    tmp_path: Path, reason: str
) -> None:
    def unavailable(host: str) -> list[str]:
        raise ResolutionUnavailable(host, reason)

    with pytest.raises(RetryableError, match=f"cannot be resolved just now: {reason}"):
        download(
            "https://media.example.com/a.wav",
            tmp_path / "a",
            max_bytes=10,
            policy=UrlPolicy(),
            resolver=unavailable,
        )
    with pytest.raises(RetryableError, match=f"cannot be resolved just now: {reason}"):
        read_location(
            "https://results.example.com/r/p/j/run-0/transcript.json",
            policy=UrlPolicy(),
            resolver=unavailable,
        )


def test_the_connection_goes_to_the_address_checked_with_the_name_kept(tmp_path: Path) -> None:
    """One resolution per connection: the address checked is the address connected to (a
    second answer, were it asked for, would be the metadata service)."""
    calls: list[str] = []

    def resolver(host: str) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["169.254.169.254"]

    with server(lambda path: (200, {}, b"RIFF")) as (port, seen):
        download(
            f"http://media.example.com:{port}/a.wav",
            tmp_path / "a.wav",
            max_bytes=10,
            policy=LOCAL_ONLY,
            resolver=resolver,
        )
    assert (tmp_path / "a.wav").read_bytes() == b"RIFF"
    assert calls == ["media.example.com"]
    assert seen == [("/a.wav", f"media.example.com:{port}")]


def test_every_address_is_checked_and_the_next_tried_when_one_is_unreachable(
    tmp_path: Path,
) -> None:
    both = UrlPolicy(allowed_networks=("127.0.0.1/32", "::1/128"))
    with server(lambda path: (200, {}, b"RIFF")) as (port, seen):
        url = f"http://media.example.com:{port}/a.wav"
        with pytest.raises(PermanentError, match=r"has address 169\.254\.169\.254"):
            download(
                url,
                tmp_path / "a",
                max_bytes=10,
                policy=both,
                resolver=lambda host: ["127.0.0.1", "169.254.169.254"],
            )
        assert seen == []  # refused before any connection
        # nothing listens on ::1 at that port: the next (checked) address is used
        download(
            url,
            tmp_path / "b",
            max_bytes=10,
            policy=both,
            resolver=lambda host: ["::1", "127.0.0.1"],
        )
    assert (tmp_path / "b").read_bytes() == b"RIFF"


def self_signed(name: str, folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for ``name``, and the certificate as a CA file."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


def test_https_checks_the_certificate_against_the_name_not_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls, ca = self_signed("media.example.com", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    with server(lambda path: (200, {}, b"RIFF"), tls) as (port, seen):
        download(
            f"https://media.example.com:{port}/a.wav",
            tmp_path / "a.wav",
            max_bytes=10,
            policy=LOCAL_ONLY,
            resolver=lambda host: ["127.0.0.1"],
        )
        assert seen == [("/a.wav", f"media.example.com:{port}")]
        # the same server under another name: its certificate does not match
        with pytest.raises(RetryableError, match="ConnectError"):
            download(
                f"https://other.example.com:{port}/a.wav",
                tmp_path / "b.wav",
                max_bytes=10,
                policy=LOCAL_ONLY,
                resolver=lambda host: ["127.0.0.1"],
            )


def test_a_result_location_redirecting_inside_the_cluster_is_refused() -> None:
    with server(redirect_to("http://10.244.0.12:9000/secret")) as (port, _):
        location = f"http://127.0.0.1:{port}/results/p/j/run-0/transcript.json"
        with pytest.raises(PermanentError) as raised:
            read_location(location, policy=LOCAL_ONLY)
    assert str(raised.value) == (
        f"{location} redirects to http://10.244.0.12:9000/secret, which is refused: host "
        "10.244.0.12 is in the blocked network 10.244.0.0/16 (the cluster's pods or services)"
    )


def test_the_result_store_is_trusted_but_not_where_it_redirects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with server(
        lambda path: (200, {}, b"{}") if path == "/ok" else (302, {"Location": "/ok"}, b"")
    ) as (port, _):
        monkeypatch.setenv("OMVEE_RESULTS", "supabase")
        monkeypatch.setenv("SUPABASE_URL", f"http://127.0.0.1:{port}")
        assert read_location(f"http://127.0.0.1:{port}/storage/v1/object/r/a.json") == b"{}"
    with server(redirect_to("http://169.254.169.254/")) as (port, _):
        monkeypatch.setenv("SUPABASE_URL", f"http://127.0.0.1:{port}")
        with pytest.raises(PermanentError, match=r"host 169\.254\.169\.254 is a link-local"):
            read_location(f"http://127.0.0.1:{port}/storage/v1/object/r/a.json")
