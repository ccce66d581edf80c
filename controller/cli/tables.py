"""Pure: the readable text `omvee` prints (tables like kubectl's, key: value details)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from controller.cli.ages import age_since, format_age
from controller.cli.purge import finished_at
from controller.cli.stats import PHASES


def render(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns left-aligned, three spaces apart; None prints as ``-``."""
    cells = [[str(h) for h in headers]] + [
        ["-" if value is None or value == "" else str(value) for value in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def jobs_table(jobs: Sequence[dict[str, Any]], now: datetime) -> str:
    """One row per public job view (a NAMESPACE column when any has one), ages relative to
    ``now``; ``No jobs found.`` for none."""
    if not jobs:
        return "No jobs found."
    namespaced = any("namespace" in job for job in jobs)
    headers = ["ID", "TYPE", "PHASE", "PROGRESS", "ATTEMPTS", "NODE", "AGE"]
    rows = []
    for job in jobs:
        row = [
            job["id"],
            job["type"],
            job.get("phase") or "Pending",
            f"{job.get('progress', 0)}%",
            job.get("attempts", 0),
            job.get("node"),
            age_since(job.get("created_at"), now),
        ]
        rows.append([job.get("namespace"), *row] if namespaced else row)
    return render(["NAMESPACE", *headers] if namespaced else headers, rows)


DETAIL_FIELDS = (
    ("namespace", "Namespace"),
    ("name", "Name"),
    ("id", "ID"),
    ("project_id", "Project"),
    ("type", "Type"),
    ("phase", "Phase"),
    ("reason", "Reason"),
    ("message", "Message"),
    ("progress_message", "Progress note"),
    ("attempts", "Attempts"),
    ("run", "Run"),
    ("node", "Node"),
    ("created_at", "Created"),
    ("started_at", "Started"),
    ("finished_at", "Finished"),
)


def job_detail(job: dict[str, Any], now: datetime) -> str:
    """``Label: value`` lines for a public job view's fields, times with their age relative to
    ``now``, then its result and result files."""
    lines = []
    for key, label in DETAIL_FIELDS:
        if key not in job:
            continue
        value = job[key]
        if key == "phase":
            value = value or "Pending"
        if key in ("created_at", "started_at", "finished_at") and value:
            value = f"{value} ({age_since(value, now)} ago)"
        lines.append(f"{label + ':':<15}{'-' if value is None or value == '' else value}")
        if key == "phase":
            lines.append(f"{'Progress:':<15}{job.get('progress', 0)}%")
    if job.get("result"):
        lines.append("Result:")
        lines.extend(f"  {key}: {value}" for key, value in job["result"].items())
    if job.get("result_links"):
        lines.append("Result files (omvee jobs result <job> <file> prints one):")
        lines.extend(f"  {name}: {link}" for name, link in job["result_links"].items())
    return "\n".join(lines)


def result_files(job_id: str, links: dict[str, str]) -> str:
    """The result files of a job, each with its REST link, and how to print one."""
    width = max(len(name) for name in links)
    lines = [f"{name:<{width}}  {link}" for name, link in links.items()]
    lines.append(f"(omvee jobs result {job_id} <file> prints one)")
    return "\n".join(lines)


def watch_line(job: dict[str, Any], at: datetime) -> str:
    """One line per status change: time, phase, progress, attempt and what is going on."""
    note = job.get("progress_message") or job.get("message") or ""
    if job.get("progress_message") and job.get("message"):
        note = f"{job['message']} — {job['progress_message']}"
    phase = job.get("phase") or "Pending"
    return (
        f"{at:%H:%M:%S}  {phase:<9}  {job.get('progress', 0):>3}%  "
        f"attempt {job.get('attempts', 0)}  {note}"
    ).rstrip()


def stats_text(stats: dict[str, Any]) -> str:
    """``summarize``'s dict as text: counts by phase and type, running jobs, then jobs and GPUs
    (requested/allocatable) by node and pool, or only jobs by node without the cluster."""
    parts = [
        f"Jobs: {stats['total']}   "
        + "   ".join(f"{phase} {stats['by_phase'][phase]}" for phase in PHASES),
        "",
        render(
            ["TYPE", *(p.upper() for p in PHASES), "TOTAL"],
            [
                [job_type, *(counts[p] for p in PHASES), counts["total"]]
                for job_type, counts in stats["by_type"].items()
            ],
        ),
        "",
    ]
    running = stats["running"]
    parts.append(f"Running now: {len(running)}")
    if running:
        namespaced = any("namespace" in entry for entry in running)
        rows = [
            ([entry["namespace"]] if namespaced else [])
            + [
                entry["id"],
                entry["type"],
                entry["node"],
                f"{entry['progress']}%",
                entry["attempts"],
                format_age(entry["running_seconds"])
                if entry["running_seconds"] is not None
                else None,
            ]
            for entry in running
        ]
        headers = ["JOB", "TYPE", "NODE", "PROGRESS", "ATTEMPT", "RUNNING FOR"]
        parts.append(render(["NAMESPACE", *headers] if namespaced else headers, rows))
    parts.append("")
    if stats["gpu"] is None:
        parts.append("Running jobs by node (node pools and GPUs: cluster mode only)")
        if stats["nodes"]:
            parts.append(
                render(["NODE", "JOBS"], [[n["node"], n["running_jobs"]] for n in stats["nodes"]])
            )
        return "\n".join(parts)
    parts.append(
        render(
            ["NODE", "POOL", "JOBS", "GPUS USED"],
            [[n["node"], n["pool"], n["running_jobs"], _gpus(n)] for n in stats["nodes"]],
        )
    )
    parts.append("")
    parts.append(
        render(
            ["POOL", "NODES", "JOBS", "GPUS USED"],
            [[p["pool"], p["nodes"], p["running_jobs"], _gpus(p)] for p in stats["pools"]],
        )
    )
    gpu = stats["gpu"]
    parts.append("")
    parts.append(f"GPUs: {gpu['requested']} of {gpu['allocatable']} requested")
    return "\n".join(parts)


def _gpus(entry: dict[str, Any]) -> str:
    if not entry["gpu_allocatable"] and not entry["gpu_requested"]:
        return "-"
    return f"{entry['gpu_requested']}/{entry['gpu_allocatable']}"


def purge_table(ojobs: Sequence[dict[str, Any]], now: datetime) -> str:
    """One row per OmveeJob: namespace, name, type, phase and how long ago it finished."""
    rows = []
    for ojob in ojobs:
        ended = finished_at(ojob)
        rows.append(
            [
                ojob["metadata"]["namespace"],
                ojob["metadata"]["name"],
                ojob["spec"]["type"],
                (ojob.get("status") or {}).get("phase"),
                format_age((now - ended).total_seconds()) if ended else None,
            ]
        )
    return render(["NAMESPACE", "NAME", "TYPE", "PHASE", "FINISHED"], rows)
