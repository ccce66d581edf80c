"""Download an input to a local file, streamed, with a size limit and clear errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from jobimages.runtime.exitcodes import PermanentError, RetryableError

Progress = Callable[[int, int | None], None]  # bytes so far, total if known


def download(
    url: str,
    target: Path,
    *,
    max_bytes: int,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> Path:
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code in (404, 410):
                raise PermanentError(f"{url} does not exist (HTTP {response.status_code})")
            if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                raise PermanentError(f"{url} was refused (HTTP {response.status_code})")
            if response.status_code >= 400:
                raise RetryableError(f"{url} failed with HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            total = int(declared) if declared and declared.isdigit() else None
            if total is not None and total > max_bytes:
                raise PermanentError(f"{url} is {total} bytes, over the {max_bytes}-byte limit")
            received = 0
            with target.open("wb") as out:
                for chunk in response.iter_bytes(1 << 16):
                    received += len(chunk)
                    if received > max_bytes:
                        raise PermanentError(f"{url} is over the {max_bytes}-byte limit")
                    out.write(chunk)
                    if progress:
                        progress(received, total)
    except httpx.HTTPError as error:  # refused, reset, timed out, cut short
        raise RetryableError(f"downloading {url} failed: {type(error).__name__}: {error}") from None
    return target
