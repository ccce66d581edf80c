"""Per-type rollout: each job type is submitted to the cluster, or run in a child process of the
caller as FastAPI's BackgroundTasks did, chosen by one setting (``OMVEE_ROLLOUT``).

    from api.client import OmveeClient, Rollout

    rollout = Rollout(OmveeClient(api_url, token))        # reads OMVEE_ROLLOUT
    job_id = rollout.submit("transcription", project_id, {"audio_url": url}, job_id=job_id)

``cluster`` (every type's default) submits through the client (``POST /v1/jobs``), with its
retries and idempotency: the job survives the caller's restart, retries on its type's policy
and runs on its pool (GPU for transcription, images, video). ``local`` validates the input as
the API would, then starts ``python -m jobimages.<type>`` with the job in ``$OMVEE_JOB`` and
``OMVEE_RUN_LOCAL=true`` in the caller's own environment, and returns at once; the child writes
the same ``jobs`` row through ``mirror_job_status`` (``OMVEE_MIRROR_DSN``, or ``SUPABASE_URL``
and ``SUPABASE_SERVICE_ROLE_KEY``; ``OMVEE_MIRROR_STATUS_WORDS``) and its results where
``OMVEE_RESULTS_DIR`` says, so the app reads one table either way. What ``local`` gives up: the
job dies with the caller's machine (no restart survival), one attempt only (no retries beyond
the process, no deadline), no GPU pool (it runs where the caller runs), no OmveeJob (the API,
CLI and dashboard do not see it), and the earlier job an input names is not looked up before
the start (the child fails when it cannot read that job's result).

Switching a type back is a configuration change: set its mode in ``OMVEE_ROLLOUT`` (or remove
it) and restart the app. This module starts job code by module name and never imports it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from api.catalog.definition import JobTypeDefinition
from api.catalog.registry import BY_NAME
from api.client.aio import AsyncOmveeClient
from api.client.calls import checked_input, job_type_definition
from api.client.errors import ValidationFailed
from api.client.sync import OmveeClient
from api.envsettings import EnvSettings, SettingsError
from api.statuswords import ENV_STATUS_WORDS, StatusWords
from api.urlpolicy import UrlPolicy
from api.v1alpha1.constants import ENV_JOB, UUID_PATTERN

log = logging.getLogger(__name__)
ClientT = TypeVar("ClientT")

ENV_ROLLOUT = "OMVEE_ROLLOUT"
#: Set to ``true`` in a local run's environment: the job runtime then writes the ``jobs`` row
#: itself, through mirror_job_status, instead of reporting to an OmveeJob.
ENV_RUN_LOCAL = "OMVEE_RUN_LOCAL"
CLUSTER: Literal["cluster"] = "cluster"
LOCAL: Literal["local"] = "local"
Mode = Literal["cluster", "local"]
MODES: tuple[Mode, ...] = (CLUSTER, LOCAL)
_UUID = re.compile(UUID_PATTERN)


class RolloutSettings(EnvSettings):
    """Where each job type runs; ``RolloutSettings.load()`` raises ``SettingsError`` naming
    ``OMVEE_ROLLOUT`` and the bad key or value."""

    rollout: Annotated[dict[str, Mode], NoDecode] = Field(
        {},
        validation_alias=ENV_ROLLOUT,
        description=(
            "Where each job type runs, a JSON object {job type: mode}, e.g. "
            '{"transcription": "local", "scene-generation": "cluster"}. Modes: `cluster` '
            "submits the job to the job runner through the API (it survives the app's "
            "restart, is retried per its type's profile and runs on its node pool, GPU "
            "included); `local` runs the same job code (python -m jobimages.<type>) in a child "
            "process of the app, as FastAPI BackgroundTasks did, which writes the same `jobs` "
            "row through mirror_job_status (needs OMVEE_MIRROR_DSN, or SUPABASE_URL and "
            "SUPABASE_SERVICE_ROLE_KEY, and OMVEE_MIRROR_STATUS_WORDS when the table uses "
            "other words, in the app's environment) but dies with the app, makes one attempt, "
            "has no deadline, no GPU pool and no OmveeJob. A type it does not name is "
            "`cluster`; unset or empty: every type is `cluster`. Keys are declared job types "
            "(transcription, scene-generation, visual-prompts, image-generation, "
            "video-generation, and any OMVEE_JOB_TYPE_MODULES adds). Switching a type back is "
            "this setting alone, read when the app starts."
        ),
    )

    @field_validator("rollout", mode="before")
    @classmethod
    def _known_types_and_modes(cls, value: Any) -> Any:
        """Accept a JSON text or a mapping; refuse a key that is no declared job type and a
        mode other than cluster or local, naming the variable and the key or value."""
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError as error:
                raise ValueError(
                    f"{ENV_ROLLOUT} must be a JSON object such as "
                    f'{{"transcription": "local"}}: {error}'
                ) from None
        if not isinstance(value, Mapping):
            raise ValueError(
                f'{ENV_ROLLOUT} must be a JSON object such as {{"transcription": "local"}}, '
                f"not {value!r}"
            )
        for key, mode in value.items():
            if key not in BY_NAME:
                raise ValueError(
                    f"{ENV_ROLLOUT} names an unknown job type {key!r}; known: {', '.join(BY_NAME)}"
                )
            if mode not in MODES:
                raise ValueError(
                    f"{ENV_ROLLOUT}: the mode of {key!r} must be 'cluster' or 'local', not {mode!r}"
                )
        return dict(value)

    def mode(self, job_type: str) -> Mode:
        """Where ``job_type`` (a ``JobType`` or its name) runs: ``"cluster"`` unless the
        setting says ``"local"``."""
        return self.rollout.get(_type_name(job_type), CLUSTER)


def _type_name(job_type: str) -> str:
    return str(getattr(job_type, "value", job_type))


# -- pure: what a local run is ---------------------------------------------------------------


@dataclass(frozen=True)
class LocalLaunch:
    """A local run, ready to start: the job id, the ``command`` (argv) and the complete
    ``env`` of the child process."""

    job_id: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)  # the caller's, secrets included


def _checked_id(value: str, field: str) -> str:
    """``value`` lower-cased when it is a UUID; else ValidationFailed at ``field``, as the
    API's 422."""
    if not isinstance(value, str) or not _UUID.match(value):
        raise ValidationFailed(
            None,
            None,
            [
                {
                    "loc": ["body", field],
                    "msg": f"String should match pattern '{UUID_PATTERN}'",
                    "type": "string_pattern_mismatch",
                }
            ],
        )
    return value.lower()


def local_input(
    definition: JobTypeDefinition, input: Mapping[str, Any], environ: Mapping[str, str]
) -> dict[str, Any]:
    """``input`` (snake_case or camelCase field names) checked as the API checks a submission:
    by the type's input model, then every ``*_url`` field against the URL policy of
    ``environ`` (the ``OMVEE_URL_*`` variables the child's runtime obeys too). Returns it as
    ``spec.input`` is stored: camelCase, defaults applied, None left out. Raises
    ValidationFailed (``field`` ``input.<name>``, status None) as :meth:`OmveeClient.submit`
    would; ValueError naming the variable when a URL policy variable is malformed."""
    given = checked_input(definition, input, ["body", "input"])
    parsed = definition.input_model.model_validate(given)
    policy = UrlPolicy.from_env(environ)
    problems = [
        {"loc": ["body", "input", name], "msg": f"URL {problem}", "type": "url_not_allowed"}
        for name, value in parsed.model_dump().items()
        if name.endswith("_url") and isinstance(value, str)
        if (problem := policy.problem(value))
    ]
    if problems:
        raise ValidationFailed(None, None, problems)
    stored: dict[str, Any] = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    return stored


def local_command(definition: JobTypeDefinition, python: str = sys.executable) -> tuple[str, ...]:
    """The child's argv: ``python -m jobimages.<type, - as _>`` (the type's job package)."""
    return (python, "-m", definition.package)


def local_environment(
    base: Mapping[str, str], job_type: str, project_id: str, job_id: str, spec_input: Any
) -> dict[str, str]:
    """The child's environment: ``base`` (the caller's), plus ``OMVEE_JOB`` (run 0 of the
    job: ``{"type", "projectId", "jobId", "input", "run"}`` as JSON) and
    ``OMVEE_RUN_LOCAL=true``, which replace any the caller had."""
    document = {
        "type": job_type,
        "projectId": project_id,
        "jobId": job_id,
        "input": spec_input,
        "run": 0,
    }
    return {**base, ENV_JOB: json.dumps(document), ENV_RUN_LOCAL: "true"}


def build_local_launch(
    job_type: str,
    project_id: str,
    input: Mapping[str, Any],
    *,
    job_id: str | None,
    environ: Mapping[str, str],
    python: str = sys.executable,
) -> LocalLaunch:
    """A local run of ``job_type`` for ``project_id`` (a UUID) with ``input``: its job id
    (``job_id`` lower-cased, else a new UUID4), command and environment (see
    :func:`local_command`, :func:`local_environment`). Pure. Raises ValidationFailed (status
    None) for an unknown type (``type``), a project or job id that is no UUID
    (``project_id``, ``job_id``) or a bad input field (``input.<name>``)."""
    definition = job_type_definition(job_type)
    project = _checked_id(project_id, "project_id")
    job = _checked_id(job_id, "job_id") if job_id is not None else str(uuid.uuid4())
    spec_input = local_input(definition, input, environ)
    return LocalLaunch(
        job_id=job,
        command=local_command(definition, python),
        env=local_environment(environ, definition.name, project, job, spec_input),
    )


# -- effects ---------------------------------------------------------------------------------


def _reap(process: subprocess.Popen[bytes], job_id: str) -> None:
    code = process.wait()
    level = logging.INFO if code == 0 else logging.WARNING
    log.log(level, "Local job %s (process %d) exited with code %d", job_id, process.pid, code)


def start_local(launch: LocalLaunch) -> subprocess.Popen[bytes]:
    """Start ``launch``'s child process (stdin closed, stdout and stderr the caller's) and
    return at once; a daemon thread waits for it (no zombie is left) and logs its exit code
    (a warning when not 0). Raises OSError when the process cannot be started."""
    process = subprocess.Popen(list(launch.command), env=dict(launch.env), stdin=subprocess.DEVNULL)
    log.info("Started local job %s as process %d", launch.job_id, process.pid)
    threading.Thread(
        target=_reap, args=(process, launch.job_id), name=f"reap-{launch.job_id}", daemon=True
    ).start()
    return process


def _environ(given: Mapping[str, str] | None) -> dict[str, str]:
    return dict(os.environ if given is None else given)


def local_environment_problem(settings: RolloutSettings, environ: Mapping[str, str]) -> str | None:
    """Pure: why a local child started from ``environ`` could not write its `jobs` row, or
    None (also when no type is ``local``): no destination (OMVEE_MIRROR_DSN, or SUPABASE_URL
    with SUPABASE_SERVICE_ROLE_KEY), or OMVEE_MIRROR_STATUS_WORDS the child would refuse (no
    JSON object, or against a rule of api.statuswords)."""
    local = sorted(t for t, mode in settings.rollout.items() if mode == LOCAL)
    if not local:
        return None
    if not environ.get("OMVEE_MIRROR_DSN") and not (
        environ.get("SUPABASE_URL") and environ.get("SUPABASE_SERVICE_ROLE_KEY")
    ):
        return (
            f"{ENV_ROLLOUT} runs {', '.join(local)} locally, which writes the jobs row itself: "
            "set OMVEE_MIRROR_DSN, or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"
        )
    words = environ.get(ENV_STATUS_WORDS)
    if words:
        try:
            parsed = json.loads(words)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            return f'{ENV_STATUS_WORDS} must be a JSON object, e.g. {{"queued": "pending"}}'
        try:
            StatusWords.from_mapping(parsed)
        except ValueError as error:
            return f"{ENV_STATUS_WORDS}: {error}"
    return None


def _checked_settings(
    settings: RolloutSettings | None, environ: Mapping[str, str] | None
) -> RolloutSettings:
    """``settings`` (else from the environment), refused with SettingsError when a local
    type's child could not write its row (``local_environment_problem``)."""
    settings = settings if settings is not None else RolloutSettings.load()
    problem = local_environment_problem(settings, _environ(environ))
    if problem:
        raise SettingsError(problem)
    return settings


class _Rollout(Generic[ClientT]):
    """What :class:`Rollout` and :class:`AsyncRollout` share: the settings, checked at
    construction, and the decision where a submission runs."""

    def __init__(
        self,
        client: ClientT,
        settings: RolloutSettings | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.settings = _checked_settings(settings, environ)
        self._environ = environ

    def mode(self, job_type: str) -> Mode:
        """``"cluster"`` or ``"local"``: where ``job_type`` runs."""
        return self.settings.mode(job_type)

    def _local_launch(
        self, job_type: str, project_id: str, input: Mapping[str, Any], job_id: str | None
    ) -> LocalLaunch | None:
        """The local run of this submission, checked (``build_local_launch``'s errors), or
        None when ``job_type`` goes to the cluster."""
        if self.mode(job_type) != LOCAL:
            return None
        return build_local_launch(
            job_type, project_id, input, job_id=job_id, environ=_environ(self._environ)
        )


class Rollout(_Rollout[OmveeClient]):
    """Submits jobs where ``OMVEE_ROLLOUT`` says: through ``client`` (an :class:`OmveeClient`)
    for a ``cluster`` type, as a child process for a ``local`` one (see the module's text).
    ``settings``: read from the environment when None. ``environ``: the base of a local
    child's environment (this process's environment at each submit when None). Raises
    SettingsError naming the variable when OMVEE_ROLLOUT is wrong, or when a type is
    ``local`` and the environment has no destination for its row."""

    def submit(
        self,
        job_type: str,
        project_id: str,
        input: Mapping[str, Any],
        *,
        job_id: str | None = None,
        retries: int | None = None,
        timeout_seconds: int | None = None,
        pod_annotations: Mapping[str, str] | None = None,
    ) -> str:
        """Submit a ``job_type`` job (a ``JobType`` or its name) of ``project_id`` (a UUID)
        with ``input`` (its fields, snake_case or camelCase), as ``job_id`` (a UUID, e.g. the
        app's ``jobs.id``; a new one when None); returns the job id (lower-case) at once.
        ``retries``, ``timeout_seconds`` and ``pod_annotations`` go to the cluster; a local
        run ignores them (one attempt, no deadline, no pod).

        Cluster: :meth:`OmveeClient.submit` (retried on no answer, 503 and 429 without ever
        creating two jobs), raising what it raises (ValidationFailed, Conflict, Unavailable,
        ...). Local: raises ValidationFailed (status None) for an unknown type, a non-UUID id
        or a bad input field, as the API's 422 would; OSError when the child cannot start."""
        if launch := self._local_launch(job_type, project_id, input, job_id):
            start_local(launch)
            return launch.job_id
        accepted = self.client.submit(
            _type_name(job_type),
            project_id,
            input,
            job_id=job_id,
            retries=retries,
            timeout_seconds=timeout_seconds,
            pod_annotations=pod_annotations,
        )
        return accepted.id


class AsyncRollout(_Rollout[AsyncOmveeClient]):
    """:class:`Rollout` for asyncio apps, on an :class:`AsyncOmveeClient`: the same settings,
    checks and child processes; ``submit`` is a coroutine."""

    async def submit(
        self,
        job_type: str,
        project_id: str,
        input: Mapping[str, Any],
        *,
        job_id: str | None = None,
        retries: int | None = None,
        timeout_seconds: int | None = None,
        pod_annotations: Mapping[str, str] | None = None,
    ) -> str:
        """As :meth:`Rollout.submit` (same arguments, result and errors); a local child is
        started off the event loop."""
        if launch := self._local_launch(job_type, project_id, input, job_id):
            await asyncio.to_thread(start_local, launch)
            return launch.job_id
        accepted = await self.client.submit(
            _type_name(job_type),
            project_id,
            input,
            job_id=job_id,
            retries=retries,
            timeout_seconds=timeout_seconds,
            pod_annotations=pod_annotations,
        )
        return accepted.id
