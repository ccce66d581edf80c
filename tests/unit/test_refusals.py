"""Pod-creation refusals: the Job controller's FailedCreate messages, sorted and worded."""

from __future__ import annotations

import pytest

from controller.refusals import (
    REASON_BLOCKED,
    REASON_QUOTA,
    REASON_REFUSED,
    classify,
    classify_job_refusal,
)

PREFIX = 'Error creating: pods "scene-abc-r0-x7k2p" is forbidden: '


def test_a_missing_job_runner_service_account_names_the_fix() -> None:
    refusal = classify(
        PREFIX + "error looking up service account jobs/omvee-job-runner: "
        'serviceaccount "omvee-job-runner" not found',
        "jobs",
        "omvee-job-runner",
    )
    assert refusal.reason == REASON_REFUSED and refusal.permanent
    assert refusal.message == (
        "cannot create pods: serviceaccount omvee-job-runner not found in namespace jobs; "
        "apply charts/omvee/examples/job-runner-rbac.yaml in it"
    )


def test_another_missing_service_account_is_named_without_our_hint() -> None:
    refusal = classify(
        PREFIX + 'error looking up service account jobs/gpu-runner: serviceaccount "gpu-runner" '
        "not found",
        "jobs",
        "gpu-runner-x",
    )
    assert refusal.permanent
    assert "serviceaccount gpu-runner not found in namespace jobs" in refusal.message
    assert "job-runner-rbac" not in refusal.message


def test_quota_waits_and_says_for_what() -> None:
    refusal = classify(
        PREFIX + "exceeded quota: pods-cap, requested: pods=1, used: pods=1, limited: pods=1",
        "jobs",
        "omvee-job-runner",
    )
    assert (refusal.reason, refusal.permanent) == (REASON_QUOTA, False)
    assert refusal.message == (
        "waiting for quota: cannot create pods: exceeded quota: pods-cap, requested: pods=1, "
        "used: pods=1, limited: pods=1"
    )


@pytest.mark.parametrize(
    "detail",
    [
        'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false',
        "maximum cpu usage per Container is 500m, but limit is 2",
        'admission webhook "policy.example.com" denied the request: no GPUs on Sundays',
    ],
)
def test_refusals_waiting_cannot_fix_are_permanent(detail: str) -> None:
    refusal = classify(PREFIX + detail, "jobs", "omvee-job-runner")
    assert (refusal.reason, refusal.permanent) == (REASON_REFUSED, True)
    assert refusal.message == f"cannot create pods: {detail}"


def test_a_webhook_that_cannot_be_reached_is_waited_for() -> None:
    refusal = classify(
        'Error creating: Internal error occurred: failed calling webhook "policy.example.com": '
        "connect: connection refused",
        "jobs",
        "omvee-job-runner",
    )
    assert (refusal.reason, refusal.permanent) == (REASON_BLOCKED, False)
    assert refusal.message.startswith("waiting for an admission webhook: cannot create pods: ")


def test_the_operators_own_job_create_refused() -> None:
    quota = classify_job_refusal(
        403, 'jobs.batch "x-r0" is forbidden: exceeded quota: jobs, requested: count/jobs.batch=1'
    )
    assert (quota.reason, quota.permanent) == ("QuotaExceeded", False)
    assert quota.message.startswith("waiting for quota: cannot create the Job: jobs.batch")
    invalid = classify_job_refusal(422, 'Job.batch "x-r0" is invalid: spec.template: Required')
    assert (invalid.reason, invalid.permanent) == ("JobRefused", True)
    rbac = classify_job_refusal(
        403, 'jobs.batch is forbidden: User "system:serviceaccount:o:op" cannot create resource'
    )
    assert (rbac.reason, rbac.permanent) == ("JobCreationBlocked", False)


def test_a_webhook_denial_without_forbidden_and_combined_events_read_the_same() -> None:
    denied = classify(
        '(combined from similar events): Error creating: admission webhook "p.example.com" '
        "denied the request: no GPUs on Sundays",
        "jobs",
        "omvee-job-runner",
    )
    assert (denied.reason, denied.permanent) == (REASON_REFUSED, True)
    assert denied.message == (
        'cannot create pods: admission webhook "p.example.com" denied the request: no GPUs on '
        "Sundays"
    )
