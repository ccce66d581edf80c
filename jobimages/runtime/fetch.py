"""Download an input to a local file, streamed, with a size limit and clear errors; every
connection and redirect checked against the URL policy (jobimages.runtime.egress)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from api.urlpolicy import Resolver, UrlPolicy, resolve
from jobimages.runtime.egress import MAX_REDIRECTS, Refused, checked_client, refusal
from jobimages.runtime.exitcodes import PermanentError, RetryableError

Progress = Callable[[int, int | None], None]  # bytes so far, total if known


def download(
    url: str,
    target: Path,
    *,
    max_bytes: int,
    progress: Progress | None = None,
    timeout: float = 30.0,
    policy: UrlPolicy | None = None,
    resolver: Resolver = resolve,
) -> Path:
    """Fetch ``url`` into ``target``. Raises PermanentError (a refused URL or address, 4xx,
    too large, too many redirects) or RetryableError (network trouble, 5xx, 408, 429).
    ``policy``: the pod's ($OMVEE_URL_*) unless given."""
    try:
        with (
            checked_client(timeout=timeout, policy=policy, resolver=resolver) as client,
            client.stream("GET", url) as response,
        ):
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
    except Refused as refused:
        raise refusal(url, refused) from None
    except httpx.TooManyRedirects:
        raise PermanentError(f"{url} redirects more than {MAX_REDIRECTS} times") from None
    except httpx.HTTPError as error:  # refused, reset, timed out, cut short
        raise RetryableError(f"downloading {url} failed: {type(error).__name__}: {error}") from None
    return target
