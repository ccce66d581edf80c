"""`omvee jobs logs` in cluster mode: the attempt's pod log while the pod exists, else the copy
the operator saved in the log store (status.logs) when the attempt ended."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from api.logs import archive
from controller.cli.backend import CliError

if TYPE_CHECKING:
    from controller.cli.cluster import ClusterBackend


def job_logs(
    cluster: ClusterBackend, ojob: dict[str, Any], attempt: int | None, follow: bool
) -> Iterator[bytes]:
    """Attempt ``attempt`` (1-based; the latest when None) of the current run: the pod's log
    stream while it exists, else the saved copy as one chunk. CliError when there is no such
    attempt or no log (see ``saved_log``)."""
    status, job_id = ojob.get("status") or {}, ojob["spec"]["jobId"]
    namespace = ojob["metadata"]["namespace"]
    run = int(status.get("run") or 0)
    found = archive.locate(status, run, cluster.pods(ojob, run), attempt)
    if found.attempts == 0:
        raise CliError(f"job {job_id} has no pod yet (or its pods were removed)")
    if found.attempt > found.attempts:
        raise CliError(f"job {job_id} has {found.attempts} attempt(s) so far, not {attempt}")
    if found.pod:
        stream = cluster.pod_log(namespace, found.pod["metadata"]["name"], follow)
        if stream is not None:
            return stream
    entry = found.saved
    key = (
        archive.attempt_key(namespace, job_id, run, found.attempt)
        if entry and entry.get("key")
        else None
    )
    return iter([saved_log(job_id, found.attempt, entry, key)])


def saved_log(job_id: str, attempt: int, entry: dict[str, Any] | None, key: str | None) -> bytes:
    """The bytes saved at ``key`` in the log store for ``entry`` (a status.logs item). CliError
    when none was saved, no log store is configured, the store fails or lacks the key."""
    what = f"attempt {attempt} of job {job_id}"
    if entry is None:
        raise CliError(f"{what} has no log: its pod is gone or has not started, and none was saved")
    if key is None:
        raise CliError(f"{what} has no saved log: {entry.get('note') or 'none was kept'}")
    from api.logs.store import LogStoreError, logs_from_env

    try:
        store = logs_from_env()
        if store is None:
            raise CliError(
                f"the log of {what} was saved as {key}, but no log store is "
                "configured here (set OMVEE_LOGS and its settings as the operator has them)"
            )
        data = store.get(key)
    except LogStoreError as error:
        raise CliError(str(error)) from None
    if data is None:
        raise CliError(f"the saved log of {what} ({key}) is not in the log store")
    return data
