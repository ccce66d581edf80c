"""Operator settings, read once from the environment and passed in (never read as globals)."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from api import urlpolicy
from api.catalog.profiles import DEFAULT_PROFILES
from api.envsettings import EnvSettings, SettingsError
from api.resultstore import DEFAULT_BUCKET
from controller.builders import ResultsStore

__all__ = ["JOB_ENV", "OperatorSettings", "SettingsError"]

# The URL policy's variables, passed on as they are to every job container.
JOB_ENV = (urlpolicy.ENV_HOSTS, urlpolicy.ENV_BLOCKED_NETWORKS, urlpolicy.ENV_ALLOWED_NETWORKS)


def _drawn_priority() -> int:
    """A random peering priority: replicas must differ, as kopf pauses every peer of an equal
    priority. A replica started later with a higher draw takes over at once."""
    return random.SystemRandom().randint(1, 1_000_000)


def _process_identity() -> str:
    """This process's peering identity out of a pod: host name and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


class OperatorSettings(EnvSettings):
    """The operator's settings, one environment variable each (the Helm chart's operator
    Deployment sets them). ``from_env()`` reads them and raises ``SettingsError`` naming a
    variable that is wrong, or a combination that does not go together."""

    profiles_path: Path = Field(
        DEFAULT_PROFILES,
        validation_alias="OMVEE_PROFILES",
        description=(
            "The job-type profiles file (YAML): each type's image, command, resources, node "
            "placement, retries, deadline and TTL. Default: the catalog's own profiles.yaml."
        ),
    )
    resync_seconds: float = Field(
        15.0,
        gt=0,
        allow_inf_nan=False,
        validation_alias="OMVEE_RESYNC_SECONDS",
        description=(
            "Seconds between resyncs: every unsettled OmveeJob is looked at again this often "
            "even if no watch event arrives."
        ),
    )
    namespaces: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        validation_alias="OMVEE_NAMESPACES",
        description="The namespaces watched, comma-separated; empty: all namespaces.",
    )
    health_port: int = Field(
        8081,
        ge=0,
        le=65535,
        validation_alias="OMVEE_HEALTH_PORT",
        description="The TCP port of /healthz and /metrics.",
    )
    max_workers: int = Field(
        8,
        ge=1,
        validation_alias="OMVEE_MAX_WORKERS",
        description=(
            "Threads reconciling at once: bounds the load, so a restart over thousands of "
            "jobs does not flood the API server."
        ),
    )
    # client-go's own default, 5/10, is for kubectl-like clients; controllers raise it
    # (kube-controller-manager 20/30 per controller, Karpenter 200/300). 200/400 is what the
    # local control plane gives its Job controller, so the operator keeps pace with the
    # controller it feeds.
    kube_qps: float = Field(
        200.0,
        gt=0,
        allow_inf_nan=False,
        validation_alias="OMVEE_KUBE_QPS",
        description=(
            "Requests a second the operator's client may send the API server (a token "
            "bucket, as client-go's rest.Config QPS; kopf's watches are apart)."
        ),
    )
    kube_burst: int = Field(
        400,
        ge=1,
        validation_alias="OMVEE_KUBE_BURST",
        description="Requests the client may send at once after a quiet spell (client-go's Burst).",
    )
    watch_timeout_seconds: int = Field(
        300,
        ge=1,
        validation_alias="OMVEE_WATCH_TIMEOUT_SECONDS",
        description=(
            "Seconds after which a watch is re-established, so a silently dead one cannot hang."
        ),
    )
    peering_name: str = Field(
        "",
        validation_alias="OMVEE_PEERING",
        description=(
            "The kopf peering object replicas share: only the one with the highest priority "
            "acts. Empty: standalone, nothing else is checked."
        ),
    )
    peering_priority: int = Field(
        default_factory=_drawn_priority,
        validation_alias="OMVEE_PEERING_PRIORITY",
        description=(
            "This replica's peering priority, an integer; unset: drawn at random from "
            "1 to 1,000,000 (replicas of equal priority would all pause)."
        ),
    )
    identity: str = Field(
        default_factory=_process_identity,
        validation_alias="POD_NAME",
        description="This replica's peering identity: its pod's name; unset: host-pid.",
    )
    mirror_kind: Literal["", "off", "postgres", "supabase"] = Field(
        "",
        validation_alias="OMVEE_MIRROR",
        description=(
            "Where the Supabase `jobs` mirror is written: `postgres` (OMVEE_MIRROR_DSN), "
            "`supabase` (SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY) or `off`. Unset: postgres "
            "when OMVEE_MIRROR_DSN is set, else supabase when SUPABASE_URL is, else off."
        ),
    )
    mirror_dsn: str = Field(
        "",
        validation_alias="OMVEE_MIRROR_DSN",
        repr=False,
        description="The mirror's database: postgresql://user:password@host:port/db.",
    )
    supabase_url: str = Field(
        "",
        validation_alias="SUPABASE_URL",
        description="The Supabase project's URL, for the `supabase` mirror.",
    )
    supabase_service_role_key: str = Field(
        "",
        validation_alias="SUPABASE_SERVICE_ROLE_KEY",
        repr=False,
        description="Supabase's service-role key, for the `supabase` mirror.",
    )
    url_hosts: str = Field(
        "",
        validation_alias=urlpolicy.ENV_HOSTS,
        description=(
            "The URL policy's allowed hosts (a JSON list of globs), passed on as is to every "
            "job container, which enforces it (api.urlpolicy). Unset: the default policy."
        ),
    )
    url_blocked_networks: str = Field(
        "",
        validation_alias=urlpolicy.ENV_BLOCKED_NETWORKS,
        description="The URL policy's blocked networks (a JSON list), passed on as is.",
    )
    url_allowed_networks: str = Field(
        "",
        validation_alias=urlpolicy.ENV_ALLOWED_NETWORKS,
        description="The URL policy's allowed non-public networks (a JSON list), passed on.",
    )
    results_store: Literal["", "off", "volume", "supabase"] = Field(
        "",
        validation_alias="OMVEE_RESULTS_STORE",
        description=(
            "Where job containers store result files: `volume` (OMVEE_RESULTS_HOST_PATH or "
            "OMVEE_RESULTS_CLAIM), `supabase` (OMVEE_RESULTS_SECRET, OMVEE_RESULTS_BUCKET) or "
            "`off`. Unset: inferred from which of those is set, else off (the files die with "
            "the pod's /tmp)."
        ),
    )
    results_host_path: str = Field(
        "",
        validation_alias="OMVEE_RESULTS_HOST_PATH",
        description=(
            "The `volume` store on one machine: an existing host directory (absolute), "
            "writable for uid 10001, mounted into every job pod."
        ),
    )
    results_claim: str = Field(
        "",
        validation_alias="OMVEE_RESULTS_CLAIM",
        description="The `volume` store on a cluster: a ReadWriteMany PersistentVolumeClaim.",
    )
    results_secret: str = Field(
        "",
        validation_alias="OMVEE_RESULTS_SECRET",
        description=(
            "The `supabase` store: a Secret in each job namespace with the keys SUPABASE_URL "
            "and SUPABASE_SERVICE_ROLE_KEY."
        ),
    )
    results_bucket: str = Field(
        DEFAULT_BUCKET,
        min_length=1,
        validation_alias="OMVEE_RESULTS_BUCKET",
        description="The `supabase` store's Storage bucket.",
    )

    @classmethod
    def from_env(cls) -> OperatorSettings:
        """The settings from the environment; raises ``SettingsError`` naming what is wrong."""
        return cls.load()

    @field_validator("namespaces", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("peering_priority", mode="before")
    @classmethod
    def _an_integer(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise ValueError(
                    f"OMVEE_PEERING_PRIORITY must be an integer, not {value!r}"
                ) from None
        return value

    @field_validator("mirror_kind", mode="before")
    @classmethod
    def _a_mirror(cls, value: object) -> object:
        value = value.strip().lower() if isinstance(value, str) else value
        if value not in ("", "off", "postgres", "supabase"):
            raise ValueError(f"OMVEE_MIRROR must be postgres, supabase or off, not {value!r}")
        return value

    @field_validator("results_store", mode="before")
    @classmethod
    def _a_store(cls, value: object) -> object:
        value = value.strip().lower() if isinstance(value, str) else value
        if value not in ("", "off", "volume", "supabase"):
            raise ValueError(f"OMVEE_RESULTS_STORE must be volume, supabase or off, not {value!r}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> OperatorSettings:
        if self.mirror == "postgres" and not self.mirror_dsn:
            raise ValueError(
                "OMVEE_MIRROR=postgres needs OMVEE_MIRROR_DSN "
                "(postgresql://user:password@host:port/db)"
            )
        if self.mirror == "supabase" and not (self.supabase_url and self.supabase_service_role_key):
            raise ValueError(
                "OMVEE_MIRROR=supabase needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"
            )
        self._results()  # an incomplete results store stops the start
        return self

    @property
    def mirror(self) -> Literal["", "postgres", "supabase"]:
        """The mirror in use: ``postgres``, ``supabase``, or "" for none (OMVEE_MIRROR, or
        inferred from what is configured)."""
        if self.mirror_kind == "off":
            return ""
        if self.mirror_kind:
            return self.mirror_kind
        return "postgres" if self.mirror_dsn else "supabase" if self.supabase_url else ""

    @property
    def job_env(self) -> tuple[tuple[str, str], ...]:
        """(name, value) of each URL policy variable the operator was given, for every job
        container; unset ones are left out (the pods then apply the default policy)."""
        given = (self.url_hosts, self.url_blocked_networks, self.url_allowed_networks)
        return tuple((name, value) for name, value in zip(JOB_ENV, given, strict=True) if value)

    @property
    def results(self) -> ResultsStore | None:
        """Where job containers store result files, mounted or passed into every job pod;
        None: nowhere lasting, the files die with the pod's /tmp."""
        return self._results()

    def _results(self) -> ResultsStore | None:
        """The results store, or ValueError saying which variables are missing or clash."""
        host_path, claim, secret = self.results_host_path, self.results_claim, self.results_secret
        kind = self.results_store or (
            "volume" if host_path or claim else "supabase" if secret else "off"
        )
        if kind == "off":
            return None
        if kind == "volume":
            if bool(host_path) == bool(claim):
                raise ValueError(
                    "OMVEE_RESULTS_STORE=volume needs exactly one of OMVEE_RESULTS_HOST_PATH (a "
                    "host directory, one machine) and OMVEE_RESULTS_CLAIM (a ReadWriteMany "
                    "PersistentVolumeClaim)"
                )
            if host_path and not host_path.startswith("/"):
                raise ValueError(
                    f"OMVEE_RESULTS_HOST_PATH must be an absolute path, not {host_path!r}"
                )
            if secret:
                raise ValueError(
                    "OMVEE_RESULTS_STORE=volume takes no OMVEE_RESULTS_SECRET (that is for "
                    "supabase)"
                )
            return ResultsStore("volume", host_path=host_path, claim=claim)
        if not secret:
            raise ValueError(
                "OMVEE_RESULTS_STORE=supabase needs OMVEE_RESULTS_SECRET: a Secret with the "
                "keys SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"
            )
        if host_path or claim:
            raise ValueError(
                "OMVEE_RESULTS_STORE=supabase takes no OMVEE_RESULTS_HOST_PATH or "
                "OMVEE_RESULTS_CLAIM"
            )
        return ResultsStore("supabase", secret=secret, bucket=self.results_bucket)
