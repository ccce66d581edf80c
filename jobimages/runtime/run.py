"""The entrypoint every job container shares: run the work, map failures to exit codes.

Exit 0 on success; 65 (permanent: bad input, unsupported media; not retried) or 75 (retryable)
otherwise, with one clear line on stderr and in the OmveeJob's progress message. SIGTERM (a
cancel, a deadline, a drained node) stops the work and exits retryable.
"""

from __future__ import annotations

import logging
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from jobimages.runtime.exitcodes import PERMANENT, RETRYABLE, SUCCESS, JobError
from jobimages.runtime.job import Job
from jobimages.runtime.progress import ConsoleReporter, KubeReporter, Reporter
from jobimages.runtime.results import ResultStore, results_from_env
from jobimages.runtime.settings import runtime_settings

log = logging.getLogger("jobimages")


class Terminated(JobError):
    """SIGTERM arrived: stop and exit retryable."""


@dataclass
class Context:
    """What a job's work is given: the job, where to report progress and results, the
    results store, and a scratch folder removed when the work ends."""

    job: Job
    reporter: Reporter
    results: ResultStore
    workdir: Path

    def key(self, filename: str) -> str:
        """Where a result file goes: <project>/<job>/run-<n>/<file>."""
        return f"{self.job.project_id}/{self.job.job_id}/run-{self.job.run}/{filename}"


Work = Callable[[Context], dict[str, Any]]


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated("stopped by SIGTERM (cancelled, deadline or node drain)")


def execute(
    work: Work, job: Job, reporter: Reporter | None = None, results: ResultStore | None = None
) -> int:
    """Run ``work`` for ``job``; returns the exit code (never raises)."""
    if reporter is None:
        reporter = (
            KubeReporter(job.name, job.namespace, job.run)
            if job.name and job.namespace
            else ConsoleReporter()
        )
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with tempfile.TemporaryDirectory(prefix="omvee-") as workdir:
            context = Context(job, reporter, results or results_from_env(), Path(workdir))
            result = work(context)
        reporter.progress(100, "done")
        reporter.result(result)
        return SUCCESS
    except JobError as error:
        kind = "permanent failure" if error.exit_code == PERMANENT else "failed"
        message = f"{kind}: {error}"
        reporter.note(message)
        return error.exit_code
    except Exception as error:  # a bug or an unexpected condition: worth another attempt
        log.exception("job failed")
        reporter.note(f"failed: {type(error).__name__}: {error}")
        return RETRYABLE
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(work: Work) -> None:
    """The container's entrypoint: read the job from the environment, run ``work`` and exit
    with its code (SystemExit: 0, 65 permanent or 75 retryable); a bad $OMVEE_JOB or runtime
    setting exits 65. With OMVEE_RUN_LOCAL=true (a child process of the app, no OmveeJob)
    the run writes its own `jobs` row (jobimages.runtime.localrun)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        job = Job.from_env()
        local = runtime_settings().run_local
    except JobError as error:
        sys.stderr.write(f"permanent failure: {error}\n")
        raise SystemExit(PERMANENT) from None
    if local:
        # imported here: it needs controller.mirror, which only a local run uses
        from jobimages.runtime.localrun import run_local

        raise SystemExit(run_local(work, job))
    raise SystemExit(execute(work, job))
