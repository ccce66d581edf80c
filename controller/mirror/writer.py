"""Deliver mirror rows in the background: newest row per job, retried with backoff, bounded.

The operator never waits on the database: ``offer`` only records the newest row of a job, and
one thread writes them. Two kinds of failure are told apart (``sinks.failure_reason``):

- the database is *unavailable* (unreachable, timed out, a 5xx): no row can go in, so rows wait
  (one per job), the writer retries with backoff, and the log says the mirror is behind, then
  when it caught up;
- the database *refuses a row* for its content (a data error, a constraint): that row is set
  aside with the database's message, logged once, counted as ``Rejected``, and tried again on
  its own backoff (30 s doubling to 10 min); every other row goes on. A newer row of the same
  job replaces it and is tried at once. Set-aside rows whose retry time has come take turns with
  waiting rows (one each while both are ready), so many falling due together (after a restart)
  hold up no waiting row.

Rows held, waiting and set aside together, are at most ``capacity``: past that the row set aside
longest ago is dropped, else the oldest waiting row, so set-aside rows never keep a new row out;
each drop is counted (``omvee_mirror_rows_dropped_total{kind}``) and the next resync offers the
dropped row again.

What the database cannot store at all (U+0000, unpaired surrogates) is replaced before a row is
held (``rows.storable``), and the log says where.

Waiting rows go in batches (up to ``batch_size`` jobs' rows in one round trip, ``write_many``):
through a burst of thousands of jobs the lag stays that of one round trip, not of the queue.
A batch is all or none; when the database refuses one (a row's content), its rows are written
again one by one, so only the refused row is set aside and the others go in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, cast

from controller.metrics.registry import OperatorMetrics
from controller.mirror.backlog import FIRST_RETRY, MAX_RETRY, SET_ASIDE, WAITING, Backlog
from controller.mirror.rows import storable
from controller.mirror.sinks import REJECTED, BatchSink, Sink, error_message, failure_reason
from controller.mirror.tablecheck import TableMismatch

log = logging.getLogger("controller.mirror")


class MirrorWriter:
    """Holds the newest row of each job and writes them to ``sink`` from one thread (``start``),
    at most ``capacity`` rows held; ``remember``: jobs whose written revision is kept, to
    refuse older rows. Never raises to ``offer``'s caller; see the module's docstring."""

    def __init__(
        self,
        sink: Sink,
        capacity: int = 10_000,
        max_backoff: float = 30.0,
        remember: int = 100_000,
        metrics: OperatorMetrics | None = None,
        first_retry: float = FIRST_RETRY,
        max_retry: float = MAX_RETRY,
        batch_size: int = 200,
        check: Callable[[], None] | None = None,
    ) -> None:
        """``max_backoff``: the longest wait (seconds) between tries while the database is
        unavailable; ``first_retry`` and ``max_retry``: a refused row's backoff (seconds);
        ``batch_size``: rows written in one round trip at most (1 with a sink that has no
        ``write_many``); ``check``: run before the first write until it returns (the table
        check the operator could not do at start: ``tablecheck.check_table``); while it
        raises, rows wait and nothing is written."""
        self.sink = sink
        self.batch_size = batch_size if hasattr(sink, "write_many") else 1
        self._one_by_one = 0  # rows of a refused batch still to write one at a time
        self.metrics = metrics
        self.max_backoff = max_backoff
        self.remember = remember
        self._backlog = Backlog(capacity, remember, first_retry, max_retry)
        self._changed = threading.Condition()
        # job id -> where characters were last replaced in its row (logged when it changes)
        self._replaced: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self.behind_since: float | None = None
        self.failures = 0
        self.check = check

    @property
    def dropped(self) -> int:
        """Rows dropped past ``capacity`` so far, set aside or waiting."""
        return self._backlog.dropped

    def offer(self, row: dict[str, Any]) -> None:
        """Hold ``row`` (a ``rows.build_row`` dict) for writing unless its job's row is already
        written or held at that revision or a newer one. Past ``capacity`` one held row is
        dropped (see the module's docstring)."""
        with self._changed:
            if not self._backlog.newer(row):
                return
            safe, replaced = storable(row)
            dropped, dropped_set_aside = self._backlog.dropped, self._backlog.dropped_set_aside
            self._backlog.offer(safe, time.monotonic())
            dropped_set_aside = self._backlog.dropped_set_aside - dropped_set_aside
            dropped_waiting = self._backlog.dropped - dropped - dropped_set_aside
            self._changed.notify()
            news = bool(replaced) and self._replaced.get(row["id"]) != tuple(replaced)
            if replaced:
                self._replaced[row["id"]] = tuple(replaced)
                self._replaced.move_to_end(row["id"])
                if len(self._replaced) > self.remember:
                    self._replaced.popitem(last=False)
        if self.metrics is not None:
            for kind, count in ((SET_ASIDE, dropped_set_aside), (WAITING, dropped_waiting)):
                if count:
                    self.metrics.mirror_dropped(kind, count)
        if news:
            log.warning(
                "Mirror row of job %s (OmveeJob %s/%s): replaced characters PostgreSQL cannot "
                "store (U+0000, unpaired surrogates) with U+FFFD in %s",
                row["id"],
                row.get("k8s_namespace"),
                row.get("k8s_name"),
                ", ".join(replaced),
            )

    def pending(self) -> int:
        """Rows waiting to be written as soon as the database takes them (``set_aside`` rows
        not included): the ``omvee_mirror_rows_waiting`` gauge."""
        with self._changed:
            return self._backlog.waiting()

    def set_aside(self) -> int:
        """Rows the database refused, waiting for their own retry: the
        ``omvee_mirror_rows_set_aside`` gauge."""
        with self._changed:
            return self._backlog.set_aside()

    def _next(self, stop: threading.Event) -> list[dict[str, Any]] | None:
        """The rows to write next (see ``Backlog.next_batch``); None once ``stop`` is set."""
        with self._changed:
            while not stop.is_set():
                now = time.monotonic()
                limit = 1 if self._one_by_one > 0 else self.batch_size
                rows = self._backlog.next_batch(now, limit)
                if rows:
                    if not self._backlog.is_retry(rows[0]):  # a retry is no row of the batch
                        self._one_by_one = max(0, self._one_by_one - 1)
                    return rows
                self._one_by_one = 0
                retry_in = self._backlog.next_retry_in(now)
                self._changed.wait(0.5 if retry_in is None else min(0.5, retry_in))
            return None

    def _written(self, row: dict[str, Any]) -> None:
        with self._changed:
            lag, refusal = self._backlog.written(row, time.monotonic())
        if self.metrics is not None and lag is not None:
            self.metrics.mirror_written(lag)
        if refusal is not None:
            log.warning(
                "Mirror wrote the row of job %s after %d refusal(s) by the database",
                row["id"],
                refusal.refusals,
            )

    def _refused(self, row: dict[str, Any], error: Exception) -> None:
        message = error_message(error)
        with self._changed:
            outcome = self._backlog.refused(row, message, time.monotonic())
        if outcome is None:  # a newer row of the job came meanwhile (it goes next), or dropped
            return
        refusal, news = outcome
        (log.error if news else log.debug)(
            "Mirror cannot write the row of job %s (OmveeJob %s/%s, revision %s): %s refused it: "
            "%s; set aside, trying again in %.0fs; other rows go on",
            row["id"],
            row.get("k8s_namespace"),
            row.get("k8s_name"),
            row["revision"],
            self.sink.describe(),
            message,
            refusal.retry_at - time.monotonic(),
        )

    def run(self, stop: threading.Event) -> None:
        """Write rows until ``stop`` is set (the thread ``start`` runs)."""
        first_backoff = min(1.0, self.max_backoff)
        backoff = first_backoff
        last_report = 0.0
        if self.check is not None and not self._checked(stop):
            return
        while (rows := self._next(stop)) is not None:
            row = rows[0]
            try:
                if len(rows) == 1:
                    self.sink.write(row)
                else:
                    cast(BatchSink, self.sink).write_many(rows)
            except Exception as error:  # unreachable, timed out, or refused: see failure_reason
                reason = failure_reason(error)
                if reason == REJECTED and len(rows) > 1:  # which row? one at a time tells
                    with self._changed:
                        self._one_by_one = len(rows)
                    continue
                self.failures += 1
                if self.metrics is not None:
                    self.metrics.mirror_failed(reason)
                if reason == REJECTED:  # the database answers: this row only is the trouble
                    self._refused(row, error)
                    backoff = first_backoff
                    last_report = self._caught_up(last_report)
                    continue
                now = time.monotonic()
                if self.behind_since is None:
                    self.behind_since = now
                if now - last_report >= 30 or last_report == 0.0:
                    last_report = now
                    log.warning(
                        "Mirror is behind: cannot write to %s (%s); %d job rows waiting, "
                        "retrying in %.0fs",
                        self.sink.describe(),
                        error_message(error),
                        self.pending(),
                        backoff,
                    )
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            for written in rows:
                self._written(written)
            backoff = first_backoff
            last_report = self._caught_up(last_report)

    def _checked(self, stop: threading.Event) -> bool:
        """Run ``check`` until it returns (True), or ``stop`` is set (False). Its failures
        are logged (a table that cannot hold the rows as an error, every 5 minutes; an
        unreachable database as a warning, every 30 s), retried up to every ``max_backoff``
        seconds; meanwhile rows wait."""
        assert self.check is not None
        backoff = min(1.0, self.max_backoff)
        last_report, last_text = 0.0, ""
        while not stop.is_set():
            try:
                self.check()
            except Exception as error:
                mismatch = isinstance(error, TableMismatch)
                text = (
                    str(error)
                    if mismatch
                    else f"cannot reach {self.sink.describe()} ({error_message(error)})"
                )
                now = time.monotonic()
                if text != last_text or now - last_report >= (300 if mismatch else 30):
                    last_report, last_text = now, text
                    (log.error if mismatch else log.warning)(
                        "Mirror writes nothing until the jobs table is checked: %s; "
                        "%d job rows waiting, checking again in %.0fs",
                        text,
                        self.pending(),
                        backoff,
                    )
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            log.info(
                "Mirror checked the jobs table in %s: it holds every row", self.sink.describe()
            )
            return True
        return False

    def _caught_up(self, last_report: float) -> float:
        """Log once the rows that waited out an outage are all written; returns the time of the
        last "behind" report (0 once caught up)."""
        if self.behind_since is None or self.pending() > 0:
            return last_report
        aside = self.set_aside()
        log.warning(
            "Mirror caught up after %.0fs behind: every job row is current in %s%s",
            time.monotonic() - self.behind_since,
            self.sink.describe(),
            f", but for {aside} row(s) set aside (refused by the database)" if aside else "",
        )
        self.behind_since = None
        return 0.0

    def start(self, stop: threading.Event) -> threading.Thread:
        """Start the daemon thread ``mirror`` running ``run`` until ``stop`` is set; returns it."""
        thread = threading.Thread(target=self.run, args=(stop,), name="mirror", daemon=True)
        thread.start()
        return thread
