"""The job runtime's settings: what every job container reads from its environment (the operator
sets each of these in the Job it builds). A type's own knobs (the whisper model, the image
backend) are in that type's package.

A bad or missing setting is a ``PermanentError`` (exit 65, not retried): another attempt in
the same pod spec would meet it again.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import Field

from api import urlpolicy
from api.envsettings import EnvSettings, SettingsError
from api.resultstore import ResultsSettings
from api.v1alpha1.constants import ENV_JOB
from jobimages.runtime.exitcodes import PermanentError

Loaded = TypeVar("Loaded", bound=EnvSettings)


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

    def url_policy(self) -> urlpolicy.UrlPolicy:
        """The pod's URL policy; ``ValueError`` naming the variable that is malformed."""
        return urlpolicy.UrlPolicy.from_env(
            {
                urlpolicy.ENV_HOSTS: self.url_hosts,
                urlpolicy.ENV_BLOCKED_NETWORKS: self.url_blocked_networks,
                urlpolicy.ENV_ALLOWED_NETWORKS: self.url_allowed_networks,
            }
        )


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


def results_settings() -> ResultsSettings:
    """The results store's settings (api.resultstore); raises ``PermanentError`` naming a bad
    variable."""
    return load(ResultsSettings)
