"""API settings from the environment (prefix OMVEE_API_), refusing insecure ones outside
development."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from api.envsettings import EnvSettings
from api.resultstore import DEFAULT_BUCKET
from api.urlpolicy import DEFAULT_BLOCKED_NETWORKS, UrlPolicy


class Settings(EnvSettings):
    """The API's settings: field ``x`` reads ``OMVEE_API_X`` (lists as JSON, e.g.
    ``["a", "b"]``) unless its alias says otherwise. Constructing it raises pydantic's
    ``ValidationError``; ``Settings.load()`` and ``get_settings()`` raise ``SettingsError``
    naming the variable."""

    # Field x reads OMVEE_API_X: case-insensitive, as the prefix is upper case and names not.
    model_config = SettingsConfigDict(
        env_prefix="OMVEE_API_", populate_by_name=True, frozen=False, case_sensitive=False
    )

    environment: Literal["development", "production"] = Field(
        "production",
        description=(
            "`production` refuses to start without authentication (a JWT secret of 32+ "
            "characters or service tokens of 24+); `development` allows it."
        ),
    )
    namespace: str = Field("omvee", description="Where OmveeJobs are created.")
    host: str = Field(
        "0.0.0.0", description="The address `python -m api.rest` listens on (all by default)."
    )
    port: int = Field(8000, ge=1, le=65535, description="The TCP port of `python -m api.rest`.")
    jwt_secret: str = Field(
        "",
        repr=False,
        description="Supabase user JWTs: the project's JWT secret (HS256), 32+ characters.",
    )
    jwt_audience: str = Field("authenticated", description="The audience user JWTs must name.")
    service_tokens: list[str] = Field(
        default_factory=list,
        repr=False,
        description=(
            "Bearer tokens for other backends (24+ characters each); each may act on every project."
        ),
    )
    max_body_bytes: int = Field(
        64 * 1024,
        ge=1,
        description="Request bodies larger than this (bytes) are refused with 413 unparsed.",
    )
    url_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "The URL policy (api.urlpolicy), the same as the job pods' ($OMVEE_URL_*): hosts "
            'job inputs may point at, as glob patterns (e.g. "*.supabase.co"); empty: any '
            "public host."
        ),
    )
    blocked_networks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BLOCKED_NETWORKS),
        description=(
            "Extra address ranges (CIDR) job inputs must not point at: the cluster's pod and "
            "service networks."
        ),
    )
    url_allowed_networks: list[str] = Field(
        default_factory=list,
        description=(
            "Address ranges (CIDR) allowed although not public, on any port (a development "
            "cluster's own media server); link-local (cloud metadata) stays refused."
        ),
    )
    page_size_max: int = Field(500, ge=1, description="The most jobs one list page returns.")
    max_streams: int = Field(
        24,
        ge=1,
        le=36,
        description=(
            "Streams open at once (the dashboard's, /events, followed logs); each holds one "
            "of the 40 worker threads, so this leaves the rest to other requests."
        ),
    )
    pod_annotation_prefixes: list[str] = Field(
        default_factory=list,
        description=(
            "Annotation key prefixes callers may put on their job's pods (e.g. "
            '"cluster-autoscaler.kubernetes.io/"); none by default.'
        ),
    )
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description=(
            "Serve /metrics on this TCP port instead of the API's own, so an Ingress to the "
            "API does not publish it; 0: /metrics on the API's port."
        ),
    )
    results_store: Literal["", "off", "volume", "supabase"] = Field(
        "",
        validation_alias=AliasChoices("OMVEE_API_RESULTS_STORE", "OMVEE_RESULTS_STORE"),
        description=(
            "Where job result files are read from (GET /v1/jobs/{id}/results/{file}): "
            "`volume` (the folder results_dir), `supabase` (the Storage bucket "
            "results_bucket, read with the service-role key) or `off` (result links answer "
            "404). Unset: volume when results_dir is set, else off."
        ),
    )
    results_dir: str = Field(
        "",
        validation_alias=AliasChoices("OMVEE_API_RESULTS_DIR", "OMVEE_RESULTS_DIR"),
        description="The API's view of the volume job pods write results to (a directory).",
    )
    results_bucket: str = Field(
        DEFAULT_BUCKET,
        validation_alias=AliasChoices("OMVEE_API_RESULTS_BUCKET", "OMVEE_RESULTS_BUCKET"),
        description="The Supabase Storage bucket of the `supabase` results store.",
    )
    supabase_url: str = Field(
        "",
        validation_alias=AliasChoices("SUPABASE_URL"),
        description="The Supabase project's URL, for the `supabase` results store.",
    )
    supabase_service_role_key: str = Field(
        "",
        validation_alias=AliasChoices("SUPABASE_SERVICE_ROLE_KEY"),
        repr=False,
        description="Supabase's service-role key, for the `supabase` results store.",
    )

    def url_policy(self) -> UrlPolicy:
        """The URL policy job inputs are checked against at submission; ``ValueError`` when
        an address range does not parse."""
        return UrlPolicy(
            allowed_hosts=tuple(self.url_hosts),
            blocked_networks=tuple(self.blocked_networks),
            allowed_networks=tuple(self.url_allowed_networks),
        )

    @model_validator(mode="after")
    def _secure_outside_development(self) -> Settings:
        self.url_policy()  # an address range that does not parse fails at start-up
        if not self.results_store and self.results_dir:
            self.results_store = "volume"
        if self.results_store == "volume" and not self.results_dir:
            raise ValueError("OMVEE_RESULTS_STORE=volume needs OMVEE_RESULTS_DIR")
        if self.results_store == "supabase" and not (
            self.supabase_url and self.supabase_service_role_key
        ):
            raise ValueError(
                "OMVEE_RESULTS_STORE=supabase needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"
            )
        if self.environment != "development":
            if not self.jwt_secret and not self.service_tokens:
                raise ValueError(
                    "set OMVEE_API_JWT_SECRET or OMVEE_API_SERVICE_TOKENS: "
                    "without either nobody could authenticate"
                )
            if self.jwt_secret and len(self.jwt_secret) < 32:
                raise ValueError("OMVEE_API_JWT_SECRET is shorter than 32 characters")
            if any(len(token) < 24 for token in self.service_tokens):
                raise ValueError("every OMVEE_API_SERVICE_TOKENS entry needs 24+ characters")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once (tests pass their own to ``create_app``); raises
    ``SettingsError`` naming a bad variable."""
    return Settings.load()
