"""The Python client of the OMVEE jobs API: ``OmveeClient`` (sync) and ``AsyncOmveeClient``.

    from api.client import OmveeClient

    with OmveeClient("http://127.0.0.1:8000", token) as omvee:
        accepted = omvee.transcribe(project_id, audio_url="https://...", language="en")
        job = omvee.wait(accepted.id, timeout=600)   # JobPublic; JobFailed if it failed

Results are the API's own public models (``JobPublic``, ``JobAccepted``, ``PipelinePublic``...),
errors are typed (api.client.errors), and requests that got no answer, a 503 or a 429 are
retried without ever creating a job twice (each submission's Idempotency-Key is reused on its
retries). This package imports no web framework, Kubernetes client or operator code.
"""

from __future__ import annotations

from api.catalog.pipelines import PipelinePublic
from api.client.aio import AsyncOmveeClient
from api.client.errors import (
    ApiError,
    Conflict,
    Forbidden,
    JobCancelled,
    JobEnded,
    JobFailed,
    NotFound,
    OmveeError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
    WaitTimeout,
)
from api.client.retrying import RetryPolicy
from api.client.rollout import AsyncRollout, Rollout, RolloutSettings
from api.client.sync import OmveeClient
from api.v1alpha1.public import (
    JobAccepted,
    JobPublic,
    JobsPublic,
    PipelineAccepted,
    PipelineStepAccepted,
)
from api.v1alpha1.types import JobType, Phase

__all__ = [
    "ApiError",
    "AsyncOmveeClient",
    "AsyncRollout",
    "Conflict",
    "Forbidden",
    "JobAccepted",
    "JobCancelled",
    "JobEnded",
    "JobFailed",
    "JobPublic",
    "JobType",
    "JobsPublic",
    "NotFound",
    "OmveeClient",
    "OmveeError",
    "Phase",
    "PipelineAccepted",
    "PipelinePublic",
    "PipelineStepAccepted",
    "RetryPolicy",
    "Rollout",
    "RolloutSettings",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "WaitTimeout",
]
