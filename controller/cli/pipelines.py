"""`omvee pipelines list|get`: pipelines (chains of jobs submitted at once) as tables or JSON.

The views are the REST API's (``GET /v1/pipelines``, ``GET /v1/pipelines/{id}``); the cluster
backend builds the same ones from the OmveeJobs with api.catalog.pipelines, adding namespaces.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from api.catalog.pipelines import pipeline_steps, summaries, to_pipeline
from controller.cli.ages import age_since
from controller.cli.backend import UUID, Backend, CliError
from controller.cli.commands import emit, now
from controller.cli.tables import render


def pipeline_id_of(ref: str) -> str:
    """``ref`` as a pipeline id (lower case); CliError when it is not a UUID."""
    if not UUID.fullmatch(ref):
        raise CliError(f"no pipeline {ref}: a pipeline id is a UUID")
    return ref.lower()


def cluster_summaries(ojobs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pipelines among OmveeJob bodies, per namespace (``summaries`` with a ``namespace``
    key added), newest first."""
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for ojob in ojobs:
        by_namespace.setdefault(ojob["metadata"]["namespace"], []).append(ojob)
    found = [
        {"namespace": namespace} | summary.model_dump(mode="json")
        for namespace, members in by_namespace.items()
        for summary in summaries(members)
    ]
    return sorted(found, key=lambda s: (s["created_at"] or "", s["id"]), reverse=True)


def cluster_pipeline(
    pipeline_id: str, ojobs: Sequence[dict[str, Any]], public: Any
) -> dict[str, Any]:
    """The pipeline view of its step OmveeJobs (one namespace's), with ``namespace`` added and
    each step as ``public`` (the cluster's job view) gives it; CliError when there are none or
    they are in several namespaces."""
    namespaces = sorted({o["metadata"]["namespace"] for o in ojobs})
    if not namespaces:
        raise CliError(f"no pipeline {pipeline_id}")
    if len(namespaces) > 1:
        raise CliError(f"pipeline {pipeline_id} has jobs in several namespaces; pass -n")
    steps = pipeline_steps(ojobs)
    view = to_pipeline(pipeline_id, steps).model_dump(mode="json")
    return {"namespace": namespaces[0]} | view | {"steps": [public(o) for o in steps]}


def pipelines_table(pipelines: Sequence[dict[str, Any]], now: datetime) -> str:
    """One row per pipeline summary (a NAMESPACE column when any has one); ``No pipelines
    found.`` for none."""
    if not pipelines:
        return "No pipelines found."
    namespaced = any("namespace" in p for p in pipelines)
    headers = ["ID", "PROJECT", "PHASE", "STEPS", "AGE"]
    rows = [
        ([p["namespace"]] if namespaced else [])
        + [
            p["id"],
            p["project_id"],
            p["phase"],
            p["step_count"],
            age_since(p.get("created_at"), now),
        ]
        for p in pipelines
    ]
    return render(["NAMESPACE", *headers] if namespaced else headers, rows)


def pipeline_detail(pipeline: dict[str, Any], now: datetime) -> str:
    """The pipeline's ``Label: value`` lines, then one row per step: its type, phase, progress,
    job id, and reason and message (``reason: message``)."""
    created = pipeline.get("created_at")
    lines = [
        f"{label + ':':<15}{value}"
        for label, value in (
            ("Namespace", pipeline.get("namespace")),
            ("Pipeline", pipeline["id"]),
            ("Project", pipeline["project_id"]),
            ("Phase", pipeline["phase"]),
            ("Created", f"{created} ({age_since(created, now)} ago)" if created else None),
        )
        if value is not None
    ]
    rows = []
    for index, step in enumerate(pipeline["steps"], 1):
        why = ": ".join(x for x in (step.get("reason"), _flat(step.get("message"))) if x)
        rows.append(
            [
                index,
                step["type"],
                step.get("phase") or "Pending",
                f"{step.get('progress', 0)}%",
                step["id"],
                why,
            ]
        )
    table = render(["STEP", "TYPE", "PHASE", "PROGRESS", "JOB", "REASON / MESSAGE"], rows)
    return "\n".join([*lines, "", table])


def _flat(text: str | None) -> str:
    return " ".join(str(text).split()) if text else ""


def pipelines_list(args: argparse.Namespace, backend: Backend) -> int:
    """`omvee pipelines list`: newest first; returns 0. CliError from the backend propagates."""
    found = backend.list_pipelines(project=args.project_id)
    emit(args, found, lambda: pipelines_table(found, now()))
    return 0


def pipelines_get(args: argparse.Namespace, backend: Backend) -> int:
    """`omvee pipelines get`: the pipeline and each step; returns 0. CliError when none."""
    pipeline = backend.get_pipeline(pipeline_id_of(args.pipeline))
    emit(args, pipeline, lambda: pipeline_detail(pipeline, now()))
    return 0


def add_commands(top: Any, common: argparse.ArgumentParser) -> None:
    """Add ``pipelines list`` and ``pipelines get`` to the `omvee` parser's subcommands."""
    pipelines = top.add_parser("pipelines", help="list and inspect pipelines (chains of jobs)")
    verbs = pipelines.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser(
        "list",
        help="pipelines, newest first",
        description="pipelines, newest first",
        parents=[common],
    )
    listing.add_argument("--project-id", "--project", dest="project_id", help="one project's")
    listing.set_defaults(run=pipelines_list)
    get = verbs.add_parser(
        "get",
        help="a pipeline's phase and each step's type, phase, progress, reason and job id",
        description="a pipeline's phase and each step's type, phase, progress, reason and job",
        parents=[common],
    )
    get.add_argument("pipeline", help="pipeline id (UUID)")
    get.set_defaults(run=pipelines_get)
