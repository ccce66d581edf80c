"""Where saved pod logs live: a directory (development, tests) or a Supabase Storage bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from api.envsettings import SettingsError
from api.logs.settings import LogStoreSettings


class LogStoreError(Exception):
    """The store could not be read or written; the message says which and why."""


class LogStore(Protocol):
    """Saved pod logs by key (``logs/<namespace>/<job id>/run-<n>/attempt-<m>.log``, see
    api.logs.archive); each method raises ``LogStoreError`` when the store cannot be used."""

    def put(self, key: str, data: bytes) -> None:
        """Save ``data`` (the log's bytes) under ``key``, replacing what was there."""

    def get(self, key: str) -> bytes | None:
        """The saved log, or None when nothing is stored under ``key``."""


class DirectoryLogs:
    """A directory: the log of ``key`` is the file ``<root>/<key>``. A key that would leave ``root``
    raises ``LogStoreError``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise LogStoreError(f"log key {key!r} leaves the log directory")
        return path

    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` to ``<root>/<key>`` (folders made as needed), whole or not at all.
        ``LogStoreError`` for a key leaving ``root``; ``OSError`` when the disk refuses."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(path)  # a reader never sees half a log

    def get(self, key: str) -> bytes | None:
        """The bytes of ``<root>/<key>``, None when no file is there. ``LogStoreError`` for a key
        leaving ``root``; ``OSError`` when the file cannot be read."""
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None


class SupabaseLogs:
    """Supabase Storage with the service-role key: upload is
    ``POST {url}/storage/v1/object/{bucket}/{key}`` (upsert), download a GET of the same."""

    def __init__(self, url: str, key: str, bucket: str) -> None:
        from supabase import create_client

        self.bucket = bucket
        self.client: Any = create_client(url, key)

    def put(self, key: str, data: bytes) -> None:
        """Upload (upsert) ``data`` as UTF-8 text under ``key``; ``LogStoreError`` on any
        failure."""
        try:
            self.client.storage.from_(self.bucket).upload(
                key, data, {"content-type": "text/plain; charset=utf-8", "upsert": "true"}
            )
        except Exception as error:  # storage3 raises its own types and httpx's
            raise LogStoreError(f"could not save {key} to bucket {self.bucket}: {error}") from None

    def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, None when Storage answers 400 or 404; ``LogStoreError`` for
        another answer (a network error propagates as httpx's ``HTTPError``)."""
        from storage3.exceptions import StorageApiError

        try:
            data: bytes = self.client.storage.from_(self.bucket).download(key)
        except StorageApiError as error:
            if str(getattr(error, "status", "")) in ("400", "404"):
                return None
            raise LogStoreError(
                f"could not read {key} from bucket {self.bucket}: {error}"
            ) from None
        return data


def logs_from_env() -> LogStore | None:
    """The store ``LogStoreSettings`` (api.logs.settings) name: a directory, Supabase Storage,
    or None when logs are not kept. Raises ``LogStoreError`` naming a bad or missing
    setting."""
    try:
        settings = LogStoreSettings.load()
    except SettingsError as error:
        raise LogStoreError(str(error)) from None
    if settings.kind == "directory":
        return DirectoryLogs(settings.directory)
    if settings.kind == "supabase":
        return SupabaseLogs(
            settings.supabase_url, settings.supabase_service_role_key, settings.bucket
        )
    return None
