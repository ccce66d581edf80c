"""Kubeconfigs that act as a ServiceAccount, with a real token (TokenRequest), so a local
process has exactly the rights the chart gives that account in a cluster."""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes import client

TOKEN_SECONDS = 6 * 3600


def service_account_kubeconfig(
    api: client.ApiClient, admin_kubeconfig: Path, namespace: str, name: str, target: Path
) -> Path:
    """Write a kubeconfig for ServiceAccount ``namespace/name`` to ``target``: the admin
    kubeconfig's cluster, a bound token instead of the admin's certificate."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=TOKEN_SECONDS)
    )
    token = (
        client.CoreV1Api(api)
        .create_namespaced_service_account_token(name, namespace, request)
        .status.token
    )
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    user = f"system:serviceaccount:{namespace}:{name}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"][:1],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": user, "context": {"cluster": admin["clusters"][0]["name"], "user": user}}
        ],
        "current-context": user,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target
