"""Who owns a job id, and whether an OmveeJob's upstreams are of its project."""

from __future__ import annotations

from typing import Any

from api.catalog.upstreams import upstream_job_ids
from api.v1alpha1.types import JobType, OmveeJobSpec
from controller.ownership import duplicate, foreign_upstream, job_id_owner

PROJECT = "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10"
OTHER_PROJECT = "9a9a6a0e-8d3b-4c55-9a57-3f0b7e6d9c10"
JOB_ID = "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e"
UPSTREAM = "11111111-5a0f-4e8e-b1d2-6c3f4a5b6d7e"


def ojob(
    name: str,
    created: str = "2026-01-01T00:00:00Z",
    project: str = PROJECT,
    job_id: str = JOB_ID,
    **status: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"projectId": project, "jobId": job_id},
        "status": status,
    }


def test_the_oldest_owns_a_job_id() -> None:
    older, newer = ojob("b", "2026-01-01T00:00:00Z"), ojob("a", "2026-01-01T00:00:01Z")
    assert job_id_owner("b", [older, newer]) is None
    assert job_id_owner("a", [older, newer]) is older


def test_created_at_the_same_instant_the_name_decides() -> None:
    first, second = ojob("a"), ojob("b")
    assert job_id_owner("a", [second, first]) is None
    assert job_id_owner("b", [second, first]) is first


def test_one_that_already_started_owns_even_if_younger_by_name() -> None:
    started, waiting = ojob("b", run=0, reason="Running"), ojob("a")
    assert job_id_owner("a", [started, waiting]) is started
    assert job_id_owner("b", [started, waiting]) is None


def test_a_loser_never_becomes_owner_while_the_owner_stands() -> None:
    owner = ojob("b", "2026-01-01T00:00:01Z", run=0, reason="Succeeded")
    loser = ojob("a", run=0, reason="DuplicateJobId")
    assert job_id_owner("a", [owner, loser]) is owner


def test_with_the_owner_deleted_a_rerun_of_the_loser_may_start() -> None:
    loser = ojob("a", run=0, reason="DuplicateJobId")
    assert job_id_owner("a", [loser]) is None


def test_the_duplicate_message_names_the_owner() -> None:
    reason, message = duplicate("copy", JOB_ID, ojob("original"))
    assert reason == "DuplicateJobId"
    assert message == (
        f"job id {JOB_ID} already belongs to OmveeJob original; copy was not run "
        "(give it a job id of its own)"
    )


def spec(job_type: str = "scene-generation", **input_: Any) -> OmveeJobSpec:
    return OmveeJobSpec.model_validate(
        {"type": job_type, "projectId": PROJECT, "jobId": JOB_ID, "input": input_}
    )


def test_every_upstream_field_is_found_by_its_name() -> None:
    assert upstream_job_ids(JobType.SCENE_GENERATION, {"transcriptJobId": UPSTREAM.upper()}) == {
        "transcriptJobId": UPSTREAM
    }
    assert upstream_job_ids(JobType.VIDEO_GENERATION, {"images_job_id": UPSTREAM}) == {
        "imagesJobId": UPSTREAM
    }
    assert upstream_job_ids(JobType.TRANSCRIPTION, {"audioUrl": "https://x.org/a.wav"}) == {}


def test_an_upstream_of_another_project_is_refused_as_unknown() -> None:
    other = ojob("theirs", project=OTHER_PROJECT, job_id=UPSTREAM)
    refused = foreign_upstream(spec(transcriptJobId=UPSTREAM), "jobs", {UPSTREAM: [other]})
    assert refused == (
        "UpstreamNotFound",
        f"input.transcriptJobId: there is no job {UPSTREAM} of project {PROJECT} in namespace jobs",
    )


def test_an_upstream_of_the_same_project_or_not_yet_there_is_left_to_run() -> None:
    mine = ojob("mine", job_id=UPSTREAM)
    assert foreign_upstream(spec(transcriptJobId=UPSTREAM), "jobs", {UPSTREAM: [mine]}) is None
    assert foreign_upstream(spec(transcriptJobId=UPSTREAM), "jobs", {UPSTREAM: []}) is None
