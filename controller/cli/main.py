"""`omvee`: the job runner from a terminal. Parses arguments, picks the backend, and turns every
failure into one line on stderr (exit 1; 2 for usage)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import timedelta

from api.envsettings import SettingsError
from api.v1alpha1.types import JobType, Phase
from controller.cli import commands, pipelines
from controller.cli.ages import parse_duration
from controller.cli.backend import Backend, CliError
from controller.cli.settings import CliSettings

Command = Callable[[argparse.Namespace, Backend], int]

DESCRIPTION = """The OMVEE job runner from a terminal.

Talks to the cluster with your kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config), or to
the REST API with --api URL (or $OMVEE_API_URL) and --token (or $OMVEE_API_TOKEN)."""


def duration(text: str) -> timedelta:
    """argparse type of ``--older-than``: "7d", "12h", "1d12h"...; raises
    argparse.ArgumentTypeError for anything else."""
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def common_options() -> argparse.ArgumentParser:
    """Options accepted before or after the command; SUPPRESS keeps a later one from being
    reset by an earlier parser's default."""
    common = argparse.ArgumentParser(add_help=False)
    s = argparse.SUPPRESS
    common.add_argument("-o", "--output", choices=("table", "json"), default=s, help="format")
    common.add_argument(
        "-n", "--namespace", default=s, help="cluster mode: one namespace (default: all)"
    )
    common.add_argument("--kubeconfig", default=s, help="cluster mode: the kubeconfig file")
    common.add_argument("--context", default=s, help="cluster mode: the kubeconfig context")
    common.add_argument("--api", default=s, metavar="URL", help="use the REST API at URL")
    common.add_argument("--token", default=s, help="the API's bearer token")
    return common


def defaults(settings: CliSettings) -> dict[str, str | None]:
    """The common options' values when not given on the command line."""
    return {
        "output": "table",
        "namespace": settings.namespace,
        "kubeconfig": None,
        "context": None,
        "api": settings.api_url,
        "token": settings.api_token,
    }


def build_parser() -> argparse.ArgumentParser:
    """The `omvee` parser: each command sets ``run`` (a Command) in its parsed arguments.
    Raises SettingsError when building `stuck-rows` meets bad OMVEE_ settings."""
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="omvee",
        description=DESCRIPTION,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    jobs = top.add_parser("jobs", help="list, inspect, follow, cancel and retry jobs")
    verbs = jobs.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, run: Command, help: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(run=run)
        return sub

    listing = verb("list", commands.jobs_list, "jobs, newest first")
    listing.add_argument("--project", help="only this project's jobs")
    listing.add_argument("--type", choices=[t.value for t in JobType])
    listing.add_argument("--phase", choices=[p.value for p in Phase])
    listing.add_argument("--limit", type=int, default=50, help="at most this many (0: all)")
    for name, run, help in (
        ("get", commands.jobs_get, "a job's phase, progress, attempts, times and result"),
        ("cancel", commands.jobs_cancel, "cancel a job: its pods stop, it becomes Cancelled"),
        ("retry", commands.jobs_retry, "run a Failed or Cancelled job again"),
        (
            "watch",
            commands.jobs_watch,
            "print each status change until the job ends (exit 0 if it succeeded, 1 if not)",
        ),
    ):
        verb(name, run, help).add_argument("job", help="job id (UUID) or OmveeJob name")
    result = verb(
        "result",
        commands.jobs_result,
        "print a result file (a transcription's text without FILE, else the files)",
    )
    result.add_argument("job", help="job id (UUID) or OmveeJob name")
    result.add_argument("file", nargs="?", help="e.g. transcript.json, transcript.srt")
    logs = verb("logs", commands.jobs_logs, "the pod log of the latest (or Nth) attempt")
    logs.add_argument("job", help="job id (UUID) or OmveeJob name")
    logs.add_argument("--attempt", type=int, help="1 for the first attempt of the run, ...")
    logs.add_argument("-f", "--follow", action="store_true", help="stream while it runs")

    pipelines.add_commands(top, common)

    stats = top.add_parser(
        "stats", help="counts, running jobs, nodes, pools and GPU use", parents=[common]
    )
    stats.add_argument("--project", help="only this project's jobs")
    stats.set_defaults(run=commands.stats)

    purge = top.add_parser(
        "purge",
        help="delete finished jobs that ended long ago (a dry run without --yes)",
        parents=[common],
    )
    purge.add_argument("--older-than", type=duration, required=True, help="e.g. 7d, 12h, 1d12h")
    purge.add_argument("--yes", action="store_true", help="really delete them")
    purge.set_defaults(run=commands.purge)

    from controller.mirror import stuck_rows

    stuck = top.add_parser(
        "stuck-rows",
        help="jobs rows the old system left queued/running (see --help)",
        description=stuck_rows.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stuck_rows.add_arguments(stuck)
    stuck.set_defaults(run=commands.stuck_rows)
    return parser


def backend_for(args: argparse.Namespace) -> Backend:
    """The REST API's backend with ``--api``, else the cluster's; CliError when the cluster
    has no usable kubeconfig."""
    if args.api:
        from controller.cli.remote import ApiBackend

        return ApiBackend(args.api, args.token)
    from controller.cli.cluster import ClusterBackend, api_client

    return ClusterBackend(api_client(args.kubeconfig, args.context), args.namespace)


def one_line(text: str, limit: int = 400) -> str:
    """``text`` with its whitespace runs made single spaces, cut to ``limit`` characters
    (ending "…" when cut)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    """Run `omvee` with ``argv`` (None: sys.argv); the exit code: the command's, 1 when it
    failed (one line on stderr), 2 for bad settings or usage (argparse's SystemExit), 130 on
    Ctrl-C, 0 on a closed pipe. With OMVEE_DEBUG the error propagates instead."""
    try:
        settings = CliSettings.load()
    except SettingsError as error:
        print(f"omvee: error: {error}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    for key, default in defaults(settings).items():
        if not hasattr(args, key):
            setattr(args, key, default)
    try:
        code: int = args.run(args, backend_for(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # one line, never a traceback (OMVEE_DEBUG=1 shows it)
        if settings.debug:
            raise
        print(f"omvee: error: {describe(error)}", file=sys.stderr)
        return 1
    return code


def describe(error: Exception) -> str:
    """What went wrong, for a person: our own errors as they are, the libraries' made short."""
    import httpx
    import urllib3
    from kubernetes import client

    if isinstance(error, CliError):
        return one_line(str(error))
    if isinstance(error, client.ApiException):
        return one_line(
            f"the Kubernetes API answered {error.status} {error.reason}: "
            + (_api_message(error.body) or "")
        )
    if isinstance(error, urllib3.exceptions.HTTPError):
        return one_line(f"cannot reach the Kubernetes API: {error}")
    if isinstance(error, httpx.HTTPError):
        where = getattr(getattr(error, "request", None), "url", "")
        return one_line(f"cannot reach the API ({where}): {error or type(error).__name__}")
    return one_line(f"{type(error).__name__}: {error}")


def _api_message(body: object) -> str | None:
    import json

    try:
        parsed = json.loads(body) if isinstance(body, str | bytes) else None
    except ValueError:
        return str(body)
    return str(parsed.get("message")) if isinstance(parsed, dict) else None
