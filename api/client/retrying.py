"""When and how long the client waits before trying a request again (tenacity).

A request is tried again when no answer came (connection refused or cut, a timeout, the server
closing without answering) or the answer was 503 or 429, at most ``RetryPolicy.attempts`` times
in all. The wait doubles from ``backoff`` up to ``max_backoff`` seconds with some jitter; an
answer's ``Retry-After`` (seconds or an HTTP date) is honoured instead, up to
``max_retry_after``. Nothing here decides whether a retry is safe: a submission is, because it
carries the same ``Idempotency-Key`` on every try (see api.client.calls).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

#: Answers tried again: the API's Kubernetes API is unreachable, or its stream slots are full.
RETRY_STATUSES = frozenset({429, 503})
#: Failures with no answer that are tried again. A request may have reached the API before the
#: connection broke (RemoteProtocolError, ReadError, ReadTimeout): safe for every call the
#: client makes (reads, keyed submissions, cancel and retry, which cannot act twice).
RETRY_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How a call is retried: ``attempts`` tries in all (the first included, at least 1);
    waits of ``backoff`` seconds doubling to ``max_backoff`` (with up to ``jitter`` seconds
    added), or an answer's ``Retry-After`` up to ``max_retry_after`` seconds."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 10.0
    jitter: float = 0.25
    max_retry_after: float = 60.0


#: One try only: what ``RetryPolicy(attempts=1)`` gives, for callers that retry themselves.
NO_RETRY = RetryPolicy(attempts=1)


class RetryableAnswer(Exception):
    """Raised inside a try for an answer of a status in :data:`RETRY_STATUSES`, so that
    tenacity tries again; the last one is turned into ``Unavailable``."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.status_code} from {response.request.url}")
        self.response = response


def retryable(error: BaseException) -> bool:
    """Whether ``error`` (raised by one try) is worth another: a retryable answer or a
    transport failure of :data:`RETRY_ERRORS`."""
    return isinstance(error, (RetryableAnswer, *RETRY_ERRORS))


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header value asks to wait: a number of seconds, or an HTTP
    date (then the seconds from ``now``, UTC by default, never below 0); None for no header or
    one that is neither."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff(policy: RetryPolicy, tries: int) -> float:
    """Seconds to wait after ``tries`` failed tries (1 or more): ``backoff`` doubling per try,
    at most ``max_backoff``, plus a random jitter of up to ``jitter`` seconds."""
    wait = min(policy.max_backoff, policy.backoff * 2 ** max(0, tries - 1))
    return float(wait + (random.uniform(0, policy.jitter) if policy.jitter > 0 else 0.0))


class RetryWait:
    """tenacity's wait: the answer's Retry-After when it gave one (capped), else exponential
    backoff with jitter, in seconds."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, state: RetryCallState) -> float:
        """Seconds to wait before the next try of ``state``'s call."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableAnswer):
            asked = retry_after(error.response.headers.get("Retry-After"))
            if asked is not None:
                return min(asked, self.policy.max_retry_after)
        return backoff(self.policy, state.attempt_number)


def retrying(policy: RetryPolicy) -> Retrying:
    """A tenacity ``Retrying`` for one call under ``policy``; the last try's error is raised
    as it is (``reraise``)."""
    return Retrying(
        stop=stop_after_attempt(max(1, policy.attempts)),
        wait=RetryWait(policy),
        retry=retry_if_exception(retryable),
        reraise=True,
    )


def async_retrying(policy: RetryPolicy) -> AsyncRetrying:
    """The same as :func:`retrying`, sleeping with the event loop (``asyncio.sleep``)."""
    return AsyncRetrying(
        stop=stop_after_attempt(max(1, policy.attempts)),
        wait=RetryWait(policy),
        retry=retry_if_exception(retryable),
        reraise=True,
    )
