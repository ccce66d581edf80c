"""Where results go: a local directory (development) or Supabase Storage (production)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit


class ResultStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> str:
        """Store ``data`` under ``key``; returns where it can be read (a URL or path)."""


class LocalResults:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes, content_type: str) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path.resolve().as_uri()


class SupabaseResults:
    """Supabase Storage: ``POST {url}/storage/v1/object/{bucket}/{key}`` with the service key."""

    def __init__(self, url: str, key: str, bucket: str) -> None:
        from supabase import create_client

        self.client = create_client(url, key)
        self.url, self.bucket = url.rstrip("/"), bucket

    def put(self, key: str, data: bytes, content_type: str) -> str:
        self.client.storage.from_(self.bucket).upload(
            key, data, {"content-type": content_type, "upsert": "true"}
        )
        return f"{self.url}/storage/v1/object/{self.bucket}/{key}"


def results_host_from_env() -> str | None:
    """The host of the result store ($SUPABASE_URL with OMVEE_RESULTS=supabase), whose
    locations a later job reads; None for a local directory."""
    if os.environ.get("OMVEE_RESULTS") != "supabase" or not os.environ.get("SUPABASE_URL"):
        return None
    return urlsplit(os.environ["SUPABASE_URL"]).hostname


def results_dir_from_env() -> Path:
    """The local result directory ($OMVEE_RESULTS_DIR, default ./omvee-results), resolved."""
    return Path(os.environ.get("OMVEE_RESULTS_DIR", "omvee-results")).resolve()


def results_from_env() -> ResultStore:
    """OMVEE_RESULTS=supabase (SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, OMVEE_RESULTS_BUCKET)
    or a directory (OMVEE_RESULTS_DIR, default ./omvee-results)."""
    if os.environ.get("OMVEE_RESULTS") == "supabase":
        return SupabaseResults(
            os.environ["SUPABASE_URL"],
            os.environ["SUPABASE_SERVICE_ROLE_KEY"],
            os.environ.get("OMVEE_RESULTS_BUCKET", "job-results"),
        )
    return LocalResults(results_dir_from_env())
