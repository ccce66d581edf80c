"""The job runtime's settings: what every job container reads from its environment (the operator
sets each of these in the Job it builds). A type's own knobs (the whisper model, the image
backend) are in that type's package.

A bad or missing setting is a ``PermanentError`` (exit 65, not retried): another attempt in
the same pod spec would meet it again.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import Field, model_validator

from api import urlpolicy
from api.envsettings import EnvSettings, SettingsError
from api.resultstore import ResultsSettings
from api.v1alpha1.constants import ENV_JOB
from jobimages.runtime.exitcodes import PermanentError

Loaded = TypeVar("Loaded", bound=EnvSettings)

ENV_RUN_LOCAL = "OMVEE_RUN_LOCAL"
ENV_MIRROR_DSN = "OMVEE_MIRROR_DSN"
ENV_SUPABASE_URL = "SUPABASE_URL"
ENV_SUPABASE_KEY = "SUPABASE_SERVICE_ROLE_KEY"


class RuntimeSettings(EnvSettings):
    """Every job container's settings; read with ``runtime_settings()``."""

    job: str | None = Field(
        None,
        validation_alias=ENV_JOB,
        description=(
            "The job this container runs, as JSON (type, projectId, jobId, input, name, "
            "namespace, run); set by the operator. Unset: the entrypoint runs by hand from "
            "its command line."
        ),
    )
    llm_url: str | None = Field(
        None,
        validation_alias="OMVEE_LLM_URL",
        description=(
            "An OpenAI-compatible endpoint (POST {url}/v1/chat/completions) that refines what "
            "the deterministic algorithms produce (scene titles, visual prompts); unset: none."
        ),
    )
    llm_api_key: str = Field(
        "",
        validation_alias="OMVEE_LLM_API_KEY",
        repr=False,
        description="Its bearer token; empty: none sent.",
    )
    llm_model: str = Field(
        "gpt-4o-mini", validation_alias="OMVEE_LLM_MODEL", description="Its model name."
    )
    url_hosts: str = Field(
        "",
        validation_alias=urlpolicy.ENV_HOSTS,
        description=(
            "The URL policy (api.urlpolicy) every connection of the pod is checked against: "
            'hosts inputs may point at, a JSON list of globs (e.g. ["*.supabase.co"]); unset: '
            "any public host."
        ),
    )
    url_blocked_networks: str = Field(
        "",
        validation_alias=urlpolicy.ENV_BLOCKED_NETWORKS,
        description=(
            "Extra address ranges refused, a JSON list of CIDRs; unset: the default pod and "
            "service networks."
        ),
    )
    url_allowed_networks: str = Field(
        "",
        validation_alias=urlpolicy.ENV_ALLOWED_NETWORKS,
        description=(
            "Non-public ranges allowed on any port, a JSON list of CIDRs (a development "
            "media server); unset: none."
        ),
    )
    run_local: bool = Field(
        False,
        validation_alias=ENV_RUN_LOCAL,
        description=(
            "true: this is a `local` run, a child process of the app rather than a pod. The "
            "job writes its own `jobs` row through public.mirror_job_status() (running, then "
            "succeeded or failed), to the mirror OMVEE_MIRROR_DSN or SUPABASE_URL with "
            "SUPABASE_SERVICE_ROLE_KEY names, in the words of OMVEE_MIRROR_STATUS_WORDS "
            "(jobimages.runtime.localrun). Unset or false: progress goes to the job's "
            "OmveeJob, or to the console when run by hand."
        ),
    )

    def url_policy(self) -> urlpolicy.UrlPolicy:
        """The pod's URL policy; ``ValueError`` naming the variable that is malformed."""
        return urlpolicy.UrlPolicy.from_env(
            {
                urlpolicy.ENV_HOSTS: self.url_hosts,
                urlpolicy.ENV_BLOCKED_NETWORKS: self.url_blocked_networks,
                urlpolicy.ENV_ALLOWED_NETWORKS: self.url_allowed_networks,
            }
        )


class LocalMirrorSettings(EnvSettings):
    """Where a ``local`` run (OMVEE_RUN_LOCAL=true) writes its `jobs` row: the mirror the
    operator writes, named as the operator names it. OMVEE_MIRROR_DSN (PostgreSQL) when set,
    else SUPABASE_URL with SUPABASE_SERVICE_ROLE_KEY. Read with ``local_mirror_settings()``;
    ``load()`` raises SettingsError naming these variables when neither is set, or
    SUPABASE_URL comes without its key."""

    mirror_dsn: str = Field(
        "",
        validation_alias=ENV_MIRROR_DSN,
        repr=False,
        description=(
            "The `jobs` table's database, postgresql://user:password@host:port/db, written "
            "directly (psycopg); takes precedence over SUPABASE_URL."
        ),
    )
    supabase_url: str = Field(
        "",
        validation_alias=ENV_SUPABASE_URL,
        description=(
            "The Supabase project's URL, used when OMVEE_MIRROR_DSN is unset: the row is "
            "written through its REST API (rpc/mirror_job_status)."
        ),
    )
    supabase_service_role_key: str = Field(
        "",
        validation_alias=ENV_SUPABASE_KEY,
        repr=False,
        description="Supabase's service-role key, with SUPABASE_URL.",
    )

    @model_validator(mode="after")
    def _a_destination(self) -> LocalMirrorSettings:
        if not (self.mirror_dsn or self.supabase_url):
            raise ValueError(
                f"a local run ({ENV_RUN_LOCAL}=true) writes its jobs row itself: set "
                f"{ENV_MIRROR_DSN} (postgresql://user:password@host:port/db), or "
                f"{ENV_SUPABASE_URL} and {ENV_SUPABASE_KEY}"
            )
        if not self.mirror_dsn and not self.supabase_service_role_key:
            raise ValueError(
                f"{ENV_SUPABASE_URL} needs {ENV_SUPABASE_KEY} for a local run's jobs row "
                f"(or set {ENV_MIRROR_DSN})"
            )
        return self

    @property
    def kind(self) -> Literal["postgres", "supabase"]:
        """``postgres`` when OMVEE_MIRROR_DSN is set, else ``supabase``."""
        return "postgres" if self.mirror_dsn else "supabase"


def load(settings: type[Loaded]) -> Loaded:
    """``settings`` read from the environment now (never cached: each call sees the current
    environment); raises ``PermanentError`` naming a bad variable."""
    try:
        return settings.load()
    except SettingsError as error:
        raise PermanentError(f"the job pod is misconfigured: {error}") from None


def runtime_settings() -> RuntimeSettings:
    """The job runtime's settings; raises ``PermanentError`` naming a bad variable."""
    return load(RuntimeSettings)


def local_mirror_settings() -> LocalMirrorSettings:
    """Where a local run writes its `jobs` row; raises ``PermanentError`` (exit 65) naming
    OMVEE_MIRROR_DSN, SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY when none is usable."""
    return load(LocalMirrorSettings)


def results_settings() -> ResultsSettings:
    """The results store's settings (api.resultstore); raises ``PermanentError`` naming a bad
    variable."""
    return load(ResultsSettings)
