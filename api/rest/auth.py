"""Who is calling: a Supabase user (JWT signed with the project's secret) or a service token.

A user may act on the projects listed in the token's ``app_metadata.project_ids`` (the same
claim the `jobs` table's row-level security reads); a service token on every project.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import jwt

from api.rest.errors import Unauthenticated


@dataclass(frozen=True)
class Principal:
    """The caller: ``subject`` (the JWT's ``sub``, ``service-token-<n>`` or ``developer``) and
    the project ids it may act on, lower-case (None: every project)."""

    subject: str
    projects: frozenset[str] | None  # None: every project

    def may_access(self, project_id: str) -> bool:
        """Whether the caller may see and act on ``project_id`` (compared case-insensitively)."""
        return self.projects is None or project_id.lower() in self.projects


def authenticate(
    authorization: str | None,
    *,
    jwt_secret: str,
    audience: str,
    service_tokens: list[str],
    development: bool,
) -> Principal:
    """The caller of an ``Authorization`` header value: a service token (compared in constant
    time), else an HS256 JWT of ``audience`` with ``exp`` and ``sub``. In development with no
    secret and no token configured, a missing header is the ``developer`` with every project.
    Raises Unauthenticated (401) for a missing, malformed, unknown, expired or invalid token."""
    if not authorization:
        if development and not jwt_secret and not service_tokens:
            return Principal("developer", None)
        raise Unauthenticated("missing Authorization: Bearer <token>")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    for index, service_token in enumerate(service_tokens):
        if hmac.compare_digest(token.encode(), service_token.encode()):
            return Principal(f"service-token-{index}", None)
    if not jwt_secret:
        raise Unauthenticated("unknown service token")
    try:
        claims = jwt.decode(
            token,
            jwt_secret,
            algorithms=["HS256"],
            audience=audience,
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except jwt.InvalidTokenError as error:
        raise Unauthenticated(f"invalid token: {error}") from None
    projects = (claims.get("app_metadata") or {}).get("project_ids") or []
    if not isinstance(projects, list):
        raise Unauthenticated("app_metadata.project_ids must be a list")
    return Principal(str(claims["sub"]), frozenset(str(p).lower() for p in projects))
