"""The name an OmveeJob gets when the API (or the stuck-row command) creates it for a job id:
one name per id, so the API server itself refuses a duplicate."""

from __future__ import annotations


def omveejob_name(job_id: str) -> str:
    """``job-`` and ``job_id`` in lower case: the ``metadata.name`` of the OmveeJob of that id."""
    return f"job-{job_id.lower()}"
