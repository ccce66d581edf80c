"""API settings from the environment (prefix OMVEE_API_), refusing insecure ones outside
development."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.urlpolicy import DEFAULT_BLOCKED_NETWORKS, UrlPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMVEE_API_", env_file=None, populate_by_name=True)

    environment: Literal["development", "production"] = "production"
    namespace: str = Field("omvee", description="Where OmveeJobs are created.")
    # Supabase user JWTs: the project's JWT secret (HS256) ...
    jwt_secret: str = ""
    jwt_audience: str = "authenticated"
    # ... and service tokens for other backends: each may act on every project.
    service_tokens: list[str] = Field(default_factory=list)
    # Bodies larger than this are refused with 413 before they are parsed.
    max_body_bytes: int = 64 * 1024
    # The URL policy (api.urlpolicy), the same as the job pods' ($OMVEE_URL_*): hosts job inputs
    # may point at (glob patterns, e.g. "*.supabase.co"; empty: any public host) ...
    url_hosts: list[str] = Field(default_factory=list)
    # ... extra address ranges pods must not be sent to (the cluster's pod and service networks)
    blocked_networks: list[str] = Field(default_factory=lambda: list(DEFAULT_BLOCKED_NETWORKS))
    # ... and ranges allowed although not public, on any port (a development cluster's own
    # media server); link-local (cloud metadata) stays refused.
    url_allowed_networks: list[str] = Field(default_factory=list)
    page_size_max: int = 500
    # Streams (the dashboard's, /events, followed logs) open at once; each holds one of the
    # 40 worker threads, so this leaves the rest to other requests.
    max_streams: int = Field(24, ge=1, le=36)
    # Annotation key prefixes callers may put on their job's pods (e.g.
    # "cluster-autoscaler.kubernetes.io/"); none by default.
    pod_annotation_prefixes: list[str] = Field(default_factory=list)
    # Serve /metrics on this port instead of the API's own, so an Ingress to the API does not
    # publish it; 0: /metrics on the API's port.
    metrics_port: int = Field(0, ge=0, le=65535)
    # Where job result files are read from (GET /v1/jobs/{id}/results/{file}): "volume" (the
    # directory results_dir: the API's view of the volume job pods write to), "supabase"
    # (Storage bucket results_bucket, read with the service-role key), or "off" for none
    # (result links answer 404). Unset: "volume" when results_dir is set, else none.
    results_store: Literal["", "off", "volume", "supabase"] = Field(
        "", validation_alias=AliasChoices("OMVEE_API_RESULTS_STORE", "OMVEE_RESULTS_STORE")
    )
    results_dir: str = Field(
        "", validation_alias=AliasChoices("OMVEE_API_RESULTS_DIR", "OMVEE_RESULTS_DIR")
    )
    results_bucket: str = Field(
        "job-results",
        validation_alias=AliasChoices("OMVEE_API_RESULTS_BUCKET", "OMVEE_RESULTS_BUCKET"),
    )
    supabase_url: str = Field("", validation_alias=AliasChoices("SUPABASE_URL"))
    supabase_service_role_key: str = Field(
        "", validation_alias=AliasChoices("SUPABASE_SERVICE_ROLE_KEY"), repr=False
    )

    def url_policy(self) -> UrlPolicy:
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
    return Settings()
