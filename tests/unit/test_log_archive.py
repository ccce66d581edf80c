"""Which ended attempts get their log saved, under which key, and how entries merge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from api.logs import archive


def pod(name: str, created: str, phase: str, exit_code: int | None = None) -> dict[str, Any]:
    state = (
        {"terminated": {"exitCode": exit_code, "reason": "Error", "finishedAt": "T"}}
        if exit_code is not None
        else {"running": {}}
    )
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"nodeName": "gpu-1"},
        "status": {"phase": phase, "containerStatuses": [{"name": "job", "state": state}]},
    }


def test_attempts_are_numbered_by_creation_and_only_ended_ones_are_saved() -> None:
    pods = [
        pod("b", "2026-01-01T00:00:02Z", "Running"),
        pod("a", "2026-01-01T00:00:01Z", "Failed", exit_code=1),
    ]
    [first] = archive.to_save(0, pods, saved=[])
    assert (first.attempt, first.pod, first.exit_code, first.node) == (1, "a", 1, "gpu-1")
    assert archive.header(first) == (
        b"# omvee: run 0 attempt 1, pod a on gpu-1, exit code 1 (Error), finished T\n"
    )


def test_saved_attempts_are_not_saved_again() -> None:
    pods = [pod("a", "1", "Failed", exit_code=1), pod("b", "2", "Succeeded", exit_code=0)]
    saved = [{"run": 0, "attempt": 1, "pod": "a"}]
    assert [a.attempt for a in archive.to_save(0, pods, saved)] == [2]
    assert [a.attempt for a in archive.to_save(1, pods, saved)] == [1, 2]  # another run


def test_a_pod_that_failed_before_its_container_ran_is_saved_without_exit_code() -> None:
    evicted = {"metadata": {"name": "a", "creationTimestamp": "1"}, "status": {"phase": "Failed"}}
    [attempt] = archive.to_save(0, [evicted], [])
    assert (attempt.exit_code, attempt.node) == (None, None)
    assert b"no exit code" in archive.header(attempt)


def test_keys_name_namespace_job_run_and_attempt() -> None:
    assert archive.attempt_key("media", "j-1", 2, 3) == "logs/media/j-1/run-2/attempt-3.log"


def test_merge_orders_by_run_and_attempt_and_keeps_the_newest() -> None:
    old = [{"run": 1, "attempt": 1}, {"run": 0, "attempt": 2}]
    new = [{"run": 0, "attempt": 1}]
    assert archive.merged(old, new) == [
        {"run": 0, "attempt": 1},
        {"run": 0, "attempt": 2},
        {"run": 1, "attempt": 1},
    ]
    many = [{"run": 0, "attempt": n} for n in range(1, archive.KEEP_ENTRIES + 6)]
    kept = archive.merged([], many)
    assert (len(kept), kept[0]["attempt"]) == (archive.KEEP_ENTRIES, 6)


def test_a_huge_log_keeps_its_end() -> None:
    chunks = [b"x" * 1000] * 9 + [b"the end\n"]
    cut = archive.tail(iter(chunks), 1000)
    assert cut.startswith(b"# omvee: the first 8008 bytes were cut\n")
    assert cut.endswith(b"the end\n") and len(cut.split(b"\n", 1)[1]) == 1000
    assert archive.tail(iter([b"sh", b"ort"]), 1000) == b"short"


def test_numbers_stay_with_their_pods_when_earlier_pods_are_gone() -> None:
    saved = [{"run": 0, "attempt": 1, "pod": "a"}, {"run": 0, "attempt": 2, "pod": "b"}]
    pods = [pod("c", "3", "Failed", exit_code=1), pod("b", "2", "Failed", exit_code=1)]
    numbers = [(n, p["metadata"]["name"]) for n, p in archive.numbered(pods, saved)]
    assert numbers == [(2, "b"), (3, "c")]  # "a" was drained away: c is still the third
    [third] = archive.to_save(0, pods, saved)
    assert (third.attempt, third.pod) == (3, "c")


def test_a_pod_being_deleted_is_saved_before_it_goes() -> None:
    evicted = pod("a", "1", "Running")
    evicted["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:09Z"
    [attempt] = archive.to_save(0, [evicted, pod("b", "2", "Running")], [])
    assert (attempt.pod, attempt.reason) == ("a", "Deleted")


def test_an_ended_job_is_looked_at_again_only_while_logs_may_still_be_saved() -> None:
    now = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    ended = {"phase": "Failed", "finishedAt": "2026-01-01T00:00:00Z", "run": 0, "attempts": 2}
    assert archive.logs_pending(ended | {"logs": [{"run": 0, "attempt": 1}]}, now)
    two = [{"run": 0, "attempt": 1}, {"run": 0, "attempt": 2}]
    assert not archive.logs_pending(ended | {"logs": two}, now)
    assert not archive.logs_pending(ended, now + archive.LOG_GRACE)
    assert not archive.logs_pending(ended | {"phase": "Running"}, now)


def test_a_job_being_stopped_saves_its_running_attempts_too() -> None:
    pods = [pod("a", "1", "Failed", exit_code=1), pod("b", "2", "Running")]
    assert [a.attempt for a in archive.to_save(0, pods, [])] == [1]
    first, second = archive.to_save(0, pods, [], stopping="Cancelled")
    assert (first.reason, second.reason, second.exit_code) == ("Error", "Cancelled", None)
    assert b"no exit code (Cancelled)" in archive.header(second)


def test_locate_finds_the_pod_or_the_saved_log_of_an_attempt() -> None:
    status = {"logs": [{"run": 0, "attempt": 1, "pod": "a", "key": "k"}]}
    standing = [pod("b", "2", "Running")]
    latest = archive.locate(status, 0, standing, None)
    assert (latest.attempts, latest.attempt, latest.saved) == (2, 2, None)
    assert latest.pod is not None and latest.pod["metadata"]["name"] == "b"
    first = archive.locate(status, 0, standing, 1)
    assert (first.pod, first.saved) == (None, status["logs"][0])  # its pod is gone
    assert archive.locate(status, 0, standing, 5).attempt > 2
    assert archive.locate({}, 1, [], None).attempts == 0
