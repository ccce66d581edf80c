"""Domain errors, mapped to HTTP once (see main.py); routes raise these, never HTTPException."""

from __future__ import annotations


class ApiError(Exception):
    """A domain error: main.py answers ``status`` with the body ``{"code": code, "message":
    message}`` (a 401 also with ``WWW-Authenticate: Bearer``). Routes raise the subclasses."""

    status = 500
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(ApiError):
    """401: no Authorization header, one that is not ``Bearer <token>``, or a token that is
    unknown, expired or invalid."""

    status = 401
    code = "unauthenticated"


class NotFound(ApiError):
    """404: no such job, project or file, or one of a project the caller may not see (the same
    answer, so that nothing is learnt about other projects)."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """409: not possible in the job's phase, or the job changed meanwhile, or it exists with a
    different request."""

    status = 409
    code = "conflict"


class Invalid(ApiError):
    """422: a request the body models accept but the domain refuses."""

    status = 422
    code = "invalid"


class TooLarge(ApiError):
    """413: the body is over ``max_body_bytes`` (main.BodyLimit answers the same code itself,
    before any route runs)."""

    status = 413
    code = "too_large"


class Unavailable(ApiError):
    """503: the Kubernetes API (or the log or results store) failed or did not answer;
    nothing was changed, try again."""

    status = 503
    code = "kubernetes_unavailable"


class TooManyStreams(ApiError):
    """429: every stream slot of this server is held (api.rest.streams); try again later."""

    status = 429
    code = "too_many_streams"
