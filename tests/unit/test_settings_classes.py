"""One settings class per component reads exactly the documented environment variables, with
the documented defaults; every field says what it is; a bad value stops the start with an
error naming its variable. And one builder makes every component's Kubernetes client:
an explicit kubeconfig, else the pod's service account in a pod, else $KUBECONFIG."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from pydantic_settings import BaseSettings

from api.catalog.profiles import DEFAULT_PROFILES
from api.client.rollout import RolloutSettings
from api.envsettings import SettingsError, variable
from api.kubeclient import KubeConfigError, kube_client, kube_configuration
from api.logs.settings import LogStoreSettings
from api.logs.store import LogStoreError, logs_from_env
from api.rest.settings import Settings
from api.resultstore import ResultsSettings
from api.statuswords import MirrorWordsSettings
from controller.cli import main as cli
from controller.cli.settings import CliSettings
from controller.settings import OperatorSettings
from jobimages.image_generation.backends import backend_from_env
from jobimages.image_generation.settings import ImageSettings
from jobimages.runtime.exitcodes import PermanentError
from jobimages.runtime.job import job_given
from jobimages.runtime.results import results_from_env
from jobimages.runtime.settings import LocalMirrorSettings, RuntimeSettings
from jobimages.transcription import whisper
from jobimages.transcription.settings import TranscriptionSettings

SECRET = "s3cr3t-value-never-shown"

CLASSES: list[type[BaseSettings]] = [
    OperatorSettings,
    Settings,
    LogStoreSettings,
    ResultsSettings,
    RuntimeSettings,
    LocalMirrorSettings,
    TranscriptionSettings,
    ImageSettings,
    CliSettings,
    RolloutSettings,
    MirrorWordsSettings,
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.startswith(("OMVEE_", "SUPABASE_", "KUBERNETES_")) or name in (
            "POD_NAME",
            "KUBECONFIG",
        ):
            monkeypatch.delenv(name)


def variables(settings: type[BaseSettings]) -> dict[str, Any]:
    """{variable: default} of every field (a default drawn per start shows as "drawn")."""
    return {
        variable(settings, name): "drawn" if field.default_factory else field.default
        for name, field in settings.model_fields.items()
    }


# What README.md, the Helm chart and the operator's Job builder set: names and defaults as
# they were before the settings classes.
EXPECTED: dict[type[BaseSettings], dict[str, Any]] = {
    OperatorSettings: {
        "OMVEE_PROFILES": DEFAULT_PROFILES,
        "OMVEE_RESYNC_SECONDS": 15.0,
        "OMVEE_NAMESPACES": (),
        "OMVEE_HEALTH_PORT": 8081,
        "OMVEE_MAX_WORKERS": 8,
        "OMVEE_KUBE_QPS": 200.0,
        "OMVEE_KUBE_BURST": 400,
        "OMVEE_WATCH_TIMEOUT_SECONDS": 300,
        "OMVEE_PEERING": "",
        "OMVEE_PEERING_PRIORITY": "drawn",
        "POD_NAME": "drawn",
        "OMVEE_MIRROR": "",
        "OMVEE_MIRROR_DSN": "",
        "SUPABASE_URL": "",
        "SUPABASE_SERVICE_ROLE_KEY": "",
        "OMVEE_URL_HOSTS": "",
        "OMVEE_URL_BLOCKED_NETWORKS": "",
        "OMVEE_URL_ALLOWED_NETWORKS": "",
        "OMVEE_RESULTS_STORE": "",
        "OMVEE_RESULTS_HOST_PATH": "",
        "OMVEE_RESULTS_CLAIM": "",
        "OMVEE_RESULTS_SECRET": "",
        "OMVEE_RESULTS_BUCKET": "job-results",
    },
    Settings: {
        "OMVEE_API_ENVIRONMENT": "production",
        "OMVEE_API_NAMESPACE": "omvee",
        "OMVEE_API_HOST": "0.0.0.0",
        "OMVEE_API_PORT": 8000,
        "OMVEE_API_JWT_SECRET": "",
        "OMVEE_API_JWT_AUDIENCE": "authenticated",
        "OMVEE_API_SERVICE_TOKENS": "drawn",
        "OMVEE_API_MAX_BODY_BYTES": 65536,
        "OMVEE_API_URL_HOSTS": "drawn",
        "OMVEE_API_BLOCKED_NETWORKS": "drawn",
        "OMVEE_API_URL_ALLOWED_NETWORKS": "drawn",
        "OMVEE_API_PAGE_SIZE_MAX": 500,
        "OMVEE_API_MAX_STREAMS": 24,
        "OMVEE_API_POD_ANNOTATION_PREFIXES": "drawn",
        "OMVEE_API_METRICS_PORT": 0,
        "OMVEE_API_RESULTS_STORE": "",
        "OMVEE_API_RESULTS_DIR": "",
        "OMVEE_API_RESULTS_BUCKET": "job-results",
        "SUPABASE_URL": "",
        "SUPABASE_SERVICE_ROLE_KEY": "",
    },
    LogStoreSettings: {
        "OMVEE_LOGS": "",
        "OMVEE_LOGS_DIR": Path("omvee-logs"),
        "OMVEE_LOGS_BUCKET": "job-logs",
        "SUPABASE_URL": "",
        "SUPABASE_SERVICE_ROLE_KEY": "",
    },
    ResultsSettings: {
        "OMVEE_RESULTS": "directory",
        "OMVEE_RESULTS_DIR": None,
        "OMVEE_RESULTS_BUCKET": "job-results",
        "SUPABASE_URL": "",
        "SUPABASE_SERVICE_ROLE_KEY": "",
    },
    RuntimeSettings: {
        "OMVEE_JOB": None,
        "OMVEE_LLM_URL": None,
        "OMVEE_LLM_API_KEY": "",
        "OMVEE_LLM_MODEL": "gpt-4o-mini",
        "OMVEE_URL_HOSTS": "",
        "OMVEE_URL_BLOCKED_NETWORKS": "",
        "OMVEE_URL_ALLOWED_NETWORKS": "",
        "OMVEE_RUN_LOCAL": False,
    },
    LocalMirrorSettings: {
        "OMVEE_MIRROR_DSN": "",
        "SUPABASE_URL": "",
        "SUPABASE_SERVICE_ROLE_KEY": "",
    },
    TranscriptionSettings: {
        "OMVEE_MAX_AUDIO_BYTES": 500 * 1024 * 1024,
        "OMVEE_MAX_AUDIO_SECONDS": 4 * 3600.0,
        "OMVEE_WHISPER_MODEL_DIR": None,
        "OMVEE_WHISPER_DEVICE": None,
        "OMVEE_WHISPER_COMPUTE_TYPE": None,
    },
    ImageSettings: {
        "OMVEE_IMAGE_BACKEND": None,
        "OMVEE_IMAGE_URL": None,
        "OMVEE_IMAGE_API_KEY": "",
        "OMVEE_IMAGE_MODEL": "default",
        "OMVEE_DIFFUSERS_MODEL": "stabilityai/sdxl-turbo",
    },
    CliSettings: {
        "OMVEE_NAMESPACE": None,
        "OMVEE_API_URL": None,
        "OMVEE_API_TOKEN": None,
        "OMVEE_DEBUG": False,
        "OMVEE_MIRROR_DSN": None,
    },
    RolloutSettings: {"OMVEE_ROLLOUT": {}},
    MirrorWordsSettings: {"OMVEE_MIRROR_STATUS_WORDS": {}},
}


@pytest.mark.parametrize("settings", CLASSES, ids=lambda c: c.__name__)
def test_each_class_reads_the_documented_variables_with_their_defaults(
    settings: type[BaseSettings],
) -> None:
    assert variables(settings) == EXPECTED[settings]


@pytest.mark.parametrize("settings", CLASSES, ids=lambda c: c.__name__)
def test_every_field_is_documented(settings: type[BaseSettings]) -> None:
    undocumented = [
        name for name, field in settings.model_fields.items() if not (field.description or "")
    ]
    assert undocumented == []
    assert settings.__doc__


def test_a_variable_named_like_a_field_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the documented names count: a stray $max_workers or $kube_qps changes nothing."""
    monkeypatch.setenv("max_workers", "3")
    monkeypatch.setenv("KUBE_QPS", "1")
    monkeypatch.setenv("directory", "/elsewhere")
    monkeypatch.setenv("omvee_watch_timeout_seconds", "1")  # nor one in other letters
    settings = OperatorSettings.from_env()
    assert (settings.max_workers, settings.kube_qps) == (8, 200.0)
    assert settings.watch_timeout_seconds == 300
    assert LogStoreSettings.load().directory == Path("omvee-logs")


def test_the_operator_reads_every_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "OMVEE_PROFILES": "/etc/omvee/profiles.yaml",
        "OMVEE_RESYNC_SECONDS": "2.5",
        "OMVEE_NAMESPACES": "media, batch,",
        "OMVEE_HEALTH_PORT": "9090",
        "OMVEE_MAX_WORKERS": "3",
        "OMVEE_WATCH_TIMEOUT_SECONDS": "60",
        "OMVEE_MIRROR_DSN": "postgresql://u:p@db:5432/omvee",
        "OMVEE_RESULTS_CLAIM": "results",
        "OMVEE_URL_HOSTS": '["*.example.com"]',
    }.items():
        monkeypatch.setenv(name, value)
    settings = OperatorSettings.from_env()
    assert settings.profiles_path == Path("/etc/omvee/profiles.yaml")
    assert settings.resync_seconds == 2.5
    assert settings.namespaces == ("media", "batch")
    assert (settings.health_port, settings.max_workers) == (9090, 3)
    assert settings.watch_timeout_seconds == 60
    assert (settings.mirror, settings.mirror_dsn) == ("postgres", "postgresql://u:p@db:5432/omvee")
    assert settings.results is not None and settings.results.claim == "results"
    assert settings.job_env == (("OMVEE_URL_HOSTS", '["*.example.com"]'),)
    assert "postgresql://" not in repr(settings)  # the DSN holds a password


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMVEE_MAX_WORKERS", "")
    monkeypatch.setenv("OMVEE_NAMESPACES", "")
    monkeypatch.setenv("POD_NAME", "")
    settings = OperatorSettings.from_env()
    assert (settings.max_workers, settings.namespaces) == (8, ())
    assert settings.identity.endswith(f"-{os.getpid()}")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "OMVEE_MAX_WORKERS",
            "0",
            "OMVEE_MAX_WORKERS should be greater than or equal to 1, not '0'",
        ),
        ("OMVEE_MAX_WORKERS", "many", "OMVEE_MAX_WORKERS should be a valid integer"),
        ("OMVEE_RESYNC_SECONDS", "-1", "OMVEE_RESYNC_SECONDS should be greater than 0"),
        ("OMVEE_HEALTH_PORT", "70000", "OMVEE_HEALTH_PORT should be less than or equal to 65535"),
        ("OMVEE_WATCH_TIMEOUT_SECONDS", "soon", "OMVEE_WATCH_TIMEOUT_SECONDS should be a valid"),
        ("OMVEE_RESULTS_BUCKET", " ", "OMVEE_RESULTS_STORE=supabase needs OMVEE_RESULTS_SECRET"),
    ],
)
def test_a_bad_operator_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    if name == "OMVEE_RESULTS_BUCKET":
        monkeypatch.setenv("OMVEE_RESULTS_STORE", "supabase")
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        OperatorSettings.from_env()
    assert message in str(raised.value)


def test_a_secret_is_never_quoted_in_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMVEE_API_SERVICE_TOKENS", SECRET)  # not a JSON list
    with pytest.raises(SettingsError) as raised:
        Settings.load()
    assert str(raised.value).startswith("OMVEE_API_SERVICE_TOKENS must be JSON")
    assert SECRET not in str(raised.value)
    monkeypatch.setenv("OMVEE_API_SERVICE_TOKENS", json.dumps([["nested"]]))
    with pytest.raises(SettingsError) as raised:
        Settings.load()
    assert "OMVEE_API_SERVICE_TOKENS" in str(raised.value)
    assert "nested" not in str(raised.value)


def test_the_api_reads_its_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMVEE_API_ENVIRONMENT", "development")
    monkeypatch.setenv("OMVEE_API_HOST", "127.0.0.1")
    monkeypatch.setenv("OMVEE_API_PORT", "8123")
    monkeypatch.setenv("OMVEE_API_SERVICE_TOKENS", json.dumps(["t" * 24]))
    monkeypatch.setenv("OMVEE_RESULTS_DIR", "/srv/results")  # the unprefixed name works too
    settings = Settings.load()
    assert (settings.host, settings.port) == ("127.0.0.1", 8123)
    assert settings.service_tokens == ["t" * 24]
    assert (settings.results_store, settings.results_dir) == ("volume", "/srv/results")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "OMVEE_API_MAX_STREAMS",
            "100",
            "OMVEE_API_MAX_STREAMS should be less than or equal to 36",
        ),
        ("OMVEE_API_PORT", "http", "OMVEE_API_PORT should be a valid integer"),
        ("OMVEE_API_PORT", "http", "not 'http'"),
        ("OMVEE_API_ENVIRONMENT", "staging", "OMVEE_API_ENVIRONMENT should be 'development' or"),
        ("OMVEE_RESULTS_STORE", "volume", "OMVEE_RESULTS_STORE=volume needs OMVEE_RESULTS_DIR"),
    ],
)
def test_a_bad_api_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv("OMVEE_API_SERVICE_TOKENS", json.dumps(["t" * 24]))
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        Settings.load()
    assert message in str(raised.value)


def test_the_log_store_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert LogStoreSettings.load().kind == "off"
    monkeypatch.setenv("SUPABASE_URL", "https://project.supabase.co")
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SECRET)
    assert LogStoreSettings.load().kind == "supabase"  # inferred
    assert SECRET not in repr(LogStoreSettings.load())
    monkeypatch.setenv("OMVEE_LOGS", " Directory ")
    monkeypatch.setenv("OMVEE_LOGS_DIR", str(tmp_path))
    settings = LogStoreSettings.load()
    assert (settings.kind, settings.directory) == ("directory", tmp_path)
    monkeypatch.setenv("OMVEE_LOGS_BUCKET", "")  # empty: the default
    assert LogStoreSettings.load().bucket == "job-logs"
    monkeypatch.setenv("OMVEE_LOGS", "s3")
    with pytest.raises(LogStoreError, match="OMVEE_LOGS must be directory, supabase or off"):
        logs_from_env()


def test_the_results_settings_of_a_job_pod(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    defaults = ResultsSettings.load()
    assert defaults.local_directory() == Path("omvee-results").resolve()
    assert defaults.object_prefix() is None
    monkeypatch.setenv("OMVEE_RESULTS_DIR", str(tmp_path))
    assert ResultsSettings.load().local_directory() == tmp_path.resolve()
    monkeypatch.setenv("OMVEE_RESULTS", "supabase")
    monkeypatch.setenv("SUPABASE_URL", "https://project.supabase.co/")
    monkeypatch.setenv("OMVEE_RESULTS_BUCKET", "results")
    assert ResultsSettings.load().object_prefix() == (
        "https://project.supabase.co/storage/v1/object/results/"
    )
    # a Supabase store without its key is refused where it is used, permanently
    with pytest.raises(PermanentError, match="needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"):
        results_from_env()
    monkeypatch.setenv("OMVEE_RESULTS", "s3")
    with pytest.raises(PermanentError, match="misconfigured: OMVEE_RESULTS should be"):
        results_from_env()


def test_the_job_runtime_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not job_given()
    monkeypatch.setenv("OMVEE_JOB", '{"type": "transcription"}')
    monkeypatch.setenv("OMVEE_LLM_URL", "http://llm:8080")
    monkeypatch.setenv("OMVEE_LLM_API_KEY", SECRET)
    monkeypatch.setenv("OMVEE_URL_ALLOWED_NETWORKS", '["10.201.0.0/24"]')
    settings = RuntimeSettings.load()
    assert job_given()
    assert (settings.llm_url, settings.llm_model) == ("http://llm:8080", "gpt-4o-mini")
    assert settings.url_policy().allowed_networks == ("10.201.0.0/24",)
    assert SECRET not in repr(settings)
    monkeypatch.setenv("OMVEE_URL_HOSTS", "*.example.com")  # not JSON
    with pytest.raises(ValueError, match=r"\$OMVEE_URL_HOSTS must be a JSON list"):
        RuntimeSettings.load().url_policy()


def test_the_transcription_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMVEE_MAX_AUDIO_SECONDS", "60")
    monkeypatch.setenv("OMVEE_WHISPER_DEVICE", "cpu")
    monkeypatch.setenv("OMVEE_WHISPER_MODEL_DIR", "/models/tiny")
    options = whisper.settings()
    assert options.max_audio_seconds == 60.0
    assert whisper.model_dir(options) == "/models/tiny"
    monkeypatch.setenv("OMVEE_MAX_AUDIO_BYTES", "lots")
    with pytest.raises(PermanentError, match="OMVEE_MAX_AUDIO_BYTES should be a valid integer"):
        whisper.settings()
    monkeypatch.delenv("OMVEE_MAX_AUDIO_BYTES")
    monkeypatch.setenv("OMVEE_WHISPER_DEVICE", "tpu")
    with pytest.raises(PermanentError, match="OMVEE_WHISPER_DEVICE should be 'cpu', 'cuda'"):
        whisper.settings()


def test_the_image_backend_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMVEE_IMAGE_BACKEND", "dalle")
    with pytest.raises(PermanentError, match="OMVEE_IMAGE_BACKEND should be 'http' or"):
        backend_from_env()
    monkeypatch.setenv("OMVEE_IMAGE_BACKEND", "http")
    with pytest.raises(PermanentError, match="OMVEE_IMAGE_BACKEND=http needs OMVEE_IMAGE_URL"):
        backend_from_env()


def test_the_cli_defaults_and_a_bad_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OMVEE_NAMESPACE", "media")
    monkeypatch.setenv("OMVEE_API_URL", "http://api:8000")
    defaults = cli.defaults(CliSettings.load())
    assert (defaults["namespace"], defaults["api"], defaults["token"]) == (
        "media",
        "http://api:8000",
        None,
    )
    monkeypatch.setenv("OMVEE_DEBUG", "maybe")
    assert cli.main(["jobs", "list"]) == 2
    assert "OMVEE_DEBUG should be a valid boolean" in capsys.readouterr().err


# The Kubernetes client builder


def write_kubeconfig(path: Path, servers: dict[str, str], current: str) -> Path:
    """A kubeconfig with one context per server (context, cluster and user share its name)."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": n, "cluster": {"server": s}} for n, s in servers.items()],
                "users": [{"name": n, "user": {"token": f"token-{n}"}} for n in servers],
                "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in servers],
                "current-context": current,
            }
        )
    )
    return path


@pytest.fixture
def service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A pod's service account: its files in a folder, and the service's host and port."""
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "token").write_text("pod-token")
    (folder / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    yield folder


def token(configuration: client.Configuration) -> str:
    return str(configuration.get_api_key_with_prefix("authorization") or "").split()[-1]


def test_a_kubeconfig_from_kubeconfig_env_or_an_explicit_path_and_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_kubeconfig(
        tmp_path / "config",
        {"dev": "https://127.0.0.1:6443", "prod": "https://10.0.0.1:6443"},
        current="dev",
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    before = client.Configuration.get_default_copy().host
    configuration = kube_configuration(service_account_dir=tmp_path / "none")
    assert (configuration.host, token(configuration)) == ("https://127.0.0.1:6443", "token-dev")
    explicit = kube_configuration(str(path), "prod", pool_size=12, retries=1)
    assert (explicit.host, token(explicit)) == ("https://10.0.0.1:6443", "token-prod")
    assert (explicit.connection_pool_maxsize, explicit.retries) == (12, 1)
    assert isinstance(kube_client(str(path), "prod"), client.ApiClient)
    assert client.Configuration.get_default_copy().host == before  # the global is left alone


def test_in_a_pod_the_service_account_is_used(
    service_account: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_kubeconfig(tmp_path / "config", {"dev": "https://127.0.0.1:6443"}, "dev")
    monkeypatch.setenv("KUBECONFIG", str(path))  # a pod's own account comes first
    configuration = kube_configuration(service_account_dir=service_account, pool_size=4)
    assert configuration.host == "https://10.96.0.1:443"
    assert token(configuration) == "pod-token"
    assert configuration.ssl_ca_cert == str(service_account / "ca.crt")
    assert configuration.connection_pool_maxsize == 4
    # an explicit kubeconfig still wins, in a pod too
    explicit = kube_configuration(str(path), service_account_dir=service_account)
    assert explicit.host == "https://127.0.0.1:6443"


def test_no_usable_credentials_say_what_was_tried(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match=r"no usable kubeconfig in /nonexistent"):
        kube_configuration("/nonexistent")
    # not in a pod, and the kubeconfig the default location names is unusable
    with pytest.raises(KubeConfigError, match="not in a pod with a service account"):
        kube_configuration(service_account_dir=tmp_path)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {},
            "a local run (OMVEE_RUN_LOCAL=true) writes its jobs row itself: set OMVEE_MIRROR_DSN "
            "(postgresql://user:password@host:port/db), or SUPABASE_URL and "
            "SUPABASE_SERVICE_ROLE_KEY",
        ),
        (
            {"SUPABASE_URL": "https://p.supabase.co"},
            "SUPABASE_URL needs SUPABASE_SERVICE_ROLE_KEY for a local run's jobs row",
        ),
    ],
)
def test_a_local_run_needs_a_mirror_to_write_to(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        LocalMirrorSettings.load()
    assert message in str(raised.value)


def test_a_local_run_writes_to_the_dsn_before_supabase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_URL", "https://p.supabase.co")
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SECRET)
    assert LocalMirrorSettings.load().kind == "supabase"
    monkeypatch.setenv("OMVEE_MIRROR_DSN", "postgresql://u:p@db:5432/app")
    settings = LocalMirrorSettings.load()
    assert (settings.kind, settings.mirror_dsn) == ("postgres", "postgresql://u:p@db:5432/app")
    assert SECRET not in repr(settings) and "postgresql://" not in repr(settings)
    monkeypatch.setenv("OMVEE_RUN_LOCAL", "true")
    assert RuntimeSettings.load().run_local is True
