"""Where mirror rows go: PostgreSQL directly (psycopg) or Supabase (supabase-py `rpc`). Both
call the same SQL function, public.mirror_job_status(job jsonb)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import httpx
import psycopg
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from controller.settings import OperatorSettings

FUNCTION = "mirror_job_status"


class Sink(Protocol):
    def write(self, row: dict[str, Any]) -> str:
        """Apply one row; returns inserted, updated, stale or final. Raises when unreachable."""

    def describe(self) -> str: ...


class PostgresSink:
    """A direct connection string, e.g. the database of a self-hosted Supabase."""

    def __init__(self, dsn: str, connect_timeout: int = 5) -> None:
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self._connection: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(
                self.dsn, autocommit=True, connect_timeout=self.connect_timeout
            )
        return self._connection

    def write(self, row: dict[str, Any]) -> str:
        try:
            result = (
                self._connect().execute(f"select public.{FUNCTION}(%s)", [Jsonb(row)]).fetchone()
            )
        except psycopg.OperationalError:
            if self._connection is not None:
                self._connection.close()
            self._connection = None
            raise
        return str(result[0]) if result else "updated"

    def describe(self) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self.dsn)
        return f"PostgreSQL {info.get('host', 'localhost')}:{info.get('port', 5432)}"


class SupabaseSink:
    """Supabase's REST API with the service-role key: POST /rest/v1/rpc/mirror_job_status."""

    def __init__(self, url: str, service_role_key: str, timeout: float = 10.0) -> None:
        from supabase import ClientOptions, create_client

        self.url = url
        self.client = create_client(
            url,
            service_role_key,
            options=ClientOptions(
                postgrest_client_timeout=timeout, auto_refresh_token=False, persist_session=False
            ),
        )

    def write(self, row: dict[str, Any]) -> str:
        response = self.client.rpc(FUNCTION, {"job": row}).execute()
        return str(response.data)

    def describe(self) -> str:
        return f"Supabase {self.url}"


def failure_reason(error: Exception) -> str:
    """Unavailable: the database or Supabase could not be reached (or timed out), so waiting
    helps; Rejected: it answered with an error."""
    unreachable = (psycopg.OperationalError, httpx.TransportError, OSError)
    return "Unavailable" if isinstance(error, unreachable) else "Rejected"


def build_sink(settings: OperatorSettings) -> Sink | None:
    if settings.mirror == "postgres":
        return PostgresSink(settings.mirror_dsn)
    if settings.mirror == "supabase":
        return SupabaseSink(settings.supabase_url, settings.supabase_service_role_key)
    return None
