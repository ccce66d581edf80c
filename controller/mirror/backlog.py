"""Pure: the mirror's backlog, the rows not yet in the database.

The newest row of each job waits here (oldest first) until written. A row the database refuses
for its content is *set aside* with the database's message and tried again on its own backoff
(``retry_delay``), so it never holds up another row; a newer row of the same job replaces it
and is tried at once. Rows whose retry time has come take turns with waiting rows (one each
while both kinds are ready), so neither kind holds up the other. Past ``capacity`` the row set
aside longest ago is dropped first, and only when none is set aside the oldest waiting row: a
new row always gets in, and the operator's periodic resync offers every job's row again. No
clock, thread or I/O here: the caller passes ``now`` (monotonic seconds) and holds a lock
around every call.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

FIRST_RETRY = 30.0
MAX_RETRY = 600.0
# Which kind of row was dropped past capacity (the ``kind`` label of the operator's
# omvee_mirror_rows_dropped_total counter).
SET_ASIDE = "SetAside"
WAITING = "Waiting"


def retry_delay(refusals: int, first: float = FIRST_RETRY, cap: float = MAX_RETRY) -> float:
    """Seconds before a job whose rows were refused ``refusals`` times in a row (>= 1) is tried
    again: ``first``, doubling, at most ``cap`` (30, 60, 120, 240, 480, 600, 600... s)."""
    return min(first * 2.0 ** max(refusals - 1, 0), cap)


@dataclass(frozen=True)
class Refusal:
    """Why a job's row is set aside: the database's ``message``, the number of ``refusals`` of
    the job's rows in a row, and the monotonic time (seconds) of the next try."""

    message: str
    refusals: int
    retry_at: float


class Backlog:
    """Rows keyed by ``row["id"]`` (the job id), ordered by ``row["revision"]`` (an int)."""

    def __init__(
        self,
        capacity: int = 10_000,
        remember: int = 100_000,
        first_retry: float = FIRST_RETRY,
        max_retry: float = MAX_RETRY,
    ) -> None:
        self.capacity = capacity  # rows held, waiting and set aside together
        self.remember = remember  # job ids whose written revision is remembered
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.dropped = 0  # rows dropped past capacity (the next resync offers them again)
        self.dropped_set_aside = 0  # of which set-aside rows (the rest were waiting)
        self._waiting: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._aside: dict[str, dict[str, Any]] = {}
        self._refusals: dict[str, Refusal] = {}  # of jobs not written since their refusal
        self._retries: list[tuple[float, str]] = []  # heap of (retry_at, job id); may be stale
        self._written: OrderedDict[str, int] = OrderedDict()  # job id -> revision written
        # job id -> when its row first fell behind: the start of its mirror lag
        self._behind_since: dict[str, float] = {}
        # whether the last row written or refused was a set-aside row's retry: when both kinds
        # are ready, ``next`` hands out the other kind, so the two take turns
        self._retried_last = False
        self._retrying: dict[str, Any] | None = None  # the set-aside row ``next`` handed out

    def waiting(self) -> int:
        """Rows to write as soon as the database takes them (set-aside rows not included)."""
        return len(self._waiting)

    def set_aside(self) -> int:
        """Rows the database refused, waiting for their retry time."""
        return len(self._aside)

    def newer(self, row: dict[str, Any]) -> bool:
        """Whether ``row`` is newer than what is written or held for its job."""
        key, revision = row["id"], row["revision"]
        if self._written.get(key, -1) >= revision:
            return False
        held = self._waiting.get(key) or self._aside.get(key)
        return held is None or held["revision"] < revision

    def offer(self, row: dict[str, Any], now: float) -> bool:
        """Hold ``row`` if it is newer (see ``newer``); returns whether it was. It replaces the
        job's held row, set aside or not, and waits behind the rows already waiting. Past
        ``capacity`` one row is dropped (counted in ``dropped``): the one set aside longest ago
        (also counted in ``dropped_set_aside``), else the oldest waiting row, which is ``row``
        itself only when ``capacity`` is 0."""
        if not self.newer(row):
            return False
        key = row["id"]
        self._aside.pop(key, None)
        self._waiting[key] = row
        self._waiting.move_to_end(key)
        self._behind_since.setdefault(key, now)
        if len(self._waiting) + len(self._aside) > self.capacity:
            if self._aside:  # refused rows go first: they must not crowd out rows that can go in
                self._forget(next(iter(self._aside)))
                self.dropped_set_aside += 1
            else:
                self._forget(next(iter(self._waiting)))
            self.dropped += 1
        return True

    def next(self, now: float) -> dict[str, Any] | None:
        """The row to write now: a set-aside row whose retry time has come (the earliest such
        time first) or the oldest waiting row, taking turns while both are ready (the kind not
        written or refused last goes); None when there is neither. The row stays held until
        ``written`` or ``refused`` says what became of it."""
        due = self._due(now)
        head = next(iter(self._waiting.values()), None)
        if due is not None and (head is None or not self._retried_last):
            self._retrying = due
            return due
        self._retrying = None
        return head

    def next_batch(self, now: float, limit: int) -> list[dict[str, Any]]:
        """The rows to write now in one round trip: a due set-aside row alone (see ``next``),
        else up to ``limit`` waiting rows, oldest first (one per job: the backlog holds one);
        [] when there are none. They stay held until ``written`` or ``refused``."""
        row = self.next(now)
        if row is None:
            return []
        if self._retrying is row or limit <= 1:
            return [row]
        return list(itertools.islice(self._waiting.values(), limit))

    def is_retry(self, row: dict[str, Any]) -> bool:
        """Whether ``row`` is the set-aside row ``next`` last handed out for its retry."""
        return self._retrying is row

    def _due(self, now: float) -> dict[str, Any] | None:
        """The set-aside row whose retry time came first and has come; None when none has."""
        while self._retries and self._retries[0][0] <= now:
            retry_at, key = self._retries[0]
            refusal = self._refusals.get(key)
            if key in self._aside and refusal is not None and refusal.retry_at == retry_at:
                return self._aside[key]
            heapq.heappop(self._retries)  # stale: written, replaced, dropped or set aside anew
        return None

    def next_retry_in(self, now: float) -> float | None:
        """Seconds until a set-aside row may be due (0 when one is; sometimes early, never
        late: a row written or replaced meanwhile leaves its time behind); None when none."""
        return max(0.0, self._retries[0][0] - now) if self._retries else None

    def written(self, row: dict[str, Any], now: float) -> tuple[float | None, Refusal | None]:
        """Record that ``row`` is in the database. Returns its job's mirror lag in seconds (None
        when a newer row of the job is held: the job is still behind) and the job's refusal
        before this write (None when its rows were not being refused)."""
        key = row["id"]
        refusal = self._refusals.pop(key, None)
        self._retried_last = self._retrying is row
        lag = None
        if self._held(row):
            self._waiting.pop(key, None)
            self._aside.pop(key, None)
            since = self._behind_since.pop(key, None)
            lag = None if since is None else now - since
        self._written[key] = max(self._written.get(key, -1), row["revision"])
        self._written.move_to_end(key)
        if len(self._written) > self.remember:
            self._written.popitem(last=False)
        return lag, refusal

    def refused(self, row: dict[str, Any], message: str, now: float) -> tuple[Refusal, bool] | None:
        """Set ``row`` aside: the database refused it with ``message``. Returns the refusal and
        whether it is news (the job's first refusal, or another message than the last: worth
        a log line); None when ``row`` is no longer held: a newer row of the job came meanwhile
        (that one goes next), or it was dropped past capacity."""
        self._retried_last = self._retrying is row
        if not self._held(row):
            return None
        key = row["id"]
        before = self._refusals.get(key)
        count = (before.refusals if before else 0) + 1
        refusal = Refusal(
            message, count, now + retry_delay(count, self.first_retry, self.max_retry)
        )
        self._refusals[key] = refusal
        self._waiting.pop(key, None)
        self._aside[key] = row
        heapq.heappush(self._retries, (refusal.retry_at, key))
        return refusal, before is None or before.message != message

    def _held(self, row: dict[str, Any]) -> bool:
        key = row["id"]
        return self._waiting.get(key) is row or self._aside.get(key) is row

    def _forget(self, key: str) -> None:
        self._waiting.pop(key, None)
        self._aside.pop(key, None)
        self._refusals.pop(key, None)
        self._behind_since.pop(key, None)
