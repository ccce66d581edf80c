"""Operator settings, read once from the environment and passed in (never read as globals)."""

from __future__ import annotations

import math
import os
import random
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from api import urlpolicy
from api.catalog.profiles import DEFAULT_PROFILES
from controller.builders import ResultsStore

JOB_ENV = (urlpolicy.ENV_HOSTS, urlpolicy.ENV_BLOCKED_NETWORKS, urlpolicy.ENV_ALLOWED_NETWORKS)


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the variable."""


def _results(env: Mapping[str, str]) -> ResultsStore | None:
    """OMVEE_RESULTS_STORE: ``volume`` (OMVEE_RESULTS_HOST_PATH, an existing host directory,
    or OMVEE_RESULTS_CLAIM, a ReadWriteMany PersistentVolumeClaim), ``supabase``
    (OMVEE_RESULTS_SECRET, a Secret with SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY;
    OMVEE_RESULTS_BUCKET, default job-results) or ``off``. Unset: inferred from which of those
    is set, else none (results are lost with the pod)."""
    host_path = env.get("OMVEE_RESULTS_HOST_PATH", "")
    claim = env.get("OMVEE_RESULTS_CLAIM", "")
    secret = env.get("OMVEE_RESULTS_SECRET", "")
    bucket = env.get("OMVEE_RESULTS_BUCKET", "") or "job-results"
    kind = env.get("OMVEE_RESULTS_STORE", "").strip().lower()
    if not kind:
        kind = "volume" if host_path or claim else "supabase" if secret else "off"
    if kind == "off":
        return None
    if kind == "volume":
        if bool(host_path) == bool(claim):
            raise SettingsError(
                "OMVEE_RESULTS_STORE=volume needs exactly one of OMVEE_RESULTS_HOST_PATH (a host "
                "directory, one machine) and OMVEE_RESULTS_CLAIM (a ReadWriteMany "
                "PersistentVolumeClaim)"
            )
        if host_path and not host_path.startswith("/"):
            raise SettingsError(
                f"OMVEE_RESULTS_HOST_PATH must be an absolute path, not {host_path!r}"
            )
        if secret:
            raise SettingsError(
                "OMVEE_RESULTS_STORE=volume takes no OMVEE_RESULTS_SECRET (that is for supabase)"
            )
        return ResultsStore("volume", host_path=host_path, claim=claim)
    if kind == "supabase":
        if not secret:
            raise SettingsError(
                "OMVEE_RESULTS_STORE=supabase needs OMVEE_RESULTS_SECRET: a Secret with the keys "
                "SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"
            )
        if host_path or claim:
            raise SettingsError(
                "OMVEE_RESULTS_STORE=supabase takes no OMVEE_RESULTS_HOST_PATH or "
                "OMVEE_RESULTS_CLAIM"
            )
        return ResultsStore("supabase", secret=secret, bucket=bucket)
    raise SettingsError(f"OMVEE_RESULTS_STORE must be volume, supabase or off, not {kind!r}")


def _priority(text: str) -> int:
    """OMVEE_PEERING_PRIORITY, or a random one: replicas must differ, as kopf pauses every peer
    of an equal priority. A replica started later with a higher draw takes over at once."""
    if not text:
        return random.SystemRandom().randint(1, 1_000_000)
    try:
        return int(text)
    except ValueError:
        raise SettingsError(f"OMVEE_PEERING_PRIORITY must be an integer, not {text!r}") from None


def _kube_rate(env: Mapping[str, str]) -> tuple[float, int]:
    """OMVEE_KUBE_QPS (requests a second, > 0, default 200) and OMVEE_KUBE_BURST (requests at
    once after a quiet spell, >= 1, default 400): the operator's client-side rate limit."""
    qps_text = env.get("OMVEE_KUBE_QPS", "").strip() or "200"
    burst_text = env.get("OMVEE_KUBE_BURST", "").strip() or "400"
    try:
        qps = float(qps_text)
    except ValueError:
        qps = math.nan
    if not (math.isfinite(qps) and qps > 0):
        raise SettingsError(f"OMVEE_KUBE_QPS must be a number above 0, not {qps_text!r}")
    try:
        burst = int(burst_text)
    except ValueError:
        burst = 0
    if burst < 1:
        raise SettingsError(f"OMVEE_KUBE_BURST must be a whole number from 1, not {burst_text!r}")
    return qps, burst


@dataclass(frozen=True)
class OperatorSettings:
    profiles_path: Path = DEFAULT_PROFILES
    # Every non-final OmveeJob is recomputed this often even if no watch event arrives.
    resync_seconds: float = 15.0
    # Empty: all namespaces.
    namespaces: tuple[str, ...] = ()
    health_port: int = 8081
    # Bounds the threads reconciling at once, so a restart over thousands of jobs does not
    # flood the API server.
    max_workers: int = 8
    # The client-side rate limit of every request the operator sends the API server (a token
    # bucket, as client-go's rest.Config QPS/Burst; kopf's watches are apart). client-go's own
    # default, 5/10, is for kubectl-like clients; controllers raise it (kube-controller-manager
    # 20/30 per controller, Karpenter 200/300). 200/400 is what the local control plane gives
    # its Job controller, so the operator can keep pace with the controller it feeds.
    kube_qps: float = 200.0
    kube_burst: int = 400
    # Watches are re-established at least this often, so a silently dead one cannot hang.
    watch_timeout_seconds: int = 300
    # Replicas sharing a kopf peering object: only the one with the highest priority acts.
    # Empty: standalone, nothing else is checked.
    peering_name: str = ""
    peering_priority: int = 0
    identity: str = ""
    # The Supabase `jobs` mirror: "postgres" (mirror_dsn), "supabase" (URL + service-role key),
    # or "" for none.
    mirror: str = ""
    mirror_dsn: str = ""
    supabase_url: str = ""
    supabase_service_role_key: str = ""
    # Passed on to every job container as is: the URL policy the job runtime enforces on each
    # connection ($OMVEE_URL_HOSTS, $OMVEE_URL_BLOCKED_NETWORKS, $OMVEE_URL_ALLOWED_NETWORKS;
    # see api.urlpolicy), so pods apply the same policy as the API. Unset: the default policy.
    job_env: tuple[tuple[str, str], ...] = ()
    # Where job containers store result files (mounted or passed into every job pod); None:
    # nowhere lasting, the files die with the pod's /tmp.
    results: ResultsStore | None = None

    @classmethod
    def from_env(cls) -> OperatorSettings:
        env = os.environ
        namespaces = tuple(n for n in env.get("OMVEE_NAMESPACES", "").split(",") if n)
        mirror = env.get("OMVEE_MIRROR", "").strip().lower()
        if not mirror:  # inferred from what is configured
            mirror = (
                "postgres"
                if env.get("OMVEE_MIRROR_DSN")
                else "supabase"
                if env.get("SUPABASE_URL")
                else ""
            )
        if mirror == "off":
            mirror = ""
        if mirror not in ("", "postgres", "supabase"):
            raise SettingsError(f"OMVEE_MIRROR must be postgres, supabase or off, not {mirror!r}")
        if mirror == "postgres" and not env.get("OMVEE_MIRROR_DSN"):
            raise SettingsError(
                "OMVEE_MIRROR=postgres needs OMVEE_MIRROR_DSN "
                "(postgresql://user:password@host:port/db)"
            )
        if mirror == "supabase" and not (
            env.get("SUPABASE_URL") and env.get("SUPABASE_SERVICE_ROLE_KEY")
        ):
            raise SettingsError(
                "OMVEE_MIRROR=supabase needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"
            )
        results = _results(env)
        kube_qps, kube_burst = _kube_rate(env)
        return cls(
            results=results,
            kube_qps=kube_qps,
            kube_burst=kube_burst,
            mirror=mirror,
            mirror_dsn=env.get("OMVEE_MIRROR_DSN", ""),
            supabase_url=env.get("SUPABASE_URL", ""),
            supabase_service_role_key=env.get("SUPABASE_SERVICE_ROLE_KEY", ""),
            profiles_path=Path(env.get("OMVEE_PROFILES", str(DEFAULT_PROFILES))),
            resync_seconds=float(env.get("OMVEE_RESYNC_SECONDS", "15")),
            namespaces=namespaces,
            health_port=int(env.get("OMVEE_HEALTH_PORT", "8081")),
            max_workers=int(env.get("OMVEE_MAX_WORKERS", "8")),
            watch_timeout_seconds=int(env.get("OMVEE_WATCH_TIMEOUT_SECONDS", "300")),
            peering_name=env.get("OMVEE_PEERING", ""),
            peering_priority=_priority(env.get("OMVEE_PEERING_PRIORITY", "")),
            identity=env.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}",
            job_env=tuple((name, env[name]) for name in JOB_ENV if env.get(name)),
        )
