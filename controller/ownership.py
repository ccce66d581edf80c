"""Pure: may this OmveeJob start? Who owns its job id, and are its upstreams of its project.

- A job id (``spec.jobId``, the Supabase ``jobs.id``) belongs to one OmveeJob per namespace.
  One that has already started a run owns it; otherwise the oldest (creation time, then name).
  Any other fails with DuplicateJobId before a Job exists, and is never mirrored, so the work
  is not done twice and the owner's row is never overwritten.
- Every input field naming another job (see api.catalog.upstreams) must name a job of the same
  project in the same namespace. One that names another project's job fails with
  UpstreamNotFound, worded as for an unknown job, before any pod could read that job's result.
  An upstream that does not exist (yet) is left to the job itself.

The reconciler calls these under a lock per job id, so two OmveeJobs with the same id are
never decided at the same time.
"""

from __future__ import annotations

from typing import Any

from api.catalog.upstreams import upstream_job_ids
from api.v1alpha1 import constants
from api.v1alpha1.reasons import Reason
from api.v1alpha1.types import OmveeJobSpec


def _started(ojob: dict[str, Any]) -> bool:
    status = ojob.get("status") or {}
    return status.get("run") is not None and status.get("reason") != Reason.DUPLICATE_JOB_ID


def _age_key(ojob: dict[str, Any]) -> tuple[str, str]:
    meta = ojob["metadata"]
    return (str(meta.get("creationTimestamp") or ""), str(meta["name"]))


def job_id_owner(name: str, same_id: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The OmveeJob that owns the job id, among ``same_id`` (every OmveeJob of the namespace
    with that spec.jobId, this one included), or None when it is ``name`` itself."""
    contenders = [o for o in same_id if o["metadata"].get("deletionTimestamp") is None]
    started = [o for o in contenders if _started(o)]
    if any(o["metadata"]["name"] == name for o in started):
        return None
    pool = started or [
        o
        for o in contenders
        if (o.get("status") or {}).get("reason") != Reason.DUPLICATE_JOB_ID
        or o["metadata"]["name"] == name
    ]
    if not pool:
        return None
    owner = min(pool, key=_age_key)
    return None if owner["metadata"]["name"] == name else owner


def duplicate(name: str, job_id: str, owner: dict[str, Any]) -> tuple[Reason, str]:
    """(reason, message) for an OmveeJob that lost its job id to ``owner``."""
    return (
        Reason.DUPLICATE_JOB_ID,
        f"job id {job_id} already belongs to OmveeJob {owner['metadata']['name']}; "
        f"{name} was not run (give it a job id of its own)",
    )


def foreign_upstream(
    spec: OmveeJobSpec, namespace: str, found: dict[str, list[dict[str, Any]]]
) -> tuple[Reason, str] | None:
    """(reason, message) when an upstream field names a job of another project, else None.

    ``found`` maps each upstream job id to the OmveeJobs of the namespace with that spec.jobId.
    """
    for field, job_id in upstream_job_ids(spec.type, spec.input).items():
        matches = found.get(job_id) or []
        if matches and not any(
            str((o.get("spec") or {}).get("projectId", "")).lower() == spec.project_id.lower()
            for o in matches
        ):
            return (
                Reason.UPSTREAM_NOT_FOUND,
                f"input.{field}: there is no job {job_id} of project {spec.project_id} "
                f"in namespace {namespace}",
            )
    return None


OURS, NAMESAKE, FOREIGN = "ours", "namesake", "foreign"


def job_relation(job: dict[str, Any], name: str, uid: str) -> str:
    """Pure: how the Job named for a run of the OmveeJob ``name`` (``uid``) stands to it:
    OURS (it is the Job's controller), NAMESAKE (left by a deleted OmveeJob of the same name:
    garbage collection removes it, wait) or FOREIGN (something else's: the run cannot use the
    name, JobNameTaken)."""
    owners = job.get("metadata", {}).get("ownerReferences") or []
    if any(ref.get("uid") == uid and ref.get("controller") for ref in owners):
        return OURS
    if any(
        ref.get("kind") == constants.KIND and ref.get("name") == name and ref.get("uid") != uid
        for ref in owners
    ):
        return NAMESAKE
    return FOREIGN


def job_taken_message(job_name: str) -> str:
    """Pure: status.message for a run whose Job name ``job_name`` something else holds."""
    return f"a Job named {job_name} already exists and is not owned by this OmveeJob"
