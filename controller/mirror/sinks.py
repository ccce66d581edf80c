"""Where mirror rows go: PostgreSQL directly (psycopg) or Supabase (supabase-py `rpc`). Both
call the same SQL function, public.mirror_job_status(job jsonb)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Protocol, cast

import httpx
import psycopg
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from postgrest.exceptions import APIError

    from controller.settings import OperatorSettings

FUNCTION = "mirror_job_status"
PROBE = "mirror_job_status_probe"  # the table check at start (tablecheck)
# what read_row reads of a row, and as what
ROW_KEYS = ("project_id", "status", "result", "revision", "run")
ROW_READ = ("project_id::text", "status", "result", "revision", "run")


class Sink(Protocol):
    """Where the writer's rows go: one ``jobs`` row (``rows.build_row``) per call."""

    def write(self, row: dict[str, Any]) -> str:
        """Apply one row; returns inserted, updated, stale or final. Raises when the database
        is unavailable or refuses the row (``failure_reason`` tells which)."""

    def describe(self) -> str:
        """The destination for log lines, e.g. ``PostgreSQL db:5432``; no secrets."""
        ...


class BatchSink(Sink, Protocol):
    """A sink that can apply many rows in one round trip (the writer batches for it)."""

    def write_many(self, rows: list[dict[str, Any]]) -> list[str]:
        """Apply ``rows`` (one per job) in one round trip, all or none: one refused row raises
        as ``write`` does, and none of them is written. Returns one outcome per row."""


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

    def _fetch(self, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """The rows ``query`` returns, over the one connection (opened on first use,
        ``connect_timeout`` seconds); a psycopg OperationalError closes it, to reconnect on
        the next call, and propagates with every other psycopg error."""
        try:
            return self._connect().execute(query.encode(), params).fetchall()
        except psycopg.OperationalError:
            if self._connection is not None:
                self._connection.close()
            self._connection = None
            raise

    def write(self, row: dict[str, Any]) -> str:
        """Sink.write: one call of the function."""
        found = self._fetch(f"select public.{FUNCTION}(%s)", [Jsonb(row)])
        return str(found[0][0]) if found else "updated"

    def write_many(self, rows: list[dict[str, Any]]) -> list[str]:
        """BatchSink.write_many: one statement, so one implicit transaction (autocommit):
        a refused row leaves none of ``rows`` written."""
        found = self._fetch(
            f"select public.{FUNCTION}(j) from jsonb_array_elements(%s) with ordinality"
            " as t(j, n) order by n",
            [Jsonb(rows)],
        )
        return [str(result[0]) for result in found]

    def read_row(self, job_id: str) -> dict[str, Any] | None:
        """The `jobs` row ``job_id``'s project_id (text), status, result, revision and run,
        or None when there is none (a local run reads its upstream's result, and where its
        own row stands, so); psycopg errors propagate."""
        found = self._fetch(
            f"select {', '.join(ROW_READ)} from public.jobs where id = %s", [job_id]
        )
        return dict(zip(ROW_KEYS, found[0], strict=True)) if found else None

    def probe(self, sequences: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The problems public.mirror_job_status_probe(``sequences``) finds (see
        ``tablecheck``); psycopg errors propagate."""
        found = self._fetch(f"select public.{PROBE}(%s)", [Jsonb(sequences)])
        return list(found[0][0]) if found and found[0][0] else []

    def describe(self) -> str:
        """``PostgreSQL host:port`` of the dsn (no user or password)."""
        info = psycopg.conninfo.conninfo_to_dict(self.dsn)
        return f"PostgreSQL {info.get('host', 'localhost')}:{info.get('port', 5432)}"


class SupabaseSink:
    """Supabase's REST API with the service-role key: POST /rest/v1/rpc/mirror_job_status,
    one row per call (PostgREST calls the function once per request: no batches)."""

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
        """Sink.write through the RPC endpoint; postgrest's APIError or httpx errors propagate."""
        response = self.client.rpc(FUNCTION, {"job": row}).execute()
        return str(response.data)

    def read_row(self, job_id: str) -> dict[str, Any] | None:
        """The `jobs` row ``job_id``'s project_id, status, result, revision and run (GET
        /rest/v1/jobs?id=eq.<id>), or None; postgrest's APIError or httpx errors propagate."""
        response = (
            self.client.table("jobs").select(",".join(ROW_KEYS)).eq("id", job_id).limit(1).execute()
        )
        rows = cast(list[dict[str, Any]], response.data or [])
        return rows[0] if rows else None

    def probe(self, sequences: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The problems public.mirror_job_status_probe(``sequences``) finds, through
        POST /rest/v1/rpc/mirror_job_status_probe; postgrest's APIError or httpx errors
        propagate."""
        response = self.client.rpc(PROBE, {"sequences": sequences}).execute()
        return cast(list[dict[str, Any]], response.data or [])

    def describe(self) -> str:
        """``Supabase <url>``."""
        return f"Supabase {self.url}"


UNAVAILABLE = "Unavailable"
REJECTED = "Rejected"
# SQLSTATE classes that speak of the row's content: 22 data exception (a value a column or jsonb
# cannot hold), 23 integrity constraint violation (CHECK, NOT NULL...), P0 raised in PL/pgSQL
# (mirror_job_status() itself, or a trigger).
ROW_SQLSTATE_CLASSES = frozenset({"22", "23", "P0"})


def _api_error(error: Exception) -> APIError | None:
    """``error`` when it is PostgREST's answer (supabase-py raises postgrest's APIError; that
    module is imported only with the Supabase sink, and unimported it raised nothing)."""
    module = sys.modules.get("postgrest.exceptions")
    return error if module is not None and isinstance(error, module.APIError) else None


def _sqlstate(error: Exception) -> str | None:
    """The SQLSTATE of a psycopg error, or of a PostgREST answer (APIError.code holds it; a
    PostgREST error of its own is PGRSTnnn, a proxy's answer the HTTP status)."""
    if isinstance(error, psycopg.Error):
        return error.sqlstate
    answer = _api_error(error)
    code = answer.code if answer is not None else None
    return code if code and len(code) == 5 and not code.startswith("PGRST") else None


def failure_reason(error: Exception) -> str:
    """Pure: why a write raised ``error``, one of:

    - ``Rejected``: the database refused *this row* for its content: a data error or a violated
      constraint (psycopg DataError or IntegrityError, or their SQLSTATE from Supabase's REST
      API), an exception raised by mirror_job_status(), or a row that cannot even be encoded.
      Other rows may well go in: set this one aside.
    - ``Unavailable``: anything else: unreachable, timed out, a 5xx, the function missing, no
      permission. No row can go in now, so wait and retry.
    """
    if isinstance(error, psycopg.DataError | psycopg.IntegrityError):
        return REJECTED  # client-side ones too (no SQLSTATE): e.g. a value it cannot send
    code = _sqlstate(error)
    if code is not None:
        return REJECTED if code[:2] in ROW_SQLSTATE_CLASSES else UNAVAILABLE
    if isinstance(error, psycopg.Error | httpx.HTTPError | OSError):
        return UNAVAILABLE
    # encoding the row failed (UnicodeEncodeError, a value JSON cannot hold)
    return REJECTED if isinstance(error, ValueError | TypeError) else UNAVAILABLE


def error_message(error: Exception) -> str:
    """Pure: the database's words for ``error`` on one line, with its SQLSTATE when known, e.g.
    ``new row for relation "jobs" violates check constraint "jobs_type_check" (SQLSTATE
    23514)``; else the first line of the error, or its type's name."""
    primary = None
    if isinstance(error, psycopg.Error) and error.diag.message_primary:
        primary = error.diag.message_primary
    elif (answer := _api_error(error)) is not None:
        primary = answer.message
    text = str(primary or error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    code = _sqlstate(error)
    return f"{line} (SQLSTATE {code})" if code else line


def build_sink(settings: OperatorSettings) -> PostgresSink | SupabaseSink | None:
    """The sink ``settings.mirror`` names (``postgres`` or ``supabase``), or None: no mirror."""
    if settings.mirror == "postgres":
        return PostgresSink(settings.mirror_dsn)
    if settings.mirror == "supabase":
        return SupabaseSink(settings.supabase_url, settings.supabase_service_role_key)
    return None
