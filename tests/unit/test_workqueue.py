"""The work queue coalesces bursts, never hands one key to two workers, and retries a key that
failed after a per-key backoff that a success resets."""

from __future__ import annotations

import threading

import pytest

from controller.workqueue import (
    FIRST_RETRY_SECONDS,
    MAX_RETRY_SECONDS,
    URGENT_RUN,
    Requeue,
    WorkQueue,
    retry_delay,
    start_workers,
)
from tests.waiting import wait_for


def test_a_key_added_many_times_while_waiting_is_processed_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ("a", "b", "a", "a", "b", "c"):
        queue.add(key)
    assert [queue.get(), queue.get(), queue.get()] == ["a", "b", "c"]
    assert len(queue) == 0


def test_a_key_added_while_in_progress_comes_back_after_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert queue.get() == "a"
    queue.add("a")  # an event arrives while a worker handles "a"
    assert len(queue) == 0  # not handed to a second worker meanwhile
    queue.done("a")
    assert queue.get() == "a"


def test_close_releases_waiting_workers() -> None:
    queue: WorkQueue[str] = WorkQueue()
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get()))
    waiter.start()
    queue.close()
    waiter.join(5)
    assert got == [None]


def test_workers_survive_errors_and_never_overlap_on_a_key() -> None:
    queue: WorkQueue[int] = WorkQueue(first_retry=0.01)
    running: set[int] = set()
    overlaps: list[int] = []
    done: list[int] = []
    errors: list[int] = []
    guard = threading.Lock()

    def work(key: int) -> None:
        with guard:
            if key in running:
                overlaps.append(key)
            running.add(key)
        try:
            if key == 3 and 3 not in errors:
                raise RuntimeError("API server away")
            done.append(key)
        finally:
            with guard:
                running.discard(key)

    start_workers(queue, 4, work, lambda key, _: errors.append(key))
    for _ in range(50):
        for key in range(6):
            queue.add(key)
    wait_for(lambda: errors == [3], "key 3 to fail once", 10)
    # no event, no resync: the queue itself brings key 3 back after its backoff
    wait_for(lambda: set(done) == set(range(6)) and len(queue) == 0, "all keys processed", 10)
    queue.close()
    assert overlaps == []
    assert errors == [3]


def test_add_after_hands_the_key_out_once_its_delay_passed() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("late", 0.3)
    queue.add_after("soon", 0.05)
    assert len(queue) == 0
    assert queue.get() == "soon"
    queue.done("soon")
    assert len(queue) == 0  # "late" is not due yet
    assert queue.get() == "late"
    queue.close()


def test_add_after_keeps_one_due_time_per_key_the_earliest() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(50):  # a recheck asked by every reconcile of a job that keeps waiting
        queue.add_after("waiting", 0.2)
    queue.add_after("waiting", 0.05)  # an earlier one wins
    assert queue.get() == "waiting"
    queue.done("waiting")
    queue.add_after("marker", 0.4)  # due after every later due time of "waiting"
    assert queue.get() == "marker"  # and none of those brought "waiting" back first
    assert len(queue) == 0
    queue.close()


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (7, 32.0), (8, 60.0), (9, 60.0), (10_000, 60.0), (0, 0.5)],
)
def test_retry_delay_doubles_from_half_a_second_to_a_minute(failures: int, seconds: float) -> None:
    assert (FIRST_RETRY_SECONDS, MAX_RETRY_SECONDS) == (0.5, 60.0)
    assert retry_delay(failures) == seconds


def test_failures_count_per_key_until_forgotten() -> None:
    queue: WorkQueue[str] = WorkQueue(first_retry=10, max_retry=40)
    assert [queue.add_rate_limited("a") for _ in range(4)] == [10, 20, 40, 40]
    assert queue.add_rate_limited("b") == 10  # another key's failures are its own
    assert (queue.failures("a"), queue.failures("b")) == (4, 1)
    queue.forget("a")
    assert queue.failures("a") == 0
    assert queue.add_rate_limited("a") == 10  # starts over
    assert len(queue) == 0  # every one of them waits out its backoff
    queue.close()


def test_a_failing_key_comes_back_by_itself_backing_off_and_a_success_resets_it() -> None:
    queue: WorkQueue[str] = WorkQueue(first_retry=0.02, max_retry=1.0)
    outcomes = iter([RuntimeError("API server away"), RuntimeError("still away"), None, None])
    requeues: list[tuple[str, Requeue]] = []
    reconciled: list[str] = []

    def work(key: str) -> None:
        reconciled.append(key)
        error = next(outcomes)
        if error is not None:
            raise error

    start_workers(queue, 2, work, lambda key, requeue: requeues.append((key, requeue)))
    queue.add("job")
    wait_for(lambda: len(reconciled) == 3, "two failures, then a success", 10)
    assert [(r.reason, r.after, str(r.error)) for _, r in requeues] == [
        (Requeue.ERROR, 0.02, "API server away"),
        (Requeue.ERROR, 0.04, "still away"),  # doubled
    ]
    wait_for(lambda: queue.failures("job") == 0, "the success to forget the failures", 10)
    queue.add("job")  # a later event: reconciled at once, nothing is requeued
    wait_for(lambda: len(reconciled) == 4, "the event's reconcile", 10)
    assert len(requeues) == 2
    queue.close()


def test_an_event_reconciles_a_key_at_once_even_while_it_backs_off() -> None:
    queue: WorkQueue[str] = WorkQueue(first_retry=3600)  # its retry would come in an hour
    reconciled: list[str] = []
    failed = threading.Event()

    def work(key: str) -> None:
        reconciled.append(key)
        if not failed.is_set():
            failed.set()
            raise RuntimeError("API server away")

    start_workers(queue, 1, work, lambda *_: None)
    queue.add("job")
    wait_for(failed.is_set, "the first reconcile to fail", 10)
    queue.add("job")  # e.g. its pod changed
    wait_for(lambda: len(reconciled) == 2, "the event's reconcile, not an hour later", 10)
    wait_for(lambda: queue.failures("job") == 0, "the success to forget the failure", 10)
    queue.close()


def test_a_recheck_asked_by_the_work_is_reported_and_comes_back() -> None:
    queue: WorkQueue[str] = WorkQueue()
    reconciled: list[str] = []
    requeues: list[Requeue] = []

    def work(key: str) -> float | None:
        reconciled.append(key)
        return 0.02 if len(reconciled) == 1 else None  # e.g. its Job has no pod yet

    start_workers(queue, 1, work, lambda _, requeue: requeues.append(requeue))
    queue.add("job")
    wait_for(lambda: len(reconciled) == 2, "the recheck", 10)
    assert requeues == [Requeue(Requeue.RECHECK, 0.02)]
    assert queue.failures("job") == 0
    queue.close()


def test_urgent_keys_go_before_the_others_and_a_waiting_key_keeps_its_place() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ("update-1", "update-2"):
        queue.add(key)
    queue.add("new-1", urgent=True)
    queue.add("update-1", urgent=True)  # already waiting: one entry, where it was
    queue.add("new-2", urgent=True)
    assert len(queue) == 4
    taken = [queue.get() for _ in range(4)]
    assert taken == ["new-1", "new-2", "update-1", "update-2"]
    queue.add("new-1", urgent=True)  # while in progress: comes back urgent after done
    queue.add("later")
    queue.done("new-1")
    assert [queue.get(), queue.get()] == ["new-1", "later"]


def test_a_burst_of_urgent_keys_lets_one_other_through_every_few() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("update")
    for i in range(10):
        queue.add(f"new-{i}", urgent=True)
    taken = [queue.get() for _ in range(11)]
    assert taken.index("update") == URGENT_RUN
