"""One function per `omvee` command: ask the backend, print a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from api.v1alpha1.public import FINAL
from api.v1alpha1.types import Phase
from controller.cli import tables
from controller.cli.ages import format_age
from controller.cli.backend import Backend, CliError
from controller.cli.stats import summarize


def now() -> datetime:
    """The current time, timezone-aware (UTC): what ages are measured against."""
    return datetime.now(UTC)


def emit(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    """Print ``data`` as indented JSON with ``-o json``, else ``text()`` (called only then)."""
    if args.output == "json":
        print(json.dumps(data, indent=2, sort_keys=False))
    else:
        print(text())


def jobs_list(args: argparse.Namespace, backend: Backend) -> int:
    """`omvee jobs list`: newest first, at most ``--limit`` (0: all); returns 0. CliError from
    the backend propagates."""
    jobs = backend.list_jobs(project=args.project, job_type=args.type, phase=args.phase)
    jobs.sort(key=lambda job: (job.get("created_at") or "", job["id"]), reverse=True)
    shown = jobs[: args.limit] if args.limit else jobs
    emit(args, shown, lambda: tables.jobs_table(shown, now()))
    if len(shown) < len(jobs) and args.output != "json":
        print(f"(newest {len(shown)} of {len(jobs)}; --limit 0 shows all)", file=sys.stderr)
    return 0


def jobs_get(args: argparse.Namespace, backend: Backend) -> int:
    """`omvee jobs get`: one job's details; returns 0. CliError when there is no such job."""
    job = backend.get_job(args.job)
    emit(args, job, lambda: tables.job_detail(job, now()))
    return 0


def jobs_cancel(args: argparse.Namespace, backend: Backend) -> int:
    """`omvee jobs cancel`; returns 0. CliError when the backend refuses."""
    job = backend.cancel(args.job)
    emit(args, job, lambda: f"Cancelling job {job['id']}: its pods stop, then it is Cancelled.")
    return 0


def jobs_retry(args: argparse.Namespace, backend: Backend) -> int:
    """`omvee jobs retry`: a new run of an ended job; returns 0. CliError when refused."""
    job = backend.retry(args.job)
    emit(args, job, lambda: f"Retrying job {job['id']} as run {job['run'] + 1}.")
    return 0


def jobs_logs(args: argparse.Namespace, backend: Backend) -> int:
    """`omvee jobs logs`: the attempt's log bytes to stdout as they come; returns 0. CliError
    when there is no log."""
    out = sys.stdout.buffer
    for chunk in backend.logs(args.job, args.attempt, args.follow):
        out.write(chunk)
        out.flush()
    return 0


def transcript_text(document: dict[str, Any]) -> str:
    """A transcript.json's text, one segment a line."""
    return "\n".join(str(s.get("text", "")).strip() for s in document.get("segments") or [])


def jobs_result(args: argparse.Namespace, backend: Backend) -> int:
    """With a file name: its bytes, as stored. Without: a transcription's text (from
    transcript.json), or else the job's result files and their links."""
    out = sys.stdout.buffer
    if args.file:
        for chunk in backend.result(args.job, args.file):
            out.write(chunk)
        out.flush()
        return 0
    job = backend.get_job(args.job)
    links: dict[str, str] = job.get("result_links") or {}
    if "transcript.json" in links and args.output != "json":
        data = b"".join(backend.result(args.job, "transcript.json"))
        print(transcript_text(json.loads(data)))
        return 0
    if not links:
        raise CliError(
            f"job {job['id']} has no result files (it is {job.get('phase') or 'Pending'})"
        )
    emit(args, links, lambda: tables.result_files(job["id"], links))
    return 0


def jobs_watch(args: argparse.Namespace, backend: Backend) -> int:
    """Exits 0 when the job succeeds, 1 when it fails or is cancelled (for scripts)."""
    last = None
    for job in backend.watch(args.job):
        seen = {k: job.get(k) for k in ("phase", "progress", "progress_message", "message")}
        seen["attempts"] = job.get("attempts")
        if seen != last:
            last = seen
            if args.output == "json":
                print(json.dumps(job), flush=True)
            else:
                print(tables.watch_line(job, now().astimezone()), flush=True)
        if job.get("phase") in FINAL:
            return 0 if job["phase"] == Phase.SUCCEEDED.value else 1
    return 1


def stats(args: argparse.Namespace, backend: Backend) -> int:
    """`omvee stats`: jobs by phase and type, running jobs, nodes and GPUs (``summarize``);
    returns 0."""
    jobs = backend.list_jobs(project=args.project, job_type=None, phase=None)
    summary = summarize(jobs, backend.placement(), now())
    emit(args, summary, lambda: tables.stats_text(summary))
    return 0


def purge(args: argparse.Namespace, backend: Backend) -> int:
    """`omvee purge`: the finished OmveeJobs older than ``--older-than``, deleted only with
    ``--yes`` (else a dry run); returns 0. CliError with ``--api`` (needs the cluster)."""
    from controller.cli.cluster import ClusterBackend
    from controller.cli.purge import purgeable

    if not isinstance(backend, ClusterBackend):
        raise CliError("purge deletes OmveeJobs and needs the cluster (a kubeconfig), not --api")
    at = now()
    chosen = purgeable(backend.list_omveejobs(), args.older_than, at)
    deleted = [ojob for ojob in chosen if backend.delete(ojob)] if args.yes else []
    names = [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in chosen]
    if args.output == "json":
        emit(
            args,
            {
                "dry_run": not args.yes,
                "older_than_seconds": int(args.older_than.total_seconds()),
                "jobs": names,
                "deleted": [
                    f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in deleted
                ],
            },
            str,
        )
        return 0
    if not chosen:
        print(f"No finished jobs older than {format_age(args.older_than.total_seconds())}.")
        return 0
    print(tables.purge_table(chosen, at))
    if args.yes:
        kept = len(chosen) - len(deleted)
        print(
            f"Deleted {len(deleted)} job(s)"
            + (f"; {kept} changed or vanished meanwhile and were kept." if kept else ".")
        )
    else:
        print(f"{len(chosen)} job(s) would be deleted. Nothing changed: run again with --yes.")
    return 0


def stuck_rows(args: argparse.Namespace, backend: Backend) -> int:
    """`omvee stuck-rows`: the exit status of ``stuck_rows.run``. CliError with ``--api``, with
    ``-o json``, on a usage problem, or when the database cannot be reached."""
    import psycopg

    from api.envsettings import SettingsError
    from controller.cli.cluster import ClusterBackend
    from controller.mirror import stuck_rows as rows

    if not isinstance(backend, ClusterBackend):
        raise CliError("stuck-rows reads the database and the cluster; it does not work with --api")
    if args.output == "json":
        raise CliError("stuck-rows prints text only")
    problem = rows.usage_problem(args)
    if problem:
        raise CliError(problem)
    try:
        return rows.run(args, backend.custom)
    except psycopg.OperationalError as error:
        raise CliError(f"cannot reach the database: {error}") from None
    except SettingsError as error:
        raise CliError(str(error)) from None
