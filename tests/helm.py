"""helm (built from its Go module) against the local cluster, and the chart's releases."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.kwokplacement import kwok_chart_values
from tests.localcluster.binaries import ensure_tool
from tests.localcluster.layout import REPO_ROOT, state_root

CHART = REPO_ROOT / "charts/omvee"
# `helm template` renders for this version unless a cluster is asked (it defaults to v1.20).
KUBE_VERSION = "1.34.4"


class HelmError(RuntimeError):
    pass


class Helm:
    def __init__(self, kubeconfig: Path | None = None) -> None:
        self.binary = ensure_tool("helm")
        self.kubeconfig = kubeconfig
        self.home = state_root() / "helm"  # keeps helm's cache and config out of ~

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        if self.kubeconfig:
            env["KUBECONFIG"] = str(self.kubeconfig)
        result = subprocess.run(
            [str(self.binary), *args], env=env, capture_output=True, text=True, timeout=300
        )
        if check and result.returncode != 0:
            raise HelmError(f"helm {' '.join(args)} failed:\n{result.stderr or result.stdout}")
        return result

    def template(self, *args: str, release: str = "omvee") -> list[dict[str, Any]]:
        """The rendered objects (CRDs included)."""
        out = self.run(
            "template", release, str(CHART), "--include-crds", "--kube-version", KUBE_VERSION, *args
        ).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    def install(self, release: str, namespace: str, *args: str, on_kwok: bool = True) -> None:
        """``helm install``; ``on_kwok``: the operator's and API's pods go to kwok's fake nodes
        (tests.kwokplacement), else to the real node, where they really run."""
        placement = ("-f", str(kwok_chart_values())) if on_kwok else ()
        self.run("install", release, str(CHART), "--namespace", namespace, *placement, *args)

    def uninstall(self, release: str, namespace: str) -> None:
        self.run("uninstall", release, "--namespace", namespace, "--wait", check=False)


@dataclass(frozen=True)
class Release:
    """A release of the chart and kubeconfigs acting as its ServiceAccounts."""

    name: str
    namespace: str
    operator_kubeconfig: Path
    api_kubeconfig: Path

    @property
    def fullname(self) -> str:
        return self.name if "omvee" in self.name else f"{self.name}-omvee"


def wait_operator_policy(k8s: Any, release: Release, timeout: float = 30) -> None:
    """Block until the API server enforces the release's admission policy on its operator
    (templates/operator/admission.yaml): it does so a moment after the policy is created,
    while the RBAC granted with it may already work. Probes with a dry-run change the policy
    refuses, as the operator, of a throwaway OmveeJob in the release namespace."""
    from kubernetes import client

    from api.v1alpha1 import constants
    from tests.omveejobs import manifest
    from tests.waiting import wait_for

    where = (constants.GROUP, constants.VERSION, release.namespace, constants.PLURAL)
    admin = client.CustomObjectsApi(k8s)
    admin.create_namespaced_custom_object(*where, manifest("policy-probe"))
    as_operator = client.ApiClient(k8s.configuration)
    as_operator.set_default_header(
        "Impersonate-User",
        f"system:serviceaccount:{release.namespace}:{release.fullname}-operator",
    )

    def refused() -> bool:
        try:
            client.CustomObjectsApi(as_operator).patch_namespaced_custom_object(
                *where, "policy-probe", {"spec": {"retries": 9}}, dry_run="All"
            )
        except client.ApiException as error:
            return error.status == 403 and "ValidatingAdmissionPolicy" in str(error.body)
        return False

    try:
        wait_for(refused, "the operator's admission policy to be enforced", timeout)
    finally:
        admin.delete_namespaced_custom_object(*where, "policy-probe")


PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator@v0.85.0"


def servicemonitor_crd() -> Path:
    """The ServiceMonitor CRD as the Prometheus Operator publishes it, from its Go module
    (downloaded once into the Go module cache)."""
    result = subprocess.run(
        ["go", "mod", "download", "-json", PROMETHEUS_OPERATOR],
        cwd=state_root(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise HelmError(f"go mod download {PROMETHEUS_OPERATOR} failed:\n{result.stdout}")
    directory = Path(json.loads(result.stdout)["Dir"])
    return directory / "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
