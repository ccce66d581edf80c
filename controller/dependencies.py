"""Pure: may this OmveeJob's run start, given its upstreams? And is it time to run it again?

An OmveeJob's upstreams are the jobs its input's ``*_job_id`` fields name
(api.catalog.upstreams), looked up by spec.jobId among the OmveeJobs of its namespace and
project (``owner_of``: the one that owns the id, as controller.ownership decides it). The gate
of a run that has no Job yet:

- every upstream found Succeeded (its current run: not being retried) -> READY: the run
  proceeds exactly as a job with no upstream;
- an upstream Failed -> FAIL ``UpstreamFailed`` (``upstream transcription <id> failed: <its
  message>``); Cancelled -> FAIL ``UpstreamCancelled`` (``upstream transcription <id> was
  cancelled``): the run ends at once, no Job, no pod;
- otherwise (an upstream Pending, Running, without status yet, or asked to rerun and not yet
  started again) -> WAIT ``WaitingForUpstream`` (``waiting for transcription <id> (Running,
  40%)``): Pending, no Job, so neither the pending timeout nor the Job's deadline runs;
- following upstreams through the cache (at most MAX_DEPTH jobs deep) comes back to this job's
  own jobId, a job naming itself included -> FAIL ``UpstreamCycle``; checked first;
- an upstream not found at all is not waited for: the run starts and its pod reports the
  upstream missing (a job may name one the cluster does not hold, e.g. one from before).

Automatic re-run (``rerun_after_retry``), after Argo's retry of a failed workflow, which resets
the nodes that failed because of an upstream: a job that ended Failed with UpstreamFailed or
UpstreamCancelled is run again when that upstream is retried. When the upstream's spec.rerun is
greater than the run recorded in this job's status.upstream.run, and this job's spec.rerun is
still its status.run (nobody asked for a rerun already), the operator raises this job's
spec.rerun by one; the new run waits for the upstream's new run like any other. Down a chain
this cascades: the retried step's downstream is re-run, which re-runs its own downstream.

Several upstreams are looked at in the type's field order; a cycle wins over a failure, a
failure over a wait. status.upstream names the upstream the gate is about.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from api.catalog.upstreams import upstream_job_ids
from api.v1alpha1.reasons import Reason
from api.v1alpha1.types import JobType, OmveeJobSpec, OmveeJobStatus, Phase
from controller import ownership

# How many jobs deep a cycle is looked for: a pipeline is 5 steps long.
MAX_DEPTH = 32
# Reasons a run ended with because of its upstream, and that a retry of it undoes.
RERUN_ON_RETRY = frozenset({Reason.UPSTREAM_FAILED, Reason.UPSTREAM_CANCELLED})
# the highest spec.rerun the schema allows (its ``le``)
MAX_RERUN = int(OmveeJobSpec.model_json_schema()["properties"]["rerun"]["maximum"])

# find(job_id) -> the OmveeJob (a dict as served) owning that lower-case job id, or None
Finder = Callable[[str], dict[str, Any] | None]


class Verdict(StrEnum):
    """What the gate says of a run that has no Job yet."""

    READY = "Ready"
    WAIT = "Wait"
    FAIL = "Fail"


@dataclass(frozen=True)
class Upstream:
    """One upstream as found: its jobId (lower case), type, current run, phase (Pending when it
    has none or is about to start a new run), spec.rerun, progress and message."""

    job_id: str
    type: str
    run: int
    phase: Phase
    rerun: int
    progress: int | None = None
    message: str | None = None

    def ref(self) -> dict[str, Any]:
        """status.upstream (camelCase): {jobId, type, run, phase}."""
        return {"jobId": self.job_id, "type": self.type, "run": self.run, "phase": self.phase}


@dataclass(frozen=True)
class Gate:
    """The gate's verdict for one run: ``reason`` and ``message`` for status when it is WAIT
    or FAIL (None and "" when READY), ``upstream`` the one it is about, and ``found`` every
    upstream found (for the automatic re-run)."""

    verdict: Verdict
    reason: Reason | None = None
    message: str = ""
    upstream: Upstream | None = None
    found: tuple[Upstream, ...] = field(default=())


READY = Gate(Verdict.READY)


def owner_of(matches: list[dict[str, Any]], project_id: str) -> dict[str, Any] | None:
    """The OmveeJob of project ``project_id`` owning a job id among ``matches`` (every
    OmveeJob of the namespace with that spec.jobId), as controller.ownership decides it; None
    when none is of that project (another project's is refused as UpstreamNotFound)."""
    ours = [
        o
        for o in matches
        if str((o.get("spec") or {}).get("projectId", "")).lower() == project_id.lower()
    ]
    return ownership.job_id_owner("", ours)


def upstream_of(ojob: dict[str, Any]) -> Upstream:
    """The ``Upstream`` an OmveeJob body (camelCase dict) reads as. A Failed, Cancelled or
    Succeeded run whose spec.rerun asks for a new one reads as Pending in that new run."""
    spec, status = ojob.get("spec") or {}, ojob.get("status") or {}
    job_id, job_type = str(spec.get("jobId", "")).lower(), str(spec.get("type"))
    rerun = int(spec.get("rerun") or 0)
    run, phase = status.get("run"), status.get("phase")
    if run is None or phase is None or (rerun > int(run) and Phase(phase).final):
        return Upstream(job_id, job_type, rerun, Phase.PENDING, rerun)
    return Upstream(
        job_id,
        job_type,
        int(run),
        Phase(phase),
        rerun,
        progress=status.get("progress"),
        message=status.get("message"),
    )


def _upstream_ids(spec: dict[str, Any]) -> dict[str, str]:
    """{camelCase field: lower-case job id} of an OmveeJob spec as served; {} for one whose
    type is unknown (the CRD schema refuses those)."""
    try:
        return upstream_job_ids(JobType(str(spec.get("type"))), spec.get("input") or {})
    except ValueError:
        return {}


def _cycle(spec: OmveeJobSpec, find: Finder, max_depth: int) -> tuple[str, list[str]] | None:
    """(the field, the job ids from this job back to itself) when following upstreams from
    ``spec`` leads back to its jobId within ``max_depth`` jobs, else None."""
    own = spec.job_id.lower()
    for alias, first in upstream_job_ids(spec.type, spec.input).items():
        paths = [[first]]
        seen: set[str] = set()
        while paths:
            path = paths.pop()
            if path[-1] == own:
                return alias, [own, *path]
            if path[-1] in seen or len(path) >= max_depth:
                continue
            seen.add(path[-1])
            found = find(path[-1])
            if found is not None:
                paths += [[*path, i] for i in _upstream_ids(found.get("spec") or {}).values()]
    return None


def _progress(upstream: Upstream) -> str:
    shown = upstream.phase is Phase.RUNNING and upstream.progress is not None
    return f"{upstream.phase.value}, {upstream.progress}%" if shown else upstream.phase.value


def gate(spec: OmveeJobSpec, find: Finder, max_depth: int = MAX_DEPTH) -> Gate:
    """The gate of a run of the OmveeJob ``spec``: READY, WAIT or FAIL with (reason, message,
    upstream), by the rules in the module docstring. ``find(job_id)`` returns the OmveeJob
    owning a lower-case job id in this job's namespace and project, or None."""
    cycle = _cycle(spec, find, max_depth)
    ids = upstream_job_ids(spec.type, spec.input)
    upstreams = {alias: find(job_id) for alias, job_id in ids.items()}
    found = tuple(upstream_of(o) for o in upstreams.values() if o is not None)
    if cycle is not None:
        alias, path = cycle
        own = spec.job_id.lower()
        via = upstreams.get(alias)
        if via is None or path[1] == own:  # it names itself
            first = Upstream(own, spec.type.value, spec.rerun, Phase.PENDING, spec.rerun)
        else:
            first = upstream_of(via)
        return Gate(
            Verdict.FAIL,
            Reason.UPSTREAM_CYCLE,
            f"input.{alias}: its upstreams lead back to this job ({' -> '.join(path)}); it "
            "could never start",
            first,
            found,
        )
    waiting: Upstream | None = None
    for upstream in found:
        if upstream.phase is Phase.FAILED:
            message = f"upstream {upstream.type} {upstream.job_id} failed"
            if upstream.message:
                message += f": {upstream.message}"
            return Gate(Verdict.FAIL, Reason.UPSTREAM_FAILED, message, upstream, found)
        if upstream.phase is Phase.CANCELLED:
            message = f"upstream {upstream.type} {upstream.job_id} was cancelled"
            return Gate(Verdict.FAIL, Reason.UPSTREAM_CANCELLED, message, upstream, found)
        if upstream.phase is not Phase.SUCCEEDED and waiting is None:
            waiting = upstream
    if waiting is not None:
        message = f"waiting for {waiting.type} {waiting.job_id} ({_progress(waiting)})"
        return Gate(Verdict.WAIT, Reason.WAITING_FOR_UPSTREAM, message, waiting, found)
    return Gate(Verdict.READY, found=found)


def rerun_after_retry(spec: OmveeJobSpec, status: OmveeJobStatus, found: Gate) -> int | None:
    """The spec.rerun to write when the ended run in ``status`` failed because of an upstream
    that has since been retried (the rule in the module docstring), else None. ``found`` is the
    gate computed now (its ``found`` upstreams are read, not its verdict)."""
    if (
        status.phase is not Phase.FAILED
        or status.reason not in RERUN_ON_RETRY
        or status.upstream is None
        or status.run != spec.rerun
        or spec.rerun >= MAX_RERUN
    ):
        return None
    recorded = status.upstream
    for upstream in found.found:
        if upstream.job_id == recorded.job_id.lower() and upstream.rerun > recorded.run:
            return spec.rerun + 1
    return None
