"""Transition rules: when runs start, what is final, cancel, lost Jobs, pending timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.v1alpha1.types import OmveeJobSpec, OmveeJobStatus, Phase
from controller.reconcile import recheck_after
from controller.refusals import Refusal, classify, classify_job_refusal
from controller.status import FailedCreate
from controller.transitions import (
    Decision,
    changed,
    decide,
    events_for,
    target_run,
)
from tests.unit.objects import JobObj, PodObj

NOW = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)


def spec(**fields: Any) -> OmveeJobSpec:
    return OmveeJobSpec.model_validate(
        {
            "type": "scene-generation",
            "projectId": "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10",
            "jobId": "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e",
            **fields,
        }
    )


def status(**fields: Any) -> OmveeJobStatus:
    return OmveeJobStatus.model_validate(fields)


def run(
    s: OmveeJobSpec,
    st: OmveeJobStatus,
    job: dict[str, Any] | None = None,
    pods: list[dict[str, Any]] | None = None,
    errors: list[str] | None = None,
    pending_timeout: int = 600,
    now: datetime = NOW,
    refused_input: tuple[str, str] | None = None,
    failed_create: FailedCreate | None = None,
    job_taken: str | None = None,
    create_refused: Refusal | None = None,
) -> Decision:
    return decide(
        spec=s,
        status=st,
        generation=1,
        job_name="x-r0",
        job=job,
        pods=pods or [],
        input_errors=errors or [],
        gpu=False,
        pending_timeout=pending_timeout,
        now=now,
        refused_input=refused_input,
        failed_create=failed_create,
        job_taken=job_taken,
        create_refused=create_refused,
    )


def test_a_new_job_starts_run_zero_with_a_job() -> None:
    decision = run(spec(), status())
    assert (decision.run, decision.create_job, decision.delete_job) == (0, True, False)
    assert decision.status["phase"] == "Pending"
    assert decision.status["progress"] == 0


def test_invalid_input_fails_without_a_job() -> None:
    decision = run(spec(), status(), errors=["input.x: Field required"])
    assert not decision.create_job
    assert (decision.status["phase"], decision.status["reason"]) == ("Failed", "InvalidInput")
    assert decision.status["message"] == "invalid input: input.x: Field required"
    assert decision.status["finishedAt"] == "2026-01-01T00:10:00Z"


def test_final_phases_are_sticky() -> None:
    for phase in ("Succeeded", "Failed", "Cancelled"):
        decision = run(
            spec(cancel=True), status(phase=phase, run=0, jobUid="u"), job=JobObj().build()
        )
        assert decision.status == {} and not decision.delete_job


def test_rerun_starts_only_after_the_run_ended() -> None:
    assert target_run(spec(rerun=1), status(phase="Running", run=0)) == (0, False)
    assert target_run(spec(rerun=1), status(phase="Failed", run=0)) == (1, True)
    assert target_run(spec(rerun=1), status(phase="Failed", run=1)) == (1, False)
    decision = run(spec(rerun=1), status(phase="Failed", run=0, progress=70, attempts=3))
    assert decision.create_job
    assert decision.status | {"conditions": None} == decision.status | {
        "phase": "Pending",
        "run": 1,
        "attempts": 0,
        "progress": 0,
        "result": None,
        "startedAt": None,
        "finishedAt": None,
        "conditions": None,
    }


def test_cancel_deletes_the_job() -> None:
    decision = run(
        spec(cancel=True),
        status(phase="Running", run=0, jobUid="u", attempts=1),
        job=JobObj().counts(active=1).build(),
    )
    assert decision.delete_job
    assert (decision.status["phase"], decision.status["attempts"]) == ("Cancelled", 1)


def test_a_vanished_job_fails_the_run_instead_of_running_it_twice() -> None:
    decision = run(spec(), status(phase="Running", run=0, jobUid="u"), job=None)
    assert not decision.create_job
    assert (decision.status["phase"], decision.status["reason"]) == ("Failed", "JobDeleted")


def test_a_job_created_but_not_recorded_is_created_or_adopted_again() -> None:
    decision = run(spec(), status(phase="Pending", run=0), job=None)
    assert decision.create_job


def test_pending_timeout_fails_and_stops_the_job() -> None:
    pod = PodObj("p1", "2026-01-01T00:00:00Z").unschedulable("0/4 nodes are available").build()
    within = run(
        spec(),
        status(phase="Pending", run=0, jobUid="u"),
        job=JobObj().build(),
        pods=[pod],
        pending_timeout=601,
    )
    assert within.status["reason"] == "Unschedulable" and not within.delete_job
    over = run(
        spec(),
        status(phase="Pending", run=0, jobUid="u"),
        job=JobObj().build(),
        pods=[pod],
        pending_timeout=600,
    )
    assert over.delete_job
    assert (over.status["phase"], over.status["reason"]) == ("Failed", "PendingTimeout")
    assert over.status["message"] == (
        "did not start within 600s: waiting for a node: 0/4 nodes are available"
    )


def test_operator_never_writes_progress_except_reset_and_success() -> None:
    running = run(
        spec(),
        status(phase="Running", run=0, jobUid="u", progress=40),
        job=JobObj().counts(active=1).build(),
        pods=[PodObj("p1").on("n").running().build()],
    )
    assert "progress" not in running.status
    done = run(
        spec(),
        status(phase="Running", run=0, jobUid="u", progress=40),
        job=JobObj().condition("Complete").build(),
    )
    assert done.status["progress"] == 100


def test_conditions_keep_their_transition_time_while_unchanged() -> None:
    job = JobObj().counts(active=1).build()
    pods = [PodObj("p1").on("n").running().build()]
    first = run(spec(), status(phase="Pending", run=0, jobUid="u"), job=job, pods=pods)
    earlier = [
        c | {"lastTransitionTime": "2026-01-01T00:01:00Z"} for c in first.status["conditions"]
    ]
    again = run(
        spec(), status(phase="Running", run=0, jobUid="u", conditions=earlier), job=job, pods=pods
    )
    assert {c["lastTransitionTime"] for c in again.status["conditions"]} == {"2026-01-01T00:01:00Z"}


def test_events_only_on_phase_or_reason_change() -> None:
    previous = status(phase="Running", run=0, reason="Running")
    same = Decision(run=0, status={"phase": "Running", "reason": "Running", "message": "m"})
    assert events_for(previous, same) == []
    failed = Decision(
        run=0,
        status={"phase": "Failed", "reason": "BackoffLimitExceeded", "message": "failed 3 times"},
    )
    [event] = events_for(previous, failed)
    assert (event.type, event.reason) == ("Warning", "BackoffLimitExceeded")
    assert event.message == "Failed: failed 3 times"


def test_changed_is_a_minimal_merge_patch() -> None:
    assert changed({"a": 1, "b": None}, {"a": 1, "b": None}) == {}
    assert changed({"a": 1}, {"a": 2, "c": None}) == {"a": 2}


def test_phase_finality() -> None:
    assert [p for p in Phase if p.final] == [Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED]


def test_cancel_of_a_new_run_removes_a_job_created_before_a_crash() -> None:
    decision = run(spec(cancel=True), status(), job=JobObj().build())
    assert decision.status["phase"] == "Cancelled" and decision.delete_job


def test_a_job_that_already_completed_is_not_cancelled() -> None:
    decision = run(
        spec(cancel=True),
        status(phase="Running", run=0, jobUid="u"),
        job=JobObj().condition("Complete").build(),
    )
    assert decision.status["phase"] == "Succeeded" and not decision.delete_job


def test_a_run_we_stopped_leaves_no_job_behind() -> None:
    stopped = status(phase="Failed", reason="PendingTimeout", run=0, jobUid="u")
    assert run(spec(), stopped, job=JobObj().build()).delete_job
    assert not run(spec(), stopped, job=None).delete_job
    failed = status(phase="Failed", reason="BackoffLimitExceeded", run=0, jobUid="u")
    assert not run(spec(), failed, job=JobObj().build()).delete_job


def refusal(message: str, last_seen: str = "2026-01-01T00:00:05Z") -> FailedCreate:
    return FailedCreate(
        classify(f'Error creating: pods "x-r0-abc" is forbidden: {message}', "jobs", "runner"),
        datetime.fromisoformat(last_seen.replace("Z", "+00:00")),
    )


def decide_with(failed_create: FailedCreate, job: dict[str, Any], now: datetime = NOW) -> Decision:
    creating = status(phase="Pending", run=0, jobUid="u", reason="Creating")
    return run(spec(), creating, job=job, now=now, failed_create=failed_create)


NO_ACCOUNT = 'error looking up service account jobs/runner: serviceaccount "runner" not found'


def test_a_refused_pod_creation_is_said_at_once_and_fails_after_the_grace() -> None:
    created = "2026-01-01T00:09:50Z"  # 10 s before NOW: still within the grace
    early = decide_with(refusal(NO_ACCOUNT, created), JobObj(created=created).build())
    assert (early.status["phase"], early.status["reason"]) == ("Pending", "PodCreationRefused")
    assert early.status["message"] == (
        "cannot create pods: serviceaccount runner not found in namespace jobs; "
        "apply charts/omvee/examples/job-runner-rbac.yaml in it"
    )
    assert not early.delete_job
    fixed_in_time = decide_with(
        refusal(NO_ACCOUNT, "2026-01-01T00:10:05Z"),  # 15 s after the Job was created
        JobObj(created=created).build(),
        now=NOW + timedelta(seconds=30),
    )
    assert fixed_in_time.status["phase"] == "Pending" and not fixed_in_time.delete_job
    late = decide_with(
        refusal(NO_ACCOUNT, "2026-01-01T00:10:21Z"),  # refused again 31 s after creation
        JobObj(created=created).build(),
        now=NOW + timedelta(seconds=35),
    )
    assert (late.status["phase"], late.status["reason"]) == ("Failed", "PodCreationRefused")
    assert late.status["message"] == early.status["message"]
    assert late.delete_job  # else the Job controller keeps trying


def test_a_quota_refusal_waits_until_the_pending_timeout_saying_why() -> None:
    quota = refusal("exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1")
    waiting = decide_with(quota, JobObj().build(), now=datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
    assert (waiting.status["phase"], waiting.status["reason"]) == ("Pending", "QuotaExceeded")
    assert waiting.status["message"].startswith("waiting for quota: cannot create pods: exceeded")
    timed_out = decide_with(quota, JobObj().build())  # the Job is 600 s old at NOW
    assert (timed_out.status["phase"], timed_out.status["reason"]) == ("Failed", "PendingTimeout")
    assert timed_out.status["message"].startswith(
        "did not start within 600s: waiting for quota: cannot create pods: exceeded quota: q"
    )


def test_a_refusal_older_than_the_runs_latest_pod_is_forgotten() -> None:
    pod = PodObj("p1", "2026-01-01T00:01:00Z").failed(1).build()
    decision = run(
        spec(),
        status(phase="Running", run=0, jobUid="u", attempts=1),
        job=JobObj().counts(failed=1).build(),
        pods=[pod],
        failed_create=refusal(NO_ACCOUNT, "2026-01-01T00:00:05Z"),
    )
    assert decision.status["reason"] == "Retrying"


def test_a_new_run_refused_before_it_starts_fails_without_a_job() -> None:
    decision = run(
        spec(), status(), refused_input=("DuplicateJobId", "job id x already belongs to OmveeJob y")
    )
    assert not decision.create_job
    assert (decision.status["phase"], decision.status["reason"], decision.status["message"]) == (
        "Failed",
        "DuplicateJobId",
        "job id x already belongs to OmveeJob y",
    )


def test_a_deadline_that_passed_while_waiting_says_so_and_why() -> None:
    job = JobObj().condition("Failed", "DeadlineExceeded").build()
    job["spec"]["activeDeadlineSeconds"] = 20
    waiting = "waiting for a GPU node: 0/4 nodes are available: 2 Insufficient nvidia.com/gpu"
    decision = run(
        spec(),
        status(phase="Pending", run=0, jobUid="u", reason="Unschedulable", message=waiting),
        job=job,
        pods=[PodObj("p1").unschedulable("0/4 nodes are available").build()],
    )
    assert (decision.status["phase"], decision.status["reason"]) == ("Failed", "DeadlineExceeded")
    assert decision.status["message"] == (
        f"the 20s deadline passed before the job could start; it was {waiting}"
    )
    ran = run(
        spec(),
        status(phase="Running", run=0, jobUid="u", startedAt="2026-01-01T00:00:01Z"),
        job=job,
        pods=[PodObj("p1").running().build()],
    )
    assert ran.status["message"] == "deadline exceeded after 20s"


@pytest.mark.parametrize(
    ("reason", "after"),
    [("Creating", 3.0), ("PodCreationRefused", 5.0), ("QuotaExceeded", 10.0), ("Running", None)],
)
def test_a_job_waiting_for_its_pod_is_looked_at_again_soon(
    reason: str, after: float | None
) -> None:
    assert recheck_after({"status": {"phase": "Pending", "reason": reason}}) == after
    assert recheck_after({"status": {"phase": "Failed", "reason": reason}}) is None


def test_a_deadline_passed_while_waiting_keeps_its_cause_through_failure_target() -> None:
    waiting = "waiting for a GPU node: 0/4 nodes are available"
    failing_job = JobObj().condition("FailureTarget", "DeadlineExceeded", "active too long")
    failing_job.obj["spec"]["activeDeadlineSeconds"] = 20
    failing = run(
        spec(),
        status(phase="Pending", run=0, jobUid="u", reason="Unschedulable", message=waiting),
        job=failing_job.build(),
    )
    said = f"the 20s deadline passed before the job could start; it was {waiting}"
    assert (failing.status["reason"], failing.status["message"]) == ("Failing", said)
    failed_job = failing_job.condition("Failed", "DeadlineExceeded").build()
    failed = run(
        spec(),
        status(phase="Pending", run=0, jobUid="u", reason="Failing", message=said),
        job=failed_job,
    )
    assert (failed.status["reason"], failed.status["message"]) == ("DeadlineExceeded", said)


def test_a_duplicate_fails_as_one_even_when_cancelled_or_with_bad_input() -> None:
    for fields, errors in (({"cancel": True}, []), ({}, ["input.x: Field required"])):
        decision = run(
            spec(**fields),
            status(),
            errors=errors,
            refused_input=("DuplicateJobId", "job id x already belongs to OmveeJob y"),
        )
        assert decision.status["reason"] == "DuplicateJobId"


def test_a_refused_job_create_fails_with_conditions_that_agree() -> None:
    pending = status(**run(spec(), status()).status)  # a new run recorded: Pending, Creating
    refusal = classify_job_refusal(422, "Job.batch is invalid: x")
    decision = run(spec(), pending, create_refused=refusal)
    failed = decision.status
    assert not decision.create_job
    assert (failed["phase"], failed["reason"], failed["finishedAt"]) == (
        "Failed",
        "JobRefused",
        "2026-01-01T00:10:00Z",
    )
    assert failed["message"] == "the API server refused the Job: Job.batch is invalid: x"
    conditions = {c["type"]: (c["status"], c["reason"]) for c in failed["conditions"]}
    assert conditions["Finished"] == ("True", "Failed")
    assert conditions["Running"] == ("False", "Failed")


def test_a_job_create_refused_for_now_waits_saying_why_and_tries_again() -> None:
    pending = status(**run(spec(), status()).status)
    refusal = classify_job_refusal(403, 'jobs.batch "x-r0" is forbidden: exceeded quota: q')
    decision = run(spec(), pending, create_refused=refusal)
    assert decision.create_job
    assert (decision.status["phase"], decision.status["reason"]) == ("Pending", "QuotaExceeded")
    assert decision.status["message"].startswith("waiting for quota: cannot create the Job")


def test_a_job_name_taken_by_another_fails_the_run_in_one_decision() -> None:
    taken = "a Job named x-r0 already exists and is not owned by this OmveeJob"
    for st in (status(), status(**run(spec(), status()).status)):  # new, and recorded
        decision = run(spec(), st, job_taken=taken)
        assert not decision.create_job and not decision.delete_job
        assert (decision.status["phase"], decision.status["reason"]) == ("Failed", "JobNameTaken")
        assert decision.status["message"] == taken


def test_a_job_the_api_server_keeps_refusing_ends_at_the_pending_timeout() -> None:
    started = run(spec(), status(), pending_timeout=600).status  # conditions stamped at NOW
    refused = status(
        **(started | {"reason": "QuotaExceeded", "message": "waiting for quota: cannot create"})
    )
    later = run(spec(), refused, now=NOW + timedelta(seconds=599))
    assert later.create_job  # tries again
    over = run(spec(), refused, now=NOW + timedelta(seconds=600))
    assert not over.create_job
    assert (over.status["phase"], over.status["reason"], over.status["message"]) == (
        "Failed",
        "PendingTimeout",
        "did not start within 600s: waiting for quota: cannot create",
    )
