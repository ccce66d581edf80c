"""Every run's Events start with its Job's creation, even when its first recorded status is
already past it (the pod was scheduled before the status write)."""

from __future__ import annotations

from api.v1alpha1.reasons import Reason
from api.v1alpha1.types import OmveeJobStatus
from controller.transitions import Decision, events_for

STARTING = {"phase": "Pending", "reason": Reason.STARTING, "message": "starting on kwok-cpu-0"}


def test_a_created_job_whose_pod_is_already_scheduled_still_says_creating_first() -> None:
    events = events_for(OmveeJobStatus(), Decision(run=0, status=STARTING), created="j-r0")
    assert [(e.reason, e.message) for e in events] == [
        (Reason.CREATING, "Pending: creating Job j-r0"),
        (Reason.STARTING, "Pending: starting on kwok-cpu-0"),
    ]


def test_no_second_creating_when_it_was_recorded_or_nothing_was_created() -> None:
    recorded = OmveeJobStatus.model_validate({"run": 0, "phase": "Pending", "reason": "Creating"})
    events = events_for(recorded, Decision(run=0, status=STARTING), created="j-r0")
    assert [e.reason for e in events] == [Reason.STARTING]
    assert [e.reason for e in events_for(OmveeJobStatus(), Decision(run=0, status=STARTING))] == [
        Reason.STARTING
    ]
    creating = {"phase": "Pending", "reason": Reason.CREATING, "message": "creating Job j-r0"}
    events = events_for(OmveeJobStatus(), Decision(run=0, status=creating), created="j-r0")
    assert [e.reason for e in events] == [Reason.CREATING]
