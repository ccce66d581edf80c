"""Domain errors, mapped to HTTP once (see main.py); routes raise these, never HTTPException."""

from __future__ import annotations


class ApiError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(ApiError):
    status = 401
    code = "unauthenticated"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Invalid(ApiError):
    status = 422
    code = "invalid"


class TooLarge(ApiError):
    status = 413
    code = "too_large"


class Unavailable(ApiError):
    status = 503
    code = "kubernetes_unavailable"


class TooManyStreams(ApiError):
    status = 429
    code = "too_many_streams"
