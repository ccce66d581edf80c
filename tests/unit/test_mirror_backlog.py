"""The mirror's backlog, pure: a refused row is set aside on its own backoff and never holds up
another; a newer row of its job replaces it and goes at once. Time is passed in."""

from __future__ import annotations

from typing import Any

import pytest

from controller.mirror.backlog import Backlog, retry_delay

REFUSED = 'new row for relation "jobs" violates check constraint "jobs_type_check"'


def row(key: str, revision: int) -> dict[str, Any]:
    return {"id": key, "revision": revision}


def drain(backlog: Backlog, now: float, refuse: str = "") -> list[tuple[str, int]]:
    """Write every row ``next`` offers at ``now``, refusing those of job ``refuse``."""
    done = []
    while (found := backlog.next(now)) is not None:
        if found["id"] == refuse:
            backlog.refused(found, REFUSED, now)
        else:
            backlog.written(found, now)
            done.append((found["id"], found["revision"]))
    return done


@pytest.mark.parametrize(
    ("refusals", "delay"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 600), (7, 600), (60, 600)],
)
def test_retry_delay_doubles_from_30s_up_to_10min(refusals: int, delay: float) -> None:
    assert retry_delay(refusals) == delay


def test_a_refused_row_is_set_aside_and_the_others_go_on() -> None:
    backlog = Backlog()
    for i in range(5):
        backlog.offer(row(f"job-{i}", 1), now=0)
    assert drain(backlog, now=0, refuse="job-0") == [(f"job-{i}", 1) for i in range(1, 5)]
    assert (backlog.waiting(), backlog.set_aside()) == (0, 1)


def test_a_set_aside_row_is_tried_again_only_when_its_backoff_is_over() -> None:
    backlog = Backlog()
    backlog.offer(row("bad", 1), now=0)
    refusal, news = backlog.refused(backlog.next(0) or {}, REFUSED, now=0) or (None, False)
    assert refusal is not None and (refusal.refusals, refusal.retry_at, news) == (1, 30, True)
    assert backlog.next(29.9) is None
    assert backlog.next_retry_in(20) == pytest.approx(10)
    again = backlog.next(30)
    assert again == row("bad", 1)
    refusal, news = backlog.refused(again, REFUSED, now=30) or (None, True)
    assert refusal is not None and (refusal.refusals, refusal.retry_at, news) == (2, 90, False)
    assert backlog.next(89) is None
    assert backlog.next(90) == row("bad", 1)


def test_another_message_is_news_again() -> None:
    backlog = Backlog()
    backlog.offer(row("bad", 1), now=0)
    drain(backlog, now=0, refuse="bad")
    outcome = backlog.refused(backlog.next(30) or {}, "value too long", now=30)
    assert outcome is not None
    refusal, news = outcome
    assert (refusal.message, refusal.refusals, news) == ("value too long", 2, True)


def test_a_newer_revision_replaces_a_set_aside_row_and_is_tried_at_once() -> None:
    backlog = Backlog()
    backlog.offer(row("bad", 1), now=0)
    drain(backlog, now=0, refuse="bad")
    assert backlog.offer(row("bad", 1), now=1) is False  # the resync offers it again: no reset
    assert backlog.next(1) is None
    assert backlog.offer(row("bad", 2), now=2) is True
    assert (backlog.waiting(), backlog.set_aside()) == (1, 0)
    newer = backlog.next(2)
    assert newer == row("bad", 2)
    lag, refusal = backlog.written(newer, now=3)
    assert lag == 3  # behind since its first row was offered
    assert refusal is not None and refusal.refusals == 1
    assert backlog.next(10_000) is None  # the old row's retry is gone with it


def test_a_newer_row_offered_while_the_old_one_is_written_wins() -> None:
    backlog = Backlog()
    backlog.offer(row("a", 1), now=0)
    taken = backlog.next(0) or {}
    backlog.offer(row("a", 2), now=1)
    assert backlog.refused(taken, REFUSED, now=1) is None  # not set aside: the newer goes next
    assert backlog.next(1) == row("a", 2)
    assert backlog.written(taken, now=1) == (None, None)  # written, but the job is still behind


def test_written_and_older_rows_are_skipped() -> None:
    backlog = Backlog()
    for revision in (3, 1, 5, 4):
        backlog.offer(row("a", revision), now=0)
    assert drain(backlog, now=0) == [("a", 5)]
    assert backlog.offer(row("a", 5), now=1) is False
    assert backlog.offer(row("a", 2), now=1) is False


def test_capacity_bounds_waiting_and_set_aside_rows_together() -> None:
    backlog = Backlog(capacity=3)
    backlog.offer(row("bad", 1), now=0)
    drain(backlog, now=0, refuse="bad")
    for i in range(5):
        backlog.offer(row(f"job-{i}", 1), now=0)
    # the set-aside row went first, then the oldest waiting rows
    assert (backlog.waiting(), backlog.set_aside()) == (3, 0)
    assert (backlog.dropped, backlog.dropped_set_aside) == (3, 1)
    assert drain(backlog, now=10_000) == [("job-2", 1), ("job-3", 1), ("job-4", 1)]


def test_set_aside_rows_filling_capacity_never_keep_a_new_row_out() -> None:
    backlog = Backlog(capacity=3)
    for i in range(3):
        backlog.offer(row(f"bad-{i}", 1), now=i)
        drain(backlog, now=i, refuse=f"bad-{i}")
    assert (backlog.waiting(), backlog.set_aside()) == (0, 3)
    assert backlog.offer(row("good", 1), now=5) is True
    assert (backlog.waiting(), backlog.set_aside()) == (1, 2)
    assert (backlog.dropped, backlog.dropped_set_aside) == (1, 1)  # bad-0: set aside longest
    assert drain(backlog, now=5) == [("good", 1)]
    assert drain(backlog, now=10_000) == [("bad-1", 1), ("bad-2", 1)]
    assert backlog.offer(row("bad-0", 1), now=10_001) is True  # the resync offers it again


def test_the_oldest_waiting_row_is_dropped_only_when_none_is_set_aside() -> None:
    backlog = Backlog(capacity=2)
    for i in range(4):
        backlog.offer(row(f"job-{i}", 1), now=0)
    assert (backlog.dropped, backlog.dropped_set_aside) == (2, 0)
    assert drain(backlog, now=0) == [("job-2", 1), ("job-3", 1)]


def test_due_set_aside_rows_take_turns_with_waiting_rows() -> None:
    backlog = Backlog()
    for i in range(3):
        backlog.offer(row(f"bad-{i}", 1), now=0)
    for _ in range(3):
        backlog.refused(backlog.next(0) or {}, REFUSED, now=0)
    for i in range(4):
        backlog.offer(row(f"job-{i}", 1), now=10)
    assert backlog.next(29) == row("job-0", 1)  # none due yet
    # all three fall due together (as after a restart): neither kind waits for the other
    assert drain(backlog, now=30) == [
        ("bad-0", 1),
        ("job-0", 1),
        ("bad-1", 1),
        ("job-1", 1),
        ("bad-2", 1),
        ("job-2", 1),
        ("job-3", 1),
    ]


def test_a_refused_retry_counts_as_its_turn() -> None:
    backlog = Backlog()
    for key in ("bad", "worse"):
        backlog.offer(row(key, 1), now=0)
        backlog.refused(backlog.next(0) or {}, REFUSED, now=0)
    for i in range(2):
        backlog.offer(row(f"job-{i}", 1), now=0)
    tries = []
    for _ in range(4):
        found = backlog.next(30) or {}
        tries.append(found["id"])
        if found["id"].startswith("job"):
            backlog.written(found, now=30)
        else:
            backlog.refused(found, REFUSED, now=30)  # set aside again, due at 90
    assert tries == ["bad", "job-0", "worse", "job-1"]
    assert backlog.next(30) is None


def test_the_row_handed_out_comes_back_until_its_outcome_is_known() -> None:
    backlog = Backlog()
    backlog.offer(row("bad", 1), now=0)
    backlog.refused(backlog.next(0) or {}, REFUSED, now=0)
    backlog.offer(row("job-0", 1), now=0)
    assert backlog.next(30) == row("bad", 1)  # the database unavailable: no outcome
    assert backlog.next(31) == row("bad", 1)
