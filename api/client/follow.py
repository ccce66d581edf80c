"""Pure: following a job through the API's server-sent events, for both clients.

``GET /v1/jobs/{id}/events`` sends a ``status`` event (the job's JobPublic as JSON) first and
on each change, then ``end`` once the phase is final, and closes after its ``timeout`` query
(seconds). A stream that closes earlier (that timeout, a restart of the API, a broken
connection) is opened again; a status seen before is not repeated.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from api.client.errors import JobCancelled, JobFailed, Unavailable
from api.client.retrying import RetryPolicy
from api.v1alpha1.public import JobPublic
from api.v1alpha1.types import Phase

#: Seconds one stream stays open when the caller set no deadline (the API's default).
STREAM_SECONDS = 600
#: Seconds added to a stream's read timeout beyond its own length: the API sends nothing
#: between two changes, and closes the stream itself when its ``timeout`` passes.
READ_MARGIN = 5.0


def stream_seconds(remaining: float | None) -> int:
    """The ``timeout`` (whole seconds, 1 to 3600) of the next stream: the seconds left to the
    caller's deadline rounded up, or :data:`STREAM_SECONDS` with none."""
    if remaining is None:
        return STREAM_SECONDS
    return max(1, min(3600, math.ceil(remaining)))


def reconnect_wait(policy: RetryPolicy, failures: int, deadline: float | None) -> float:
    """Seconds to wait before opening a stream again after ``failures`` streams in a row that
    broke or closed without a new status: none after a stream that brought one (``failures``
    0), else ``backoff`` doubling up to ``max_backoff``; never past ``deadline`` (a
    ``time.monotonic()`` value, or None)."""
    if failures <= 0:
        return 0.0
    wait = min(policy.max_backoff, policy.backoff * 2 ** (failures - 1))
    if deadline is not None:
        wait = min(wait, max(0.0, deadline - time.monotonic()))
    return float(wait)


@dataclass
class Follower:
    """What one ``events()`` call has seen: the last status yielded, how many streams broke or
    closed without a status since the last new one, and the transport error of the latest
    stream if it broke."""

    last: JobPublic | None = None
    failures: int = 0
    error: Exception | None = None
    _heard: bool = False

    def opened(self) -> None:
        """A stream was opened: nothing heard on it yet."""
        self._heard, self.error = False, None

    def status(self, data: str) -> JobPublic | None:
        """The job a ``status`` event's ``data`` holds, or None when it is the one seen last
        (a stream opened again starts with the current status). Raises pydantic's
        ValidationError for data that is not a JobPublic."""
        job = JobPublic.model_validate_json(data)
        self._heard = True
        if job == self.last:
            return None
        self.last, self.failures = job, 0
        return job

    def broke(self, error: Exception) -> None:
        """The stream broke with ``error`` (a transport error)."""
        self.error = error

    def check(self, policy: RetryPolicy, job_id: str) -> None:
        """After a stream ended before the job did: count it as a failure when it broke or
        brought no status (one that closed after its ``timeout`` is not). Raises Unavailable
        after ``policy.attempts`` failures with no new status between them."""
        if self.error is not None or not self._heard:
            self.failures += 1
        if self.failures >= max(1, policy.attempts):
            why = f"broke: {self.error!r}" if self.error else "closed without a status"
            raise Unavailable(
                None, message=f"the event stream of job {job_id} {why} ({self.failures} times)"
            ) from self.error


def final(job: JobPublic) -> bool:
    """Whether ``job``'s phase is Succeeded, Failed or Cancelled."""
    return job.phase is not None and Phase(job.phase).final


def outcome(job: JobPublic) -> JobPublic:
    """``job`` when it Succeeded. Raises JobFailed (with its reason and message) when it
    Failed, JobCancelled when it was Cancelled; ValueError when it has not ended."""
    if job.phase == Phase.SUCCEEDED:
        return job
    if job.phase == Phase.FAILED:
        raise JobFailed(job)
    if job.phase == Phase.CANCELLED:
        raise JobCancelled(job)
    raise ValueError(f"job {job.id} has not ended ({job.phase or 'Pending'})")
