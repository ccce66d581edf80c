"""A development media server on a private host address (e.g. 10.201.0.1 on lo): opened by
the documented setting (OMVEE_API_URL_ALLOWED_NETWORKS for the API, OMVEE_URL_ALLOWED_NETWORKS
passed on by the operator to job pods), refused by default."""

from __future__ import annotations

import pytest

from api.rest.settings import Settings
from api.urlpolicy import ENV_ALLOWED_NETWORKS
from controller.settings import OperatorSettings
from jobimages.runtime.egress import policy_from_env

MEDIA = "http://10.201.0.1:8089/speech.wav"  # a private address, a port other than 80/443


def test_the_default_policy_refuses_a_private_media_server() -> None:
    for environment in ("development", "production"):
        settings = Settings(environment=environment, service_tokens=["x" * 24])
        policy = settings.url_policy()
        assert policy.problem(MEDIA) == "must use port 80 or 443"
        assert policy.problem("http://10.201.0.1/speech.wav") == (
            "host 10.201.0.1 is a private address"
        )


def test_allowed_networks_open_it_for_the_api_and_the_job_pods(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(environment="development", url_allowed_networks=["10.201.0.0/24"])
    assert settings.url_policy().problem(MEDIA) is None
    # another private range stays refused, and so does link-local
    assert settings.url_policy().problem("http://10.202.0.1:8089/a.wav") is not None
    monkeypatch.setenv(ENV_ALLOWED_NETWORKS, '["10.201.0.0/24"]')
    assert (ENV_ALLOWED_NETWORKS, '["10.201.0.0/24"]') in OperatorSettings.from_env().job_env
    assert policy_from_env().problem(MEDIA) is None  # what the job runtime checks with
