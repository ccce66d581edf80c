"""Reading job result files for GET /v1/jobs/{id}/results/{file}: from the results volume
(a directory the API sees) or from Supabase Storage (streamed through the service-role key).

Keys come from ``api.v1alpha1.resultfiles`` (``<project>/<job>/run-<n>/<file>``), never from a
path a job wrote; each reader still refuses a key that would leave its job's folder.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import httpx

from api.rest.settings import Settings

CHUNK_BYTES = 64 * 1024


class ResultUnavailable(Exception):
    """The store could not be read just now (HTTP 503 to the caller)."""


class Opened:
    """An open result file: its chunks (``chunks()``) and, when known, its size in bytes."""

    def __init__(
        self, chunks: Iterator[bytes], size: int | None, close: Callable[[], None] | None = None
    ) -> None:
        self._chunks, self.size, self._close = chunks, size, close

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes in chunks of up to ``CHUNK_BYTES`` (64 KiB); closes the file when
        exhausted or closed. A read error (``OSError``, httpx's ``HTTPError``) propagates."""
        try:
            yield from self._chunks
        finally:
            self.close()

    def close(self) -> None:
        """Release the file or the connection; a second call does nothing."""
        if self._close is not None:
            close, self._close = self._close, None
            close()


class ResultReader(Protocol):
    """Result files by key (``<project>/<job>/run-<n>/<file>``)."""

    def open(self, key: str) -> Opened | None:
        """The file stored under ``key``, or None when there is none (HTTP 404).
        ResultUnavailable when the store cannot answer."""


class VolumeResults:
    """A directory: the API's view of the volume job pods write to. Symbolic links are not
    followed at any level below the root (a job could plant one pointing elsewhere)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def open(self, key: str) -> Opened | None:
        """The regular file ``<root>/<key>`` and its size in bytes; None when there is none, a part
        of the key is empty, ``.`` or ``..``, or a level is a symbolic link. ``ResultUnavailable``
        when the directory cannot be read."""
        parts = key.split("/")
        if any(part in ("", ".", "..") for part in parts):
            return None
        flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            folder = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as error:
            raise ResultUnavailable(f"the results directory cannot be read: {error}") from None
        try:
            for part in parts[:-1]:  # each level opened without following a link
                below = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
                os.close(folder)
                folder = below
            fd = os.open(parts[-1], flags, dir_fd=folder)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return None
            raise ResultUnavailable(f"result {key} cannot be read: {error}") from None
        finally:
            os.close(folder)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return None
        handle = os.fdopen(fd, "rb")
        return Opened(iter(lambda: handle.read(CHUNK_BYTES), b""), info.st_size, handle.close)


class SupabaseResultReader:
    """Supabase Storage: ``GET {url}/storage/v1/object/{bucket}/{key}`` with the service-role
    key (``Authorization: Bearer`` and ``apikey``), streamed through. 400/404: no such file."""

    def __init__(self, url: str, key: str, bucket: str, timeout: float = 30.0) -> None:
        self.url, self.bucket = url.rstrip("/"), bucket
        self.client = httpx.Client(
            timeout=timeout, headers={"Authorization": f"Bearer {key}", "apikey": key}
        )

    def open(self, key: str) -> Opened | None:
        """The object, streamed, with its size in bytes when Storage sends Content-Length; None when
        it answers 400 or 404. ``ResultUnavailable`` on a network error or another status of 300 or
        more."""
        url = f"{self.url}/storage/v1/object/{quote(self.bucket)}/{quote(key)}"
        try:
            response = self.client.send(self.client.build_request("GET", url), stream=True)
        except httpx.HTTPError as error:
            raise ResultUnavailable(f"result {key} cannot be read: {error}") from None
        if response.status_code in (400, 404):
            response.close()
            return None
        if response.status_code >= 300:
            response.close()
            raise ResultUnavailable(
                f"result {key} cannot be read: Supabase Storage answered {response.status_code}"
            )
        length = response.headers.get("content-length")
        return Opened(
            response.iter_bytes(CHUNK_BYTES),
            int(length) if length and length.isdigit() else None,
            response.close,
        )


def results_reader(settings: Settings) -> ResultReader | None:
    """The reader the settings name (results_store), or None when results are not served."""
    if settings.results_store == "volume":
        return VolumeResults(Path(settings.results_dir))
    if settings.results_store == "supabase":
        return SupabaseResultReader(
            settings.supabase_url, settings.supabase_service_role_key, settings.results_bucket
        )
    return None
