"""A ``local`` run: the job's own code in a child process of the app, writing its `jobs` row.

The app's rollout switch (mode ``local`` for a job type) starts ``python -m jobimages.<package>``
with $OMVEE_JOB and OMVEE_RUN_LOCAL=true instead of submitting an OmveeJob. There is no OmveeJob
and no operator then, so the run writes the row the operator's mirror would have written, in
the same shape (controller.mirror.rows.local_row) and through the same SQL function,
public.mirror_job_status(): the app reads one table either way.

- ``running`` (progress 0, started_at) before the work starts;
- progress while it runs, at most once a second unless the phase changes (ProgressThrottle, as a
  pod reports); a write that fails is logged and the work goes on: the next write carries the
  newest state;
- at the end ``succeeded`` (progress 100, the result) or ``failed`` (reason PermanentFailure for
  exit 65, else Failed, with the message the runtime noted), finished_at. This is the write the
  app waits for: it is tried again with backoff while the database is unavailable.

The row goes to OMVEE_MIRROR_DSN (PostgreSQL) or SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY,
in the words of OMVEE_MIRROR_STATUS_WORDS, as the operator's mirror. The process exits with
the job's code (0, 65 or 75) whether or not the last write went in; a local run is one attempt,
never retried.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from api.envsettings import SettingsError
from api.statuswords import OURS, StatusWords, status_words
from controller.mirror.rows import local_row, storable
from controller.mirror.sinks import (
    UNAVAILABLE,
    PostgresSink,
    Sink,
    SupabaseSink,
    error_message,
    failure_reason,
)
from jobimages.runtime.exitcodes import (
    PERMANENT,
    SUCCESS,
    JobError,
    PermanentError,
    RetryableError,
)
from jobimages.runtime.job import Job
from jobimages.runtime.progress import ProgressThrottle
from jobimages.runtime.run import Work, execute
from jobimages.runtime.settings import local_mirror_settings

log = logging.getLogger("jobimages")

# The final write: this many tries, waiting 0.5, 1, 2, 4... seconds (at most 8) between them
# while the database is unavailable (about 15 s in all, plus each try's connect timeout).
FINAL_ATTEMPTS = 6
FINAL_WAIT_SECONDS = 0.5
FINAL_WAIT_MAX_SECONDS = 8.0


def now_iso() -> str:
    """The current time, UTC, ISO 8601 (``2026-11-29T20:58:00.123456+00:00``)."""
    return datetime.now(UTC).isoformat()


def job_document(job: Job) -> dict[str, Any]:
    """``job`` as the job document the app sent ($OMVEE_JOB): type, projectId, jobId, input,
    run."""
    return {
        "type": job.type,
        "projectId": job.project_id,
        "jobId": job.job_id,
        "input": job.input,
        "run": job.run,
    }


class MirrorReporter:
    """A Reporter (jobimages.runtime.progress) into the `jobs` row of ``job`` (its job
    document), written through ``sink`` (mirror_job_status()) in the app's ``words``. Each
    write sends the whole row as it stands, with the next ``revision`` (one above
    ``revision``, which ``run_local`` sets to the row's own: see rows.local_row). ``start``
    writes ``running``; progress reports write at most once per ``min_interval`` seconds
    unless the phase changes, never lowering progress; ``note`` writes its message as the
    progress message; ``result`` is kept for ``finish``, which writes the final row. A report
    never raises: a failed write is logged, and the next one carries the newest state. Safe
    to call from several threads."""

    def __init__(
        self,
        sink: Sink,
        job: dict[str, Any],
        words: StatusWords = OURS,
        *,
        min_interval: float = 1.0,
    ) -> None:
        self.sink, self.job, self.words = sink, job, words
        self.throttle = ProgressThrottle(min_interval)
        self.revision = 0
        self.started_at: str | None = None
        self.percent = 0
        self.progress_message: str | None = None
        self.noted: str | None = None
        self.outcome: dict[str, Any] | None = None
        self.where = f"running locally on {socket.gethostname()} (pid {os.getpid()})"
        self._lock = threading.Lock()

    def _row(self, exit_code: int | None = None, finished_at: str | None = None) -> dict[str, Any]:
        """The row as it stands, with the next revision."""
        self.revision += 1
        if exit_code is None:
            message = self.where
        elif exit_code == SUCCESS:
            message = "succeeded"
        else:
            message = self.noted or f"failed with exit code {exit_code}"
        return local_row(
            self.job,
            revision=self.revision,
            exit_code=exit_code,
            progress=100 if exit_code == SUCCESS else self.percent,
            progress_message=self.progress_message,
            message=message,
            result=self.outcome if exit_code == SUCCESS else None,
            started_at=self.started_at,
            finished_at=finished_at,
            words=self.words,
        )

    def _write(self, row: dict[str, Any]) -> str:
        """One write, of ``row`` made storable (characters PostgreSQL cannot hold replaced);
        the sink's errors propagate."""
        safe, replaced = storable(row)
        if replaced:
            log.warning(
                "Replaced characters the database cannot store in the jobs row of job %s: %s",
                self.job["jobId"],
                ", ".join(replaced),
            )
        return self.sink.write(safe)

    def _report(self) -> None:
        """Write the running row now; log a failure, never raise."""
        with self._lock:
            try:
                self._write(self._row())
            except Exception as error:  # a report is best effort; the work goes on
                log.warning(
                    "Could not write the jobs row of job %s to %s: %s",
                    self.job["jobId"],
                    self.sink.describe(),
                    error_message(error),
                )

    def start(self) -> None:
        """Write ``running`` with progress 0 and started_at now; never raises."""
        self.started_at = now_iso()
        self._report()

    def progress(self, percent: float, message: str) -> None:
        """Write ``percent`` (a whole number, clamped to 0-100) and ``message`` (its first
        256 characters) when the throttle admits the report; never raises."""
        value = max(0, min(100, int(percent)))
        if self.throttle.admit(value, message, time.monotonic()):
            self.percent = max(self.percent, value)
            self.progress_message = message[:256]
            self._report()

    def result(self, result: dict[str, Any]) -> None:
        """Keep the finished job's result document for the final row (``finish``)."""
        self.outcome = result

    def note(self, message: str) -> None:
        """``message`` on stderr and as the row's progress message (its first 256
        characters); kept as the message of a failed final row. Never raises."""
        sys.stderr.write(message + "\n")
        self.noted = message
        self.progress_message = message[:256]
        self._report()

    def finish(
        self,
        exit_code: int,
        *,
        attempts: int = FINAL_ATTEMPTS,
        wait: float = FINAL_WAIT_SECONDS,
        wait_max: float = FINAL_WAIT_MAX_SECONDS,
    ) -> str | None:
        """Write the final row for the run's ``exit_code``: succeeded (0: progress 100, the
        result) or failed (reason PermanentFailure for 65, else Failed; the noted message),
        finished_at now. A write that fails while the database is unavailable is tried again,
        up to ``attempts`` tries, waiting ``wait`` seconds doubling to ``wait_max``; a row the
        database refuses for its content is not. Returns what mirror_job_status() answered
        (inserted, updated, stale or final), or None when the row could not be written
        (logged); never raises."""
        finished_at = now_iso()

        def attempt() -> str:
            with self._lock:
                return self._write(self._row(exit_code, finished_at))

        def retrying(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "Could not write the final jobs row of job %s to %s (try %d of %d): %s",
                self.job["jobId"],
                self.sink.describe(),
                state.attempt_number,
                attempts,
                error_message(error) if isinstance(error, Exception) else "?",
            )

        try:
            answer = Retrying(
                stop=stop_after_attempt(attempts),
                wait=wait_exponential(multiplier=wait, max=wait_max),
                retry=retry_if_exception(_unavailable),
                before_sleep=retrying,
                reraise=True,
            )(attempt)
        except Exception as error:
            log.error(
                "Could not write the final jobs row of job %s to %s; the row stays as it was: %s",
                self.job["jobId"],
                self.sink.describe(),
                error_message(error),
            )
            return None
        if answer in ("stale", "final"):  # a newer run (a cluster one) or an ended one holds it
            log.warning(
                "The jobs row of job %s was not changed by its final write: %s",
                self.job["jobId"],
                answer,
            )
        return answer


def _unavailable(error: BaseException) -> bool:
    """Whether a failed write is worth another try: the database is unavailable (not a row
    it refuses for its content)."""
    return isinstance(error, Exception) and failure_reason(error) == UNAVAILABLE


@functools.cache
def sink_from_env() -> tuple[PostgresSink | SupabaseSink, StatusWords]:
    """The mirror a local run writes to (OMVEE_MIRROR_DSN, else SUPABASE_URL with
    SUPABASE_SERVICE_ROLE_KEY) and the app's status words (OMVEE_MIRROR_STATUS_WORDS).
    Read once per process (a local run is one job): the run's writes and its upstream's
    read share one connection. Raises PermanentError naming the variable that is missing or
    wrong (not cached)."""
    settings = local_mirror_settings()
    try:
        words = status_words()
    except SettingsError as error:
        raise PermanentError(f"the job is misconfigured: {error}") from None
    if settings.kind == "postgres":
        return PostgresSink(settings.mirror_dsn), words
    try:
        return SupabaseSink(settings.supabase_url, settings.supabase_service_role_key), words
    except Exception as error:  # supabase-py refuses a malformed URL or key at once
        raise PermanentError(
            f"the job is misconfigured: SUPABASE_URL or SUPABASE_SERVICE_ROLE_KEY: {error}"
        ) from None


def upstream_result(job: Job, upstream_id: str) -> dict[str, Any]:
    """The result of the earlier job ``upstream_id`` of ``job``'s project, read from its
    `jobs` row (a local run has no cluster to ask): whether that job ran locally or in the
    cluster, its row is where its result is. PermanentError when there is no such row in the
    project (another project's is answered like a missing one) or it has not succeeded;
    RetryableError when the database cannot be reached."""
    sink, words = sink_from_env()
    try:
        row = sink.read_row(upstream_id)
    except Exception as error:
        if _unavailable(error):
            raise RetryableError(
                f"reading job {upstream_id}'s row from {sink.describe()} failed: "
                f"{error_message(error)}"
            ) from None
        raise PermanentError(
            f"reading job {upstream_id}'s row from {sink.describe()} failed: {error_message(error)}"
        ) from None
    if row is None or str(row.get("project_id") or "").lower() != job.project_id.lower():
        raise PermanentError(
            f"there is no job {upstream_id} in project {job.project_id} to take input from"
        )
    if row.get("status") != words.word("succeeded") or not row.get("result"):
        raise PermanentError(
            f"job {upstream_id} has not succeeded (it is {row.get('status')}); "
            "nothing to take as input"
        )
    result: dict[str, Any] = row["result"]
    return result


def continuing(sink: PostgresSink | SupabaseSink, job: Job, words: StatusWords) -> tuple[int, int]:
    """Where a local run's writes start: (the revision of the job's row already there, the
    run). With no row, (0, ``job.run``). A row an earlier run left (a local run killed with
    the app, a cluster run, the app's own) is written above its revision, in its run, or,
    when that run had finished, as the next run (mirror_job_status() refuses a finished run
    going back to running). When the row cannot be read, (0, ``job.run``), logged. Raises
    PermanentError when the row is another project's (its writes would all be refused)."""
    try:
        row = sink.read_row(job.job_id)
    except Exception as error:
        log.warning(
            "Could not read the jobs row of job %s from %s (%s); writing from revision 1",
            job.job_id,
            sink.describe(),
            error_message(error),
        )
        return 0, job.run
    if row is None:
        return 0, job.run
    if str(row.get("project_id") or "").lower() != job.project_id.lower():
        raise PermanentError(
            f"job {job.job_id} is a job of another project: its jobs row is not this run's "
            "to write; use a new job id"
        )
    revision, run = int(row.get("revision") or 0), int(row.get("run") or 0)
    finished = row.get("status") in words.final()
    return revision, max(run + 1 if finished else run, job.run)


def run_local(work: Work, job: Job) -> int:
    """Run ``work`` for ``job`` as a local run: write ``running``, run it (``execute``: the
    results store is the runtime's, OMVEE_RESULTS_DIR etc.), write the final row (tried
    again while the database is unavailable). Returns the job's exit code (0, 65 or 75),
    also when a write failed (logged); 65 with nothing written when the mirror's settings
    are missing or wrong. Never raises."""
    try:
        sink, words = sink_from_env()
    except JobError as error:
        sys.stderr.write(f"permanent failure: {error}\n")
        return PERMANENT
    log.info(
        "Running job %s (%s) locally; its jobs row goes to %s",
        job.job_id,
        job.type,
        sink.describe(),
    )
    document = job_document(job)
    try:
        revision, run = continuing(sink, job, words)
    except JobError as error:
        sys.stderr.write(f"permanent failure: {error}\n")
        return PERMANENT
    if run != job.run:
        log.info("Job %s ran before: this local run is its run %d", job.job_id, run)
        document["run"] = run
        job = replace(job, run=run)
    reporter = MirrorReporter(sink, document, words)
    reporter.revision = revision
    reporter.start()
    code = execute(work, job, reporter)
    reporter.finish(code)
    return code
