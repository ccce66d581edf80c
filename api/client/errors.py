"""The client's errors: one class per kind of API answer, and the outcomes of waiting for a job.

Every error the client raises is an :class:`OmveeError`. An answer of the API is an
:class:`ApiError` (``status``, ``body``, and the API's ``code`` and ``message`` when it sent a
``{"code", "message"}`` body); :func:`error_for` picks the class from the status:

==========  ===============================================================
status      class
==========  ===============================================================
401         :class:`Unauthorized` (no token, or an unknown or expired one)
403         :class:`Forbidden`
404         :class:`NotFound` (no such job or pipeline, or another project's)
409         :class:`Conflict` (not possible in the job's phase; or the id or
            Idempotency-Key was used for a different request)
422         :class:`ValidationFailed` (``field`` and ``errors``)
429, 503    :class:`Unavailable`, once the retries are spent; also a
            connection that kept failing (``status`` None)
other       :class:`ApiError`
==========  ===============================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from api.v1alpha1.public import JobPublic

#: The parts of a 422 ``loc`` that say where the value was, not which field it was.
LOCATIONS = ("body", "query", "path", "header")


class OmveeError(Exception):
    """Base of every error the client raises."""


class ApiError(OmveeError):
    """The API answered ``status`` (an HTTP status; None when no answer came) with ``body``
    (the parsed JSON, or the text when it was not JSON). ``code`` and ``message`` are the
    API's (``{"code": "not_found", "message": "no job ..."}``), else None and the body's
    text."""

    def __init__(
        self,
        status: int | None,
        body: Any = None,
        *,
        message: str | None = None,
        code: str | None = None,
    ) -> None:
        if isinstance(body, dict):
            code = code or (body.get("code") if isinstance(body.get("code"), str) else None)
            if message is None and isinstance(body.get("message"), str):
                message = body["message"]
        self.status = status
        self.body = body
        self.code = code
        self.message = message if message is not None else str(body or "")
        prefix = f"{status} " if status is not None else ""
        super().__init__(f"{prefix}{code + ': ' if code else ''}{self.message}".strip())


class Unauthorized(ApiError):
    """401: no token, or one the API does not accept (unknown, expired, wrong audience)."""


class Forbidden(ApiError):
    """403: the token is valid but may not do this."""


class NotFound(ApiError):
    """404: no such job, pipeline or project, or one of a project the token may not see
    (the API answers both alike)."""


class Conflict(ApiError):
    """409: not possible in the job's phase (cancel an ended job, retry a running one), or the
    job id or Idempotency-Key was used before for a different request."""


class ValidationFailed(ApiError):
    """422, or the same refused locally before sending: ``errors`` is every problem as the API
    gives them (``[{"loc": [...], "msg": str, "type": str}]``) and ``field`` the first one's
    ``loc`` joined with dots, without the leading ``body`` (``"audio_url"`` for a typed method,
    ``"input.audio_url"`` for :meth:`submit`, ``"steps"`` for a pipeline); None when the
    answer named none. ``status`` is 422, or None when the client refused it before sending."""

    def __init__(self, status: int | None, body: Any, errors: Sequence[dict[str, Any]]) -> None:
        self.errors: list[dict[str, Any]] = [dict(e) for e in errors]
        self.field: str | None = field_of(self.errors[0]) if self.errors else None
        message = None  # then the body's (a {"code", "message"} 422)
        if self.errors:
            where = f"{self.field}: " if self.field else ""
            message = f"{where}{self.errors[0].get('msg', '')}"
        super().__init__(status, body, message=message, code="invalid")


class Unavailable(ApiError):
    """The API could not do it now and every retry was spent: it answered 503 (the Kubernetes
    API is unreachable; nothing was changed) or 429 (too many streams), or no answer came
    (connection refused or cut, timeout: ``status`` None, the transport error as
    ``__cause__``). Trying again later is safe: a submission's retries reuse its key."""


class JobEnded(OmveeError):
    """The job ended without succeeding; ``job`` is its last public view."""

    def __init__(self, job: JobPublic, text: str) -> None:
        self.job = job
        super().__init__(text)


class JobFailed(JobEnded):
    """The job ended Failed: ``reason`` is its CamelCase reason (``BackoffLimitExceeded``,
    ``PermanentFailure``, ``DeadlineExceeded``...), ``message`` the sentence that explains it."""

    def __init__(self, job: JobPublic) -> None:
        self.reason = job.reason
        self.message = job.message
        super().__init__(job, f"job {job.id} failed: {job.reason}: {job.message}")


class JobCancelled(JobEnded):
    """The job ended Cancelled (someone cancelled it, or its upstream was cancelled)."""

    def __init__(self, job: JobPublic) -> None:
        super().__init__(job, f"job {job.id} was cancelled: {job.message}")


class WaitTimeout(OmveeError, TimeoutError):
    """The job had not ended when the wait's timeout (seconds) passed; ``job`` is its last
    view seen (None if none came), ``timeout`` the seconds waited."""

    def __init__(self, job_id: str, timeout: float, job: JobPublic | None) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.job = job
        phase = job.phase if job and job.phase else "Pending"
        super().__init__(f"job {job_id} is still {phase} after {timeout:g} s")


def field_of(error: dict[str, Any]) -> str | None:
    """The field a 422 entry names: its ``loc`` joined with dots, the leading location
    (``body``, ``query``...) left out; None for an empty one."""
    loc = [str(part) for part in error.get("loc") or ()]
    if loc and loc[0] in LOCATIONS:
        loc = loc[1:]
    return ".".join(loc) or None


STATUS_ERRORS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: Unavailable,
    503: Unavailable,
}


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def error_for(response: httpx.Response) -> ApiError:
    """The error an answer of status 400 or more stands for (see the module's table). The
    response's body must have been read."""
    body = _body(response)
    if response.status_code == 422:
        detail = body.get("detail") if isinstance(body, dict) else None
        if isinstance(detail, list):
            return ValidationFailed(422, body, [d for d in detail if isinstance(d, dict)])
        return ValidationFailed(422, body, [])
    return STATUS_ERRORS.get(response.status_code, ApiError)(response.status_code, body)
