"""Where results go: a local directory (development) or Supabase Storage (production)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from api.resultstore import storage_prefix
from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.settings import results_settings


class ResultStore(Protocol):
    """Where a job's result files go, by key (``<project>/<job>/run-<n>/<file>``)."""

    def put(self, key: str, data: bytes, content_type: str) -> str:
        """Store ``data`` under ``key``; returns where it can be read (a URL or path)."""


class LocalResults:
    """A directory (``root``): the file of ``key`` is ``<root>/<key>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes, content_type: str) -> str:
        """Write ``data`` to ``<root>/<key>`` (folders made as needed) and return its file://
        URI. The file appears whole or not at all: a reader (the API, the next job) never
        sees half of it. On a volume shared by pods the root is the same path in each
        ($OMVEE_RESULTS_DIR, /var/lib/omvee/results), so the URI is valid in the next pod."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(data)
        partial.replace(path)
        return path.resolve().as_uri()


class SupabaseResults:
    """Supabase Storage: ``POST {url}/storage/v1/object/{bucket}/{key}`` with the service key."""

    def __init__(self, url: str, key: str, bucket: str) -> None:
        from supabase import create_client

        self.client = create_client(url, key)
        self.url, self.bucket = url.rstrip("/"), bucket

    def put(self, key: str, data: bytes, content_type: str) -> str:
        """Upload (upsert) ``data`` as ``content_type`` under ``key``; returns its address
        (``{url}/storage/v1/object/{bucket}/{key}``). storage3's and httpx's errors propagate
        (``execute`` makes them retryable)."""
        self.client.storage.from_(self.bucket).upload(
            key, data, {"content-type": content_type, "upsert": "true"}
        )
        return f"{storage_prefix(self.url, self.bucket)}{key}"


def results_host_from_env() -> str | None:
    """The host of the result store ($SUPABASE_URL with OMVEE_RESULTS=supabase), whose
    locations a later job reads; None for a local directory. PermanentError when a results
    setting is malformed."""
    settings = results_settings()
    if settings.kind != "supabase" or not settings.supabase_url:
        return None
    return urlsplit(settings.supabase_url).hostname


def supabase_results_auth(location: str) -> dict[str, str]:
    """The service-role headers to read ``location`` when it lies in this deployment's own
    Supabase Storage bucket (OMVEE_RESULTS=supabase: SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY,
    OMVEE_RESULTS_BUCKET); {} for any other location, which is read without credentials."""
    settings = results_settings()
    prefix = settings.object_prefix()
    key = settings.supabase_service_role_key
    if prefix is None or not key or not location.startswith(prefix):
        return {}
    if ".." in location[len(prefix) :].split("/"):
        return {}
    return {"Authorization": f"Bearer {key}", "apikey": key}


def results_dir_from_env() -> Path:
    """The local result directory ($OMVEE_RESULTS_DIR, default ./omvee-results), resolved."""
    return results_settings().local_directory()


def results_from_env() -> ResultStore:
    """OMVEE_RESULTS=supabase (SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, OMVEE_RESULTS_BUCKET)
    or a directory (OMVEE_RESULTS_DIR, default ./omvee-results). PermanentError naming a
    malformed or missing setting."""
    settings = results_settings()
    if settings.kind == "supabase":
        if not (settings.supabase_url and settings.supabase_service_role_key):
            raise PermanentError(
                "the job pod is misconfigured: OMVEE_RESULTS=supabase needs SUPABASE_URL and "
                "SUPABASE_SERVICE_ROLE_KEY"
            )
        return SupabaseResults(
            settings.supabase_url, settings.supabase_service_role_key, settings.bucket
        )
    return LocalResults(settings.local_directory())
