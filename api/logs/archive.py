"""Pure: which finished attempts still need their log saved, under which key, with which header."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from api.v1alpha1 import constants
from api.v1alpha1.reasons import Reason

# A log above this is cut (its end kept: the end says why an attempt failed).
MAX_LOG_BYTES = 8 * 1024 * 1024
KEEP_ENTRIES = 200
# How long after a job ends its unsaved attempt logs are still looked for.
LOG_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class FinishedAttempt:
    """An attempt whose log is to be saved: its run and number (from 1), pod, node, the job
    container's exit code and reason (or why it is being stopped), and its end (RFC 3339)."""

    run: int
    attempt: int
    pod: str
    node: str | None
    exit_code: int | None
    reason: str | None
    finished_at: str | None


def attempt_key(namespace: str, job_id: str, run: int, attempt: int) -> str:
    """The log store key of an attempt's log:
    ``logs/<namespace>/<job id>/run-<run>/attempt-<attempt>.log``."""
    return f"logs/{namespace}/{job_id}/run-{run}/attempt-{attempt}.log"


def _created(pod: dict[str, Any]) -> tuple[str, str]:
    return (pod["metadata"].get("creationTimestamp") or "", pod["metadata"]["name"])


def _terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == constants.CONTAINER_NAME:
            terminated = (status.get("state") or {}).get("terminated")
            return dict(terminated) if terminated else None
    return None


def numbered(
    pods: list[dict[str, Any]], saved: list[dict[str, Any]] | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """A run's pods with their attempt numbers, 1 for the first created. A pod whose log was
    saved keeps the number it was saved under; the others count on after the saved attempts
    whose pods are gone (deleted by a drain or eviction), so a pod's number never changes."""
    known = {str(entry["pod"]): int(entry["attempt"]) for entry in saved or []}
    present = {pod["metadata"]["name"] for pod in pods}
    gone = sum(1 for name in known if name not in present)
    return [
        (known.get(pod["metadata"]["name"], gone + position), pod)
        for position, pod in enumerate(sorted(pods, key=_created), start=1)
    ]


@dataclass(frozen=True)
class Located:
    """Where one attempt of a run is: its pod while it stands, its saved log's entry."""

    attempts: int  # how many the run has had (0: none yet)
    attempt: int  # the one asked for, or the latest
    pod: dict[str, Any] | None
    saved: dict[str, Any] | None


def locate(
    status: dict[str, Any], run: int, pods: list[dict[str, Any]], attempt: int | None
) -> Located:
    """Attempt ``attempt`` (the latest when None) of ``run``, from the run's pods and the
    saved logs in ``status``; the caller says what it means when it is past ``attempts``."""
    saved = [e for e in status.get("logs") or [] if int(e["run"]) == run]
    standing = numbered(pods, saved)
    attempts = max([n for n, _ in standing] + [int(e["attempt"]) for e in saved], default=0)
    number = attempt or attempts
    return Located(
        attempts=attempts,
        attempt=number,
        pod=next((p for n, p in standing if n == number), None),
        saved=find(saved, run, number),
    )


def exit_code(pod: dict[str, Any]) -> int | None:
    """The job container's exit code, or None while it has not terminated."""
    terminated = _terminated(pod)
    return terminated.get("exitCode") if terminated else None


def to_save(
    run: int,
    pods: list[dict[str, Any]],
    saved: list[dict[str, Any]],
    stopping: str | None = None,
) -> list[FinishedAttempt]:
    """The run's attempts whose pod has ended and whose log is not saved yet; with
    ``stopping`` (why, e.g. Cancelled), also those about to be stopped with their Job."""
    of_run = [entry for entry in saved if int(entry["run"]) == run]
    done = {int(entry["attempt"]) for entry in of_run}
    found = []
    for attempt, pod in numbered(pods, of_run):
        phase = pod.get("status", {}).get("phase")
        terminated = _terminated(pod)
        ended = phase in ("Succeeded", "Failed") or terminated is not None
        # A pod being deleted (evicted, drained, past the deadline) is saved before it goes.
        why = stopping or (Reason.DELETED if pod["metadata"].get("deletionTimestamp") else None)
        if attempt in done or not (ended or why):
            continue
        found.append(
            FinishedAttempt(
                run=run,
                attempt=attempt,
                pod=pod["metadata"]["name"],
                node=pod.get("spec", {}).get("nodeName"),
                exit_code=terminated.get("exitCode") if terminated else None,
                reason=(terminated or {}).get("reason")
                or pod.get("status", {}).get("reason")
                or (None if ended else why),
                finished_at=(terminated or {}).get("finishedAt"),
            )
        )
    return found


def tail(chunks: Iterable[bytes], keep: int) -> bytes:
    """The last ``keep`` bytes of a streamed log (the end says why an attempt failed), and
    a line saying how much was cut before them, if anything was."""
    kept = bytearray()
    dropped = 0
    for chunk in chunks:
        kept += chunk
        if len(kept) > keep:
            dropped += len(kept) - keep
            del kept[: len(kept) - keep]
    if dropped:
        return f"# omvee: the first {dropped} bytes were cut\n".encode() + bytes(kept)
    return bytes(kept)


def logs_pending(status: dict[str, Any], now: datetime) -> bool:
    """Whether an ended job's run has attempts without a saved log, and ended recently enough
    (LOG_GRACE) that their pods may still stand: worth another pass to save them."""
    finished = status.get("finishedAt")
    if not finished or status.get("phase") not in ("Succeeded", "Failed", "Cancelled"):
        return False
    if now - datetime.fromisoformat(str(finished).replace("Z", "+00:00")) > LOG_GRACE:
        return False
    run = int(status.get("run") or 0)
    saved = sum(1 for entry in status.get("logs") or [] if int(entry["run"]) == run)
    return saved < int(status.get("attempts") or 0)


def header(attempt: FinishedAttempt) -> bytes:
    """The first line of a saved log: which attempt it was and how it ended."""
    ended = "no exit code" if attempt.exit_code is None else f"exit code {attempt.exit_code}"
    if attempt.reason:
        ended += f" ({attempt.reason})"
    if attempt.finished_at:
        ended += f", finished {attempt.finished_at}"
    return (
        f"# omvee: run {attempt.run} attempt {attempt.attempt}, pod {attempt.pod} on "
        f"{attempt.node or 'no node'}, {ended}\n"
    ).encode()


def entry(attempt: FinishedAttempt, key: str | None, size: int, note: str | None) -> dict[str, Any]:
    """The status.logs entry (camelCase, as on the wire)."""
    return {
        "run": attempt.run,
        "attempt": attempt.attempt,
        "pod": attempt.pod,
        "node": attempt.node,
        "exitCode": attempt.exit_code,
        "reason": attempt.reason,
        "key": key,
        "bytes": size,
        "note": note,
    }


def merged(saved: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Old entries then new ones, ordered by (run, attempt), the oldest dropped past the cap."""
    every = {(int(e["run"]), int(e["attempt"])): e for e in [*saved, *new]}
    return [every[key] for key in sorted(every)][-KEEP_ENTRIES:]


def find(saved: list[dict[str, Any]], run: int, attempt: int) -> dict[str, Any] | None:
    """The status.logs entry of (``run``, ``attempt``), or None."""
    return next((e for e in saved if int(e["run"]) == run and int(e["attempt"]) == attempt), None)
