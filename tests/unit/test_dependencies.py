"""Chains: a job waits for its upstreams, fails at once when one failed or was cancelled, is
refused when its upstreams lead back to itself, and is run again when the upstream it failed
because of is retried. Pure rules (controller.dependencies, controller.transitions) and the
cache's wake-ups; the cluster side is tests/integration/test_operator_chains.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from api.catalog.profiles import load_catalog
from api.v1alpha1.reasons import Reason
from api.v1alpha1.types import OmveeJobSpec, OmveeJobStatus
from controller import dependencies
from controller.cache import ClusterCache
from controller.dependencies import Gate, Verdict, gate, rerun_after_retry
from controller.reconcile import Reconciler
from controller.refusals import classify_job_refusal
from controller.transitions import Decision, decide, events_for
from tests.unit.objects import JobObj

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PROJECT = "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10"
OTHER_PROJECT = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
# one job id per pipeline step, the transcription first
IDS = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(1, 6)]
UPSTREAM_FIELD = {
    "transcription": None,
    "scene-generation": "transcriptJobId",
    "visual-prompts": "scenesJobId",
    "image-generation": "promptsJobId",
    "video-generation": "imagesJobId",
}


def body(
    job_type: str,
    job_id: str,
    upstream: str | None = None,
    *,
    phase: str | None = None,
    run: int | None = 0,
    rerun: int = 0,
    name: str | None = None,
    project: str = PROJECT,
    **status: Any,
) -> dict[str, Any]:
    """An OmveeJob as the cache holds it; no status at all when ``phase`` is None."""
    field = UPSTREAM_FIELD[job_type]
    spec_input: dict[str, Any] = (
        {"audioUrl": "https://media.example.com/a.mp3"} if field is None else {field: upstream}
    )
    return {
        "metadata": {
            "namespace": "jobs",
            "name": name or f"{job_type}-{job_id[-1]}",
            "uid": f"uid-{job_id}",
            "resourceVersion": "7",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "type": job_type,
            "projectId": project,
            "jobId": job_id,
            "input": spec_input,
            "rerun": rerun,
        },
        "status": {"phase": phase, "run": run, **status} if phase else {},
    }


def finder(*ojobs: dict[str, Any]) -> dependencies.Finder:
    """find(job_id) over ``ojobs``, as the reconciler's cache lookup (project PROJECT)."""

    def find(job_id: str) -> dict[str, Any] | None:
        same = [o for o in ojobs if o["spec"]["jobId"].lower() == job_id]
        return dependencies.owner_of(same, PROJECT)

    return find


def spec_of(ojob: dict[str, Any]) -> OmveeJobSpec:
    return OmveeJobSpec.model_validate(ojob["spec"])


def scenes(upstream: str = IDS[0], **spec: Any) -> OmveeJobSpec:
    """The scene-generation job IDS[1] taking input from ``upstream``."""
    return OmveeJobSpec.model_validate(body("scene-generation", IDS[1], upstream)["spec"] | spec)


# -- the gate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "progress", "message"),
    [
        (None, None, f"waiting for transcription {IDS[0]} (Pending)"),
        ("Pending", None, f"waiting for transcription {IDS[0]} (Pending)"),
        ("Running", 40, f"waiting for transcription {IDS[0]} (Running, 40%)"),
        ("Running", None, f"waiting for transcription {IDS[0]} (Running)"),
    ],
)
def test_a_job_waits_while_its_upstream_has_not_succeeded(
    phase: str | None, progress: int | None, message: str
) -> None:
    upstream = body("transcription", IDS[0], phase=phase, progress=progress)
    result = gate(scenes(), finder(upstream))
    assert (result.verdict, result.reason, result.message) == (
        Verdict.WAIT,
        Reason.WAITING_FOR_UPSTREAM,
        message,
    )
    assert result.upstream is not None
    assert result.upstream.ref() == {
        "jobId": IDS[0],
        "type": "transcription",
        "run": 0,
        "phase": phase or "Pending",
    }


def test_every_upstream_succeeded_is_ready() -> None:
    upstream = body("transcription", IDS[0], phase="Succeeded")
    result = gate(scenes(), finder(upstream))
    assert result.verdict is Verdict.READY and result.reason is None


def test_a_failed_upstream_fails_the_job_naming_it_and_quoting_its_message() -> None:
    upstream = body(
        "transcription", IDS[0], phase="Failed", message="failed 3 times, last exit code 1"
    )
    result = gate(scenes(), finder(upstream))
    assert (result.verdict, result.reason) == (Verdict.FAIL, Reason.UPSTREAM_FAILED)
    assert result.message == (
        f"upstream transcription {IDS[0]} failed: failed 3 times, last exit code 1"
    )


def test_a_cancelled_upstream_fails_the_job() -> None:
    upstream = body("transcription", IDS[0], phase="Cancelled", message="cancelled by request")
    result = gate(scenes(), finder(upstream))
    assert (result.verdict, result.reason) == (Verdict.FAIL, Reason.UPSTREAM_CANCELLED)
    assert result.message == f"upstream transcription {IDS[0]} was cancelled"
    assert result.upstream is not None and result.upstream.phase == "Cancelled"


def test_an_upstream_asked_to_rerun_is_waited_for_in_its_new_run() -> None:
    upstream = body("transcription", IDS[0], phase="Failed", run=0, rerun=1)
    result = gate(scenes(), finder(upstream))
    assert result.verdict is Verdict.WAIT
    assert result.upstream is not None
    assert (result.upstream.run, result.upstream.phase) == (1, "Pending")
    succeeded_before = body("transcription", IDS[0], phase="Succeeded", run=0, rerun=1)
    assert gate(scenes(), finder(succeeded_before)).verdict is Verdict.WAIT


def test_an_upstream_not_in_the_cache_is_not_waited_for() -> None:
    """Today's behaviour is kept: the job runs, and its pod reports the upstream missing."""
    assert gate(scenes(), finder()).verdict is Verdict.READY


def test_another_projects_job_of_that_id_is_not_an_upstream() -> None:
    foreign = body("transcription", IDS[0], phase="Running", project=OTHER_PROJECT)
    assert gate(scenes(), finder(foreign)).verdict is Verdict.READY  # UpstreamNotFound decides


def test_the_owner_of_a_duplicated_upstream_id_is_the_one_looked_at() -> None:
    owner = body("transcription", IDS[0], phase="Succeeded", name="a-owner")
    loser = body(
        "transcription", IDS[0], phase="Failed", name="b-loser", reason=Reason.DUPLICATE_JOB_ID
    )
    assert gate(scenes(), finder(loser, owner)).verdict is Verdict.READY


def test_a_job_naming_itself_is_a_cycle() -> None:
    spec = scenes(upstream=IDS[1])
    result = gate(spec, finder(body("scene-generation", IDS[1], IDS[1], phase="Pending")))
    assert (result.verdict, result.reason) == (Verdict.FAIL, Reason.UPSTREAM_CYCLE)
    assert result.message == (
        f"input.transcriptJobId: its upstreams lead back to this job ({IDS[1]} -> {IDS[1]}); it "
        "could never start"
    )
    assert result.upstream is not None and result.upstream.job_id == IDS[1]
    assert gate(spec, finder()).reason is Reason.UPSTREAM_CYCLE  # not even in the cache yet


def test_a_chain_leading_back_to_the_job_is_a_cycle_found_through_the_cache() -> None:
    # the scene job names a prompts job as its transcript, and that job names the scene job
    a = body("scene-generation", IDS[1], IDS[2])
    b = body("visual-prompts", IDS[2], IDS[1], phase="Pending")
    result = gate(spec_of(a), finder(a, b))
    assert result.reason is Reason.UPSTREAM_CYCLE
    assert f"({IDS[1]} -> {IDS[2]} -> {IDS[1]})" in result.message
    assert result.upstream is not None and result.upstream.job_id == IDS[2]


def test_a_cycle_elsewhere_upstream_is_not_this_jobs_cycle() -> None:
    """This job waits on a job that is itself in a cycle: that one fails, then this one."""
    a = body("video-generation", IDS[4], IDS[2])
    b = body("image-generation", IDS[2], IDS[3], phase="Pending")
    c = body("image-generation", IDS[3], IDS[2], phase="Pending")
    assert gate(spec_of(a), finder(a, b, c)).verdict is Verdict.WAIT


def test_the_cycle_search_stops_at_its_depth() -> None:
    a = body("scene-generation", IDS[1], IDS[2])
    b = body("visual-prompts", IDS[2], IDS[1], phase="Pending")
    assert gate(spec_of(a), finder(a, b), max_depth=1).verdict is Verdict.WAIT


# -- the decision ------------------------------------------------------------------------------


def run(
    spec: OmveeJobSpec,
    status: dict[str, Any] | None = None,
    result: Gate = dependencies.READY,
    job: dict[str, Any] | None = None,
    now: datetime = NOW,
    **rest: Any,
) -> Decision:
    return decide(
        **{
            "spec": spec,
            "status": OmveeJobStatus.model_validate(status or {}),
            "generation": 1,
            "job_name": "scenes-r0",
            "job": job,
            "pods": [],
            "input_errors": [],
            "gpu": False,
            "pending_timeout": 60,
            "now": now,
            "gate": result,
        }
        | rest
    )


def waiting() -> Gate:
    return gate(scenes(), finder(body("transcription", IDS[0], phase="Running", progress=40)))


def conditions(decision: Decision) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in decision.status["conditions"]}


def test_a_new_run_that_must_wait_is_pending_with_no_job_and_names_its_upstream() -> None:
    decision = run(scenes(), result=waiting())
    assert not decision.create_job and not decision.delete_job
    status = decision.status
    assert (status["phase"], status["reason"]) == ("Pending", Reason.WAITING_FOR_UPSTREAM)
    assert status["message"] == f"waiting for transcription {IDS[0]} (Running, 40%)"
    assert status["upstream"] == {
        "jobId": IDS[0],
        "type": "transcription",
        "run": 0,
        "phase": "Running",
    }
    assert conditions(decision)["Scheduled"] == ("False", Reason.WAITING_FOR_UPSTREAM)
    assert conditions(decision)["Running"] == ("False", Reason.WAITING_FOR_UPSTREAM)
    assert status["jobUid"] is None and status["startedAt"] is None


def test_ready_proceeds_exactly_as_a_job_without_upstreams() -> None:
    succeeded = gate(scenes(), finder(body("transcription", IDS[0], phase="Succeeded")))
    assert run(scenes(), result=succeeded) == run(scenes())
    assert run(scenes()).create_job
    assert run(scenes()).status["upstream"] is None


@pytest.mark.parametrize(
    ("phase", "reason"),
    [("Failed", Reason.UPSTREAM_FAILED), ("Cancelled", Reason.UPSTREAM_CANCELLED)],
)
def test_a_failed_or_cancelled_upstream_ends_the_run_at_once_with_no_job(
    phase: str, reason: Reason
) -> None:
    result = gate(scenes(), finder(body("transcription", IDS[0], phase=phase, message="x")))
    decision = run(scenes(), result=result)
    assert not decision.create_job
    assert (decision.status["phase"], decision.status["reason"]) == ("Failed", reason)
    assert decision.status["finishedAt"] == "2026-01-01T12:00:00Z"
    assert decision.status["upstream"]["phase"] == phase
    [event] = events_for(OmveeJobStatus(), decision)
    assert (event.type, event.reason) == ("Warning", reason)


def test_waiting_posts_a_normal_event_once() -> None:
    decision = run(scenes(), result=waiting())
    [event] = events_for(OmveeJobStatus(), decision)
    assert (event.type, event.reason) == ("Normal", Reason.WAITING_FOR_UPSTREAM)
    recorded = OmveeJobStatus.model_validate(decision.status)
    assert events_for(recorded, run(scenes(), decision.status, waiting())) == []


def test_a_cycle_fails_the_run() -> None:
    spec = scenes(upstream=IDS[1])
    decision = run(spec, result=gate(spec, finder()))
    assert (decision.status["phase"], decision.status["reason"]) == (
        "Failed",
        Reason.UPSTREAM_CYCLE,
    )
    assert not decision.create_job


def test_cancel_and_invalid_input_come_before_the_gate() -> None:
    cancelled = run(scenes(cancel=True), result=waiting())
    assert cancelled.status["reason"] == Reason.CANCELLED
    invalid = run(scenes(), result=waiting(), input_errors=["input.x: bad"])
    assert invalid.status["reason"] == Reason.INVALID_INPUT


def test_cancel_while_waiting_cancels() -> None:
    waited = run(scenes(), result=waiting()).status
    decision = run(scenes(cancel=True), waited, waiting())
    assert (decision.status["phase"], decision.status["reason"]) == ("Cancelled", "Cancelled")
    assert not decision.create_job and not decision.delete_job


def test_a_waiting_run_starts_when_its_upstream_succeeds_and_fails_when_it_fails() -> None:
    waited = run(scenes(), result=waiting()).status
    started = run(scenes(), waited, now=NOW + timedelta(hours=1))
    assert started.create_job
    assert (started.status["reason"], started.status["upstream"]) == (Reason.CREATING, None)
    assert conditions(started)["Scheduled"] == ("Unknown", Reason.NO_POD)
    failed_up = gate(scenes(), finder(body("transcription", IDS[0], phase="Failed")))
    failed = run(scenes(), waited, failed_up)
    assert failed.status["reason"] == Reason.UPSTREAM_FAILED and not failed.create_job


def test_a_run_whose_job_exists_has_passed_the_gate() -> None:
    """A Job created before a crash (or before the upstream was retried) is adopted, never
    stopped by a later look at the upstream."""
    decision = run(scenes(), {}, waiting(), job=JobObj().build(), pending_timeout=10**6)
    assert decision.status["reason"] == Reason.CREATING
    assert decision.status["upstream"] is None


def test_a_long_wait_never_turns_into_a_pending_timeout() -> None:
    waited = run(scenes(), result=waiting()).status
    later = NOW + timedelta(days=3)
    still = run(scenes(), waited, waiting(), now=later)
    assert still.status["reason"] == Reason.WAITING_FOR_UPSTREAM
    assert still.status["conditions"] == waited["conditions"]  # nothing to write
    # The upstream succeeds after days; the API server refuses the Job for now (quota on Jobs):
    quota = classify_job_refusal(403, 'jobs.batch "x" is forbidden: exceeded quota: jobs')
    refused = run(scenes(), waited, now=later, create_refused=quota)
    assert refused.status["reason"] == Reason.QUOTA_EXCEEDED
    # ... which the pending timeout (60 s here) counts from the end of the wait, not its start.
    soon = run(scenes(), refused.status, now=later + timedelta(seconds=30), create_refused=quota)
    assert soon.status["phase"] == "Pending" and soon.create_job
    over = run(scenes(), refused.status, now=later + timedelta(seconds=61), create_refused=quota)
    assert over.status["reason"] == Reason.PENDING_TIMEOUT


def test_a_run_that_waited_gets_its_job_only_when_ready() -> None:
    waited = run(scenes(), result=waiting()).status
    assert not run(scenes(), waited, waiting()).create_job
    assert run(scenes(), waited).create_job


# -- the automatic re-run ----------------------------------------------------------------------


def ended_because_of_upstream(
    reason: Reason = Reason.UPSTREAM_FAILED, run_: int = 0
) -> dict[str, Any]:
    return {
        "phase": "Failed",
        "run": run_,
        "reason": reason,
        "message": "upstream failed",
        "upstream": {"jobId": IDS[0], "type": "transcription", "run": 0, "phase": "Failed"},
    }


def upstream_gate(rerun: int, phase: str = "Failed") -> Gate:
    return gate(scenes(), finder(body("transcription", IDS[0], phase=phase, rerun=rerun)))


@pytest.mark.parametrize("reason", [Reason.UPSTREAM_FAILED, Reason.UPSTREAM_CANCELLED])
def test_a_job_failed_by_its_upstream_is_rerun_when_the_upstream_is_retried(
    reason: Reason,
) -> None:
    status = ended_because_of_upstream(reason)
    assert run(scenes(), status, upstream_gate(rerun=0)).rerun is None
    decision = run(scenes(), status, upstream_gate(rerun=1))
    assert decision.rerun == 1
    assert decision.status == {} and not decision.create_job  # the new run starts after


def test_no_rerun_when_one_was_asked_already_or_the_job_failed_by_itself() -> None:
    status = ended_because_of_upstream()
    assert run(scenes(rerun=1), status, upstream_gate(rerun=1)).rerun is None  # asked already
    own = status | {"reason": Reason.BACKOFF_LIMIT_EXCEEDED}
    assert run(scenes(), own, upstream_gate(rerun=1)).rerun is None
    cancelled = status | {"phase": "Cancelled", "reason": Reason.CANCELLED}
    assert run(scenes(), cancelled, upstream_gate(rerun=1)).rerun is None
    assert run(scenes(), status, dependencies.READY).rerun is None  # upstream gone


def test_the_rerun_rule_compares_with_the_upstream_run_recorded() -> None:
    status = ended_because_of_upstream(run_=1)
    status["upstream"]["run"] = 1  # failed again in the upstream's second run
    recorded = OmveeJobStatus.model_validate(status)
    assert rerun_after_retry(scenes(rerun=1), recorded, upstream_gate(rerun=1)) is None
    assert rerun_after_retry(scenes(rerun=1), recorded, upstream_gate(rerun=2)) == 2


def test_the_new_run_after_a_rerun_waits_for_the_upstreams_new_run() -> None:
    status = ended_because_of_upstream()
    decision = run(scenes(rerun=1), status, upstream_gate(rerun=1))
    assert decision.run == 1 and not decision.create_job
    assert decision.status["reason"] == Reason.WAITING_FOR_UPSTREAM
    assert decision.status["upstream"]["run"] == 1


def test_rerun_stops_at_the_schemas_limit() -> None:
    status = ended_because_of_upstream(run_=dependencies.MAX_RERUN)
    spec = scenes(rerun=dependencies.MAX_RERUN)
    assert run(spec, status, upstream_gate(rerun=5)).rerun is None


# -- the reconciler acts on it, the cache wakes downstreams ------------------------------------


class FakeKube:
    """What the reconciler calls on a final job: only the spec patch."""

    def __init__(self, refuse: int | None = None) -> None:
        self.patches: list[tuple[str, str, str, int]] = []
        self.refuse = refuse

    def patch_rerun(self, namespace: str, name: str, version: str, rerun: int) -> dict[str, Any]:
        if self.refuse:
            raise client.ApiException(status=self.refuse, reason="Forbidden")
        self.patches.append((namespace, name, version, rerun))
        return body("scene-generation", IDS[1], IDS[0], phase="Failed", rerun=rerun) | {
            "metadata": {
                "namespace": namespace,
                "name": name,
                "uid": f"uid-{IDS[1]}",
                "resourceVersion": "8",
            },
        }


def cache_with(*ojobs: dict[str, Any]) -> tuple[ClusterCache, list[tuple[str, str, bool]]]:
    changes: list[tuple[str, str, bool]] = []
    cache = ClusterCache(
        client.ApiClient(), lambda ns, name, urgent: changes.append((ns, name, urgent))
    )
    for ojob in ojobs:
        cache.omveejobs.put(ojob)
    return cache, changes


def failed_downstream() -> dict[str, Any]:
    """The scene job "scenes" (IDS[1]), ended UpstreamFailed by transcription IDS[0] run 0."""
    downstream = body("scene-generation", IDS[1], IDS[0], name="scenes")
    downstream["status"] = ended_because_of_upstream()
    return downstream


def test_the_reconciler_raises_spec_rerun_when_the_upstream_was_retried() -> None:
    upstream = body("transcription", IDS[0], phase="Failed", rerun=1, name="transcription")
    downstream = failed_downstream()
    cache, _ = cache_with(upstream, downstream)
    kube = FakeKube()
    Reconciler(kube, cache, load_catalog()).reconcile("jobs", "scenes")  # type: ignore[arg-type]
    assert kube.patches == [("jobs", "scenes", "7", 1)]
    assert cache.omveejob("jobs", "scenes")["spec"]["rerun"] == 1  # type: ignore[index]


def test_a_refused_rerun_patch_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    upstream = body("transcription", IDS[0], phase="Failed", rerun=1, name="transcription")
    downstream = failed_downstream()
    cache, _ = cache_with(upstream, downstream)
    reconciler = Reconciler(FakeKube(refuse=403), cache, load_catalog())  # type: ignore[arg-type]
    assert reconciler.reconcile("jobs", "scenes") is None
    assert "could not raise spec.rerun to 1" in caplog.text


def test_a_change_of_an_upstream_queues_its_downstreams() -> None:
    upstream = body("transcription", IDS[0], phase="Running", name="t")
    first = body("scene-generation", IDS[1], IDS[0].upper(), name="s1")  # any letter case
    second = body("scene-generation", IDS[2], IDS[0], name="s2")
    unrelated = body("scene-generation", IDS[3], IDS[4], name="s3")
    cache, changes = cache_with(upstream, first, second, unrelated)
    assert sorted(o["metadata"]["name"] for o in cache.downstreams(upstream)) == ["s1", "s2"]
    cache.informers[0].on_change(upstream)  # as the OmveeJob informer does on a watch event
    assert sorted(name for _, name, _ in changes) == ["s1", "s2", "t"]
    changes.clear()
    cache.informers[0].on_change(unrelated)
    assert [name for _, name, _ in changes] == ["s3"]


def test_a_job_naming_itself_is_not_its_own_downstream() -> None:
    itself = body("scene-generation", IDS[1], IDS[1], name="loop")
    cache, changes = cache_with(itself)
    cache.informers[0].on_change(itself)
    assert changes == [("jobs", "loop", True)]


def test_the_resync_keeps_looking_at_jobs_failed_by_their_upstream() -> None:
    downstream = failed_downstream()
    done = body("transcription", IDS[0], phase="Succeeded", name="done")
    cache, _ = cache_with(downstream, done)
    reconciler = Reconciler(None, cache, load_catalog())  # type: ignore[arg-type]
    assert reconciler.resync() == [("jobs", "scenes")]


# -- the chart lets the operator write spec.rerun and nothing else ------------------------------


def test_the_admission_policy_guards_every_mutable_spec_field_but_rerun() -> None:
    """A new mutable spec field must be added to the policy, or the operator could change it."""
    schema = OmveeJobSpec.model_json_schema(by_alias=True)["properties"]
    mutable = {
        name
        for name, prop in schema.items()
        if "self == oldSelf" not in str(prop.get("x-kubernetes-validations", ""))
    } - {"rerun"}
    template = (ROOT / "charts/omvee/templates/operator/admission.yaml").read_text()
    [listed] = re.findall(r"\$unchanged := list ([^}]*)\}\}", template)
    assert set(re.findall(r'"(\w+)"', listed)) == mutable
