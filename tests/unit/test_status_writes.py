"""One status write per state a run passes through: the Job controller marking a success
(SuccessCriteriaMet) a moment after the pod succeeded is the state already recorded (Finishing),
so it writes nothing and posts no Event (it cost a message-only write per job in the operator
bench)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.v1alpha1.reasons import Reason
from api.v1alpha1.types import OmveeJobSpec, OmveeJobStatus
from controller.transitions import Decision, changed, decide, events_for
from tests.unit.objects import JobObj, PodObj

NOW = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
SPEC = OmveeJobSpec.model_validate(
    {
        "type": "scene-generation",
        "projectId": "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10",
        "jobId": "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e",
    }
)


def _pass(
    status: OmveeJobStatus, job: JobObj, pods: list[dict[str, Any]], now: datetime
) -> Decision:
    return decide(
        spec=SPEC,
        status=status,
        generation=1,
        job_name="x-r0",
        job=job.build(),
        pods=pods,
        input_errors=[],
        gpu=False,
        pending_timeout=600,
        now=now,
    )


def _recorded(status: OmveeJobStatus, decision: Decision) -> OmveeJobStatus:
    """The status after the operator's merge patch of ``decision`` (as the reconciler
    computes it: changed() against the status it read)."""
    patch = changed(status.model_dump(by_alias=True, mode="json"), decision.status)
    return OmveeJobStatus.model_validate(status.model_dump(by_alias=True, mode="json") | patch)


@pytest.mark.parametrize(
    ("pods", "counts_running", "counts_done"),
    [
        ([PodObj("p1").on("n").succeeded().build()], {"active": 1}, {"succeeded": 1}),
        (  # the second attempt succeeded
            [
                PodObj("p1", "2026-01-01T00:00:00Z").on("n").failed(3).build(),
                PodObj("p2", "2026-01-01T00:01:00Z").on("n").succeeded().build(),
            ],
            {"failed": 1, "active": 1},
            {"failed": 1, "succeeded": 1},
        ),
    ],
)
def test_the_job_marking_its_pods_success_writes_nothing_new(
    pods: list[dict[str, Any]], counts_running: dict[str, int], counts_done: dict[str, int]
) -> None:
    running = OmveeJobStatus.model_validate(
        {"run": 0, "phase": "Running", "reason": "Running", "jobUid": "job-uid", "attempts": 1}
    )
    # The pod's success is seen first: the run is Finishing.
    first = _pass(running, JobObj().counts(**counts_running), pods, NOW)
    assert first.status["reason"] == Reason.FINISHING
    finishing = _recorded(running, first)

    # Then the Job controller marks the Job's success criteria met, not yet Complete.
    job = JobObj().counts(**counts_done).condition("SuccessCriteriaMet")
    second = _pass(finishing, job, pods, NOW + timedelta(seconds=1))
    patch = changed(finishing.model_dump(by_alias=True, mode="json"), second.status)
    assert patch == {}
    assert events_for(finishing, second) == []

    # Complete: one write, one Event.
    done = _pass(finishing, job.condition("Complete"), pods, NOW + timedelta(seconds=2))
    assert changed(finishing.model_dump(by_alias=True, mode="json"), done.status)
    assert [e.reason for e in events_for(finishing, done)] == [Reason.SUCCEEDED]
