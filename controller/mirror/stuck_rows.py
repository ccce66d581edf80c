"""Find `jobs` rows the old BackgroundTasks system left queued/running, and settle them.

    python -m controller.mirror.stuck_rows [--dsn DSN] [--older-than 30m]
        [--resubmit --namespace NS | --fail [--reason TEXT]]

A row is stuck when it is queued or running, has not been updated for ``--older-than``, and no
OmveeJob anywhere in the cluster carries its id. Without ``--resubmit`` or ``--fail`` nothing is
changed: the command prints what it would do. ``--resubmit`` creates an OmveeJob for each stuck
row (from its type, project and stored input; the operator then mirrors it as usual);
``--fail`` marks the rows failed with ``--reason``. The DSN defaults to $OMVEE_MIRROR_DSN
(Supabase: the project's database connection string). In an adopted table whose status words
are the app's, ``OMVEE_MIRROR_STATUS_WORDS`` says which (:mod:`api.statuswords`).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from kubernetes import client

from api.catalog.inputs import input_errors
from api.envsettings import SettingsError
from api.kubeclient import KubeConfigError, kube_client
from api.statuswords import OURS, StatusWords, status_words
from api.v1alpha1 import constants
from api.v1alpha1.names import omveejob_name
from api.v1alpha1.types import JobType
from controller.cli.settings import CliSettings

DEFAULT_REASON = "abandoned by the previous job system (no OmveeJob); marked failed"
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class StuckRow:
    """One `jobs` row as read: ids as text, ``status`` queued or running, ``updated_at``
    its last update (else its creation; None when the row has neither), ``input`` the stored
    JSON input (None when there is none)."""

    id: str
    project_id: str | None
    type: str | None
    status: str
    updated_at: datetime | None
    input: dict[str, Any] | None


def parse_age(text: str) -> timedelta:
    """argparse type of ``--older-than``: a number and one unit of s, m, h, d ("30m");
    raises argparse.ArgumentTypeError otherwise."""
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration like 30m, 2h or 1d, not {text!r}")
    return timedelta(seconds=int(match.group(1)) * UNITS[match.group(2)])


def resubmission(row: StuckRow) -> tuple[dict[str, Any] | None, str]:
    """Pure: the OmveeJob to create for a stuck row, or None and why not."""
    if row.type not in {t.value for t in JobType}:
        return None, f"unknown type {row.type!r}"
    if row.project_id is None:
        return None, "the row has no project"
    if row.input is None:
        return None, "the row has no stored input"
    problems = input_errors(JobType(row.type), row.input)
    if problems:
        return None, "; ".join(problems)
    body = {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "metadata": {
            "name": omveejob_name(row.id),
            "labels": {constants.LABEL_MANAGED_BY: "omvee-stuck-rows"},
        },
        "spec": {
            "type": row.type,
            "projectId": row.project_id,
            "jobId": row.id,
            "input": row.input,
        },
    }
    return body, "ok"


def find_stuck(
    connection: psycopg.Connection[Any],
    known_ids: set[str],
    older_than: timedelta,
    words: StatusWords = OURS,
) -> list[StuckRow]:
    """Rows queued or running (in the table's ``words``) not updated for ``older_than`` (an
    app's row that was never updated: since it was created; one with neither time counts as
    old) whose id is not in ``known_ids``
    (lowercase job ids), oldest update first; raises psycopg.Error when the query fails."""
    cursor = connection.execute(
        "select id::text, project_id::text, type, status, "
        "coalesce(updated_at, created_at) as idle_since, input from public.jobs "
        "where status = any(%s) and coalesce(updated_at, created_at, '-infinity') < now() - %s "
        "order by idle_since nulls first",
        [words.unfinished(), older_than],
    )
    return [StuckRow(*found) for found in cursor.fetchall() if found[0] not in known_ids]


def known_job_ids(custom: client.CustomObjectsApi) -> set[str]:
    """spec.jobId, lowercased, of every OmveeJob in the cluster; raises ApiException when
    listing them cluster-wide is refused."""
    listed = custom.list_cluster_custom_object(constants.GROUP, constants.VERSION, constants.PLURAL)
    return {str(item["spec"]["jobId"]).lower() for item in listed.get("items", [])}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options; the `omvee stuck-rows` command adds the same ones."""
    parser.add_argument(
        "--dsn", default=CliSettings.load().mirror_dsn, help="default: $OMVEE_MIRROR_DSN"
    )
    parser.add_argument(
        "--older-than",
        type=parse_age,
        default=parse_age("30m"),
        help="only rows not updated for this long (default 30m)",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--resubmit", action="store_true", help="create OmveeJobs for them")
    action.add_argument("--fail", action="store_true", help="mark them failed")
    parser.add_argument("--namespace", help="where --resubmit creates the OmveeJobs")
    parser.add_argument("--reason", default=DEFAULT_REASON, help="the message for --fail")


def usage_problem(args: argparse.Namespace) -> str | None:
    """Pure: what is wrong with the parsed options (no DSN; --resubmit without --namespace),
    or None."""
    if not args.dsn:
        return "no database: pass --dsn or set OMVEE_MIRROR_DSN"
    if args.resubmit and not args.namespace:
        return "--resubmit needs --namespace"
    return None


def run(args: argparse.Namespace, custom: client.CustomObjectsApi) -> int:
    """Find and settle the stuck rows, in the status words OMVEE_MIRROR_STATUS_WORDS names;
    raises psycopg.OperationalError without a database, SettingsError for bad words."""
    words = status_words()
    with psycopg.connect(args.dsn, autocommit=True) as connection:
        stuck = find_stuck(connection, known_job_ids(custom), args.older_than, words)
        return settle(connection, custom, stuck, args, words)


def main(argv: list[str] | None = None) -> int:
    """The command: exit 0 when done, 1 when the database or cluster cannot be reached;
    usage errors exit 2 (argparse's SystemExit)."""
    parser = argparse.ArgumentParser(
        prog="python -m controller.mirror.stuck_rows", description=__doc__.splitlines()[0]
    )
    try:
        add_arguments(parser)
    except SettingsError as error:
        parser.error(str(error))
    args = parser.parse_args(argv)
    problem = usage_problem(args)
    if problem:
        parser.error(problem)

    try:
        return run(args, client.CustomObjectsApi(kube_client()))
    except psycopg.OperationalError as error:
        print(f"error: cannot reach the database: {str(error).strip()}", file=sys.stderr)
        return 1
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KubeConfigError as error:
        print(f"error: cannot reach the cluster: {error}", file=sys.stderr)
        return 1


def settle(
    connection: psycopg.Connection[Any],
    custom: client.CustomObjectsApi,
    stuck: list[StuckRow],
    args: argparse.Namespace,
    words: StatusWords = OURS,
) -> int:
    """Print each stuck row and what is (or would be) done with it; with --resubmit create
    its OmveeJob (a refusal is printed), with --fail mark the rows failed. Returns 0; raises
    psycopg.Error when the update fails."""
    mode = "resubmit" if args.resubmit else "fail" if args.fail else "dry-run"
    print(
        f"{len(stuck)} stuck row(s) (queued/running, no OmveeJob, idle > "
        f"{args.older_than}) [{mode}]"
    )
    failed_ids = []
    for row in stuck:
        since = f"{row.updated_at:%Y-%m-%d %H:%M}" if row.updated_at else "(no time)"
        line = f"  {row.id}  {row.type or '(no type)':<17} {row.status:<8} since {since}"
        body, why = resubmission(row)
        if args.fail:
            verb = "marked failed"
            failed_ids.append(row.id)
        elif body is None:
            verb = f"{'skipped: ' if args.resubmit else ''}cannot resubmit: {why}"
        elif args.resubmit:
            try:
                custom.create_namespaced_custom_object(
                    constants.GROUP, constants.VERSION, args.namespace, constants.PLURAL, body
                )
                verb = f"resubmitted as {args.namespace}/{body['metadata']['name']}"
            except client.ApiException as error:
                verb = f"not resubmitted: {error.status} {error.reason}"
        else:
            verb = f"can be resubmitted as {body['metadata']['name']}"
        print(f"{line}  -> {verb}")
    if args.fail and failed_ids:
        connection.execute(
            "update public.jobs set status = %s, reason = 'Abandoned', message = %s, "
            "error = %s, finished_at = now(), updated_at = now() "
            "where id = any(%s::uuid[]) and status = any(%s)",
            [words.word("failed"), args.reason, args.reason, failed_ids, words.unfinished()],
        )
    if mode == "dry-run" and stuck:
        print("Nothing changed. Run again with --resubmit --namespace NS or --fail.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
