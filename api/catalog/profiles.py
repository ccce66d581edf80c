"""Where and how each job type runs: the profiles file (data), validated on load.

The Helm chart renders this file from values. Shape::

    defaults:            # merged under every type (a type's own keys win)
      ttlSecondsAfterFinished: 86400
    types:
      transcription:
        image: ghcr.io/omvee/job-transcription:0.1.0
        command: [python, -m, jobimages.transcription]
        resources: {requests: {cpu: "2", memory: 4Gi}, limits: {nvidia.com/gpu: "1"}}
        nodeSelector: {nvidia.com/gpu.present: "true"}
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
        retries: 2
        timeoutSeconds: 3600
        pendingTimeoutSeconds: 900
      image-generation:
        ...
        env: {OMVEE_IMAGE_BACKEND: storyboard}   # extra variables of the job container
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel

from api import urlpolicy
from api.v1alpha1.constants import ENV_JOB
from api.v1alpha1.types import MAX_RETRIES, MAX_TIMEOUT_SECONDS, JobType

DEFAULT_PROFILES = Path(__file__).with_name("profiles.yaml")
GPU_RESOURCE = "nvidia.com/gpu"
# The job pods' ServiceAccount; charts/omvee/examples/job-runner-rbac.yaml creates it.
DEFAULT_SERVICE_ACCOUNT = "omvee-job-runner"
#: The job container's variables the operator sets itself (controller.builders.build_job): the
#: job, the pod's name, TMPDIR, the URL policy and the results store. A profile's ``env`` may
#: not name one, nor anything starting with OMVEE_JOB.
OPERATOR_ENV = frozenset(
    {
        ENV_JOB,
        "OMVEE_POD_NAME",
        "TMPDIR",
        urlpolicy.ENV_HOSTS,
        urlpolicy.ENV_BLOCKED_NETWORKS,
        urlpolicy.ENV_ALLOWED_NETWORKS,
        "OMVEE_RESULTS",
        "OMVEE_RESULTS_DIR",
        "OMVEE_RESULTS_BUCKET",
        "SUPABASE_URL",
        "SUPABASE_SERVICE_ROLE_KEY",
    }
)
# A C identifier, as shells and most programs read variable names.
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]


class CatalogError(ValueError):
    """The profiles file is missing, unreadable or invalid; the message names the field."""


class Toleration(BaseModel):
    """A pod toleration (core/v1 Toleration); dumped by alias into the pod spec."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    key: str | None = None
    operator: str = Field("Equal", pattern="^(Equal|Exists)$")
    value: str | None = None
    effect: str | None = Field(None, pattern="^(NoSchedule|PreferNoSchedule|NoExecute)$")
    toleration_seconds: int | None = Field(
        None, description="For NoExecute: seconds the pod stays bound after the taint appears."
    )


# A quantity as YAML gives it: "500m", "4Gi", or a bare number (cpu: 2).
Quantity = Annotated[
    str,
    BeforeValidator(lambda v: str(v) if isinstance(v, int | float) else v),
    WithJsonSchema({"type": ["string", "integer", "number"]}),
]


class Resources(BaseModel):
    """The job container's resource requests and limits ({name: quantity})."""

    model_config = ConfigDict(extra="forbid")
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class JobProfile(BaseModel):
    """Where and how one job type runs (camelCase in the file): image and command,
    resources, scheduling, the pods' ServiceAccount, retries and timeouts (seconds)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    image: str = Field(min_length=1)
    command: list[str] = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    service_account_name: str = Field(
        DEFAULT_SERVICE_ACCOUNT, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63
    )
    retries: int = Field(2, ge=0, le=MAX_RETRIES)
    timeout_seconds: int = Field(3600, ge=1, le=MAX_TIMEOUT_SECONDS)
    pending_timeout_seconds: int = Field(600, ge=1, le=MAX_TIMEOUT_SECONDS)
    # Long enough that the operator sees a finished Job before the TTL controller removes it,
    # even across an operator restart.
    ttl_seconds_after_finished: int = Field(86400, ge=600)
    env: dict[EnvName, str] = Field(
        default_factory=dict,
        json_schema_extra={"additionalProperties": False},  # a bad name fails helm install
        description=(
            "Extra environment variables of the job container ({NAME: value}), e.g. "
            "OMVEE_IMAGE_BACKEND: storyboard; never one the operator sets (OMVEE_JOB*, "
            "OMVEE_POD_NAME, TMPDIR, OMVEE_URL_*, OMVEE_RESULTS*, SUPABASE_URL, "
            "SUPABASE_SERVICE_ROLE_KEY). A type's env replaces the defaults' whole, as "
            "every profile key does."
        ),
    )

    @field_validator("env")
    @classmethod
    def _not_the_operators(cls, env: dict[str, str]) -> dict[str, str]:
        """Refuse a variable the operator sets (``OPERATOR_ENV``, or OMVEE_JOB*): the
        container would get two values, and the job its own one overridden."""
        taken = sorted(name for name in env if name in OPERATOR_ENV or name.startswith(ENV_JOB))
        if taken:
            raise ValueError(
                f"{', '.join(taken)}: set by the operator in every job container, not by a profile"
            )
        return env

    @property
    def gpu(self) -> bool:
        """Whether the profile asks for a GPU (an ``nvidia.com/gpu`` limit)."""
        return GPU_RESOURCE in self.resources.limits


class Catalog(BaseModel):
    """Every job type's profile: ``{job type: JobProfile}``, one entry per declared type."""

    profiles: dict[JobType, JobProfile]

    def profile(self, job_type: JobType) -> JobProfile:
        """The profile of ``job_type``; every declared type has one (parse_catalog checks)."""
        return self.profiles[job_type]


def parse_catalog(data: Any, source: str = "profiles") -> Catalog:
    """The Catalog of a parsed profiles file (``defaults`` merged under each type). Raises
    CatalogError, naming ``source`` and the field, when the shape is wrong, a type is unknown
    or missing, a profile is invalid, or a GPU profile tolerates no taint."""
    if not isinstance(data, dict) or not isinstance(data.get("types"), dict):
        raise CatalogError(f"{source}: expected a mapping with a 'types' mapping")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise CatalogError(f"{source}: 'defaults' must be a mapping")
    known = {t.value for t in JobType}
    unknown = sorted(set(data["types"]) - known)
    if unknown:
        raise CatalogError(
            f"{source}: unknown job type(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    missing = sorted(known - set(data["types"]))
    if missing:
        raise CatalogError(f"{source}: no profile for job type(s) {', '.join(missing)}")
    profiles: dict[JobType, JobProfile] = {}
    for name, body in data["types"].items():
        try:
            profile = JobProfile.model_validate({**defaults, **(body or {})})
        except ValidationError as error:
            problems = "; ".join(
                f"{name}.{'.'.join(str(p) for p in e['loc'])}: "
                f"{e['msg'].removeprefix('Value error, ')}"
                for e in error.errors()
            )
            raise CatalogError(f"{source}: {problems}") from None
        if profile.gpu and not profile.tolerations:
            raise CatalogError(
                f"{source}: {name} asks for {GPU_RESOURCE} but tolerates no "
                "taint; GPU nodes are tainted, so it would never schedule"
            )
        profiles[JobType(name)] = profile
    return Catalog(profiles=profiles)


def load_catalog(path: Path = DEFAULT_PROFILES) -> Catalog:
    """The Catalog of the profiles file at ``path``. Raises CatalogError when the file cannot
    be read, is not YAML, or is invalid (see parse_catalog)."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise CatalogError(f"cannot read job profiles {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise CatalogError(f"{path} is not valid YAML: {error}") from None
    return parse_catalog(data, str(path))
