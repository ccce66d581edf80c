"""Pure: which finished attempts still need their log saved, under which key, with which header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.v1alpha1 import constants

# A log above this is cut (its end kept: the end says why an attempt failed).
MAX_LOG_BYTES = 8 * 1024 * 1024
KEEP_ENTRIES = 200


@dataclass(frozen=True)
class FinishedAttempt:
    run: int
    attempt: int
    pod: str
    node: str | None
    exit_code: int | None
    reason: str | None
    finished_at: str | None


def attempt_key(namespace: str, job_id: str, run: int, attempt: int) -> str:
    return f"logs/{namespace}/{job_id}/run-{run}/attempt-{attempt}.log"


def _created(pod: dict[str, Any]) -> tuple[str, str]:
    return (pod["metadata"].get("creationTimestamp") or "", pod["metadata"]["name"])


def _terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == constants.CONTAINER_NAME:
            terminated = (status.get("state") or {}).get("terminated")
            return dict(terminated) if terminated else None
    return None


def numbered(pods: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """A run's pods with their attempt numbers: 1 for the first created."""
    return list(enumerate(sorted(pods, key=_created), start=1))


def to_save(
    run: int,
    pods: list[dict[str, Any]],
    saved: list[dict[str, Any]],
    stopping: str | None = None,
) -> list[FinishedAttempt]:
    """The run's attempts whose pod has ended and whose log is not saved yet; with
    ``stopping`` (why, e.g. Cancelled), also those about to be stopped with their Job."""
    done = {(int(entry["run"]), int(entry["attempt"])) for entry in saved}
    found = []
    for attempt, pod in numbered(pods):
        phase = pod.get("status", {}).get("phase")
        terminated = _terminated(pod)
        ended = phase in ("Succeeded", "Failed") or terminated is not None
        if (run, attempt) in done or not (ended or stopping):
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
                or (None if ended else stopping),
                finished_at=(terminated or {}).get("finishedAt"),
            )
        )
    return found


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


def trimmed(log: bytes) -> bytes:
    if len(log) <= MAX_LOG_BYTES:
        return log
    cut = len(log) - MAX_LOG_BYTES
    return f"# omvee: the first {cut} bytes were cut\n".encode() + log[cut:]


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
    return next((e for e in saved if int(e["run"]) == run and int(e["attempt"]) == attempt), None)
