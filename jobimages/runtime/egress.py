"""HTTP clients for addresses a job was given (input URLs, earlier jobs' result locations).

The URL policy (api.urlpolicy) is enforced on every connection, not only at submission:

- each request, every redirect included (at most ``MAX_REDIRECTS``), passes the URL rules;
- each TCP connection resolves the name once, checks every address it resolved to, and
  connects to the checked address itself, so a name that resolves elsewhere between the check
  and the connection (DNS rebinding) cannot win. TLS is unchanged: the certificate is checked
  against the name, and the Host header carries it.

A refusal raises ``Refused`` (a PermanentError: exit 65), naming the URL, host and address.
A name that cannot be resolved just now (a temporary DNS failure, or no answer within 5 s) is
a connection error like any network trouble, which the callers make a RetryableError (exit 75).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from api.urlpolicy import ResolutionUnavailable, Resolver, UrlPolicy, resolve
from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.settings import runtime_settings

MAX_REDIRECTS = 5


class Refused(PermanentError):
    """The URL policy refuses ``url``: ``reason`` says why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url} is refused: {reason}")
        self.url, self.reason = url, reason


class _AddressRefused(Exception):
    """Raised inside the connection pool; the transport turns it into ``Refused``."""


def policy_from_env(env: dict[str, str] | None = None) -> UrlPolicy:
    """The pod's policy ($OMVEE_URL_HOSTS, $OMVEE_URL_BLOCKED_NETWORKS,
    $OMVEE_URL_ALLOWED_NETWORKS); a malformed one is a PermanentError."""
    try:
        return UrlPolicy.from_env(env) if env is not None else runtime_settings().url_policy()
    except ValueError as error:
        raise PermanentError(f"the job's URL policy is misconfigured: {error}") from None


class _CheckedBackend(httpcore.NetworkBackend):
    """Connects only to addresses the policy allows, resolving each name exactly once."""

    def __init__(self, policy: UrlPolicy, resolver: Resolver, trusted: frozenset[str]) -> None:
        self.policy, self.resolver, self.trusted = policy, resolver, trusted
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self.resolver(host)
        except ResolutionUnavailable as error:  # worth another attempt: network trouble
            raise httpcore.ConnectError(str(error)) from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} does not resolve")
        if host not in self.trusted:
            # the job's owner reads this in its status: name the address, for debugging
            problem = self.policy.connection_problem(host, port, addresses)
            if problem:
                raise _AddressRefused(problem)
        failure: Exception | None = None
        for address in addresses:  # all checked; the next when one is unreachable (IPv6...)
            try:
                return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise _AddressRefused("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class CheckedTransport(httpx.HTTPTransport):
    """httpx's own transport with the URL rules on each request and ``_CheckedBackend`` under
    its connection pool. ``trusted`` hosts (the deployment's own result store) skip the
    policy; a redirect from one to another host is checked as usual."""

    def __init__(
        self, policy: UrlPolicy, resolver: Resolver = resolve, trusted: Iterable[str] = ()
    ) -> None:
        super().__init__(trust_env=False)
        self.policy, self.trusted = policy, frozenset(trusted)
        # httpx offers no network_backend argument; its pool is this one with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            network_backend=_CheckedBackend(policy, resolver, self.trusted),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """httpx's, after the URL rules (unless the host is trusted). ``Refused`` when the policy
        refuses the URL or an address it resolves to; httpx's errors otherwise."""
        url = str(request.url)
        if request.url.host not in self.trusted:
            problem = self.policy.url_problem(url)
            if problem:
                raise Refused(url, problem)
        try:
            return super().handle_request(request)
        except _AddressRefused as refused:
            raise Refused(url, str(refused)) from None


def checked_client(
    *,
    timeout: float,
    policy: UrlPolicy | None = None,
    resolver: Resolver = resolve,
    trusted: Iterable[str] = (),
) -> httpx.Client:
    """A client that follows at most ``MAX_REDIRECTS`` redirects, each checked; the policy is
    the pod's ($OMVEE_URL_*) unless given."""
    return httpx.Client(
        transport=CheckedTransport(policy or policy_from_env(), resolver, trusted),
        timeout=timeout,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        trust_env=False,
    )


def refusal(url: str, refused: Refused) -> PermanentError:
    """The error for fetching ``url`` when the policy refused ``refused.url`` on the way
    (``url`` itself, or where it redirected)."""
    try:
        first = refused.url in (url, str(httpx.URL(url)))
    except httpx.InvalidURL:
        first = True
    if first:
        return PermanentError(str(refused))
    return PermanentError(f"{url} redirects to {refused.url}, which is refused: {refused.reason}")
