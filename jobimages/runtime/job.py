"""The job a container runs: from $OMVEE_JOB (set by the operator) or given on the command line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from api.v1alpha1.constants import ENV_JOB
from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.settings import runtime_settings


@dataclass(frozen=True)
class Job:
    """One job: its type, ids and input (the catalog's camelCase fields), and, when the operator
    runs it, its OmveeJob (``name``, ``namespace``) and ``run`` number."""

    type: str
    project_id: str
    job_id: str
    input: dict[str, Any] = field(default_factory=dict)
    name: str | None = None  # the OmveeJob, when run by the operator
    namespace: str | None = None
    run: int = 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Job:
        """The job in $OMVEE_JOB (of ``env`` when given, else the runtime settings); raises
        PermanentError when it is missing or not a job document."""
        raw = env.get(ENV_JOB) if env is not None else runtime_settings().job
        if not raw:
            raise PermanentError(
                f"${ENV_JOB} is not set: run me through an OmveeJob, or use "
                "`python -m jobimages.<type> --help` to run by hand"
            )
        try:
            data = json.loads(raw)
            return cls(
                type=data["type"],
                project_id=data["projectId"],
                job_id=data["jobId"],
                input=data.get("input") or {},
                name=data.get("name"),
                namespace=data.get("namespace"),
                run=int(data.get("run") or 0),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise PermanentError(f"${ENV_JOB} is not a valid job document: {error}") from None


def job_given() -> bool:
    """Whether the operator gave this container a job ($OMVEE_JOB): the entrypoints run by
    hand from their command line otherwise."""
    return runtime_settings().job is not None
