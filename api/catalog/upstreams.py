"""Pure: which fields of a job type's input name another job (its upstreams).

A field names another job when its name ends in ``_job_id`` (``transcript_job_id``,
``scenes_job_id``...): every input model follows that rule, so a new job type's upstream fields
are found without a list to keep. Used by the API and the operator to check that every upstream
is a job of the same project.
"""

from __future__ import annotations

from typing import Any

from api.catalog.definition import UPSTREAM_SUFFIX as UPSTREAM_SUFFIX
from api.catalog.registry import definition
from api.v1alpha1.types import JobType


def upstream_fields(job_type: JobType) -> dict[str, str]:
    """{python field name: camelCase alias} of the input fields naming another job."""
    return definition(job_type).upstream_fields()


def upstream_job_ids(job_type: JobType, spec_input: dict[str, Any]) -> dict[str, str]:
    """{camelCase field: job id} for each upstream field set in ``spec_input`` (a spec's input,
    camelCase, or a submission's, snake_case); ids are lower-cased."""
    found = {}
    for name, alias in upstream_fields(job_type).items():
        value = spec_input.get(alias, spec_input.get(name))
        if isinstance(value, str) and value:
            found[alias] = value.lower()
    return found
