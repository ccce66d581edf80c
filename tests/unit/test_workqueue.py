"""The work queue coalesces bursts and never hands one key to two workers."""

from __future__ import annotations

import threading

from controller.workqueue import WorkQueue, start_workers
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
    queue: WorkQueue[int] = WorkQueue()
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
    queue.add(3)  # as the resync would: processed again after its failure
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
