"""The path a user takes on their own cluster, minus the registry: `helm install` of the chart
with the images built here (imported into the real node's containerd), the operator and the API
running as pods on the real node with the chart's ServiceAccounts, and a real transcription
through that install."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes import client

from tests.helm import Helm
from tests.localcluster.binaries import real_node_enabled
from tests.localcluster.cluster import LocalCluster
from tests.localcluster.layout import REPO_ROOT, state_root
from tests.media import PARAGRAPH, serving, speak, word_error_rate
from tests.namespaces import create_namespace
from tests.operator_process import OperatorProcess
from tests.realstack import load_images, real_node, results_volume
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.skipif(
        not real_node_enabled(), reason="OMVEE_REAL_NODE=0: the cluster runs without its real node"
    ),
    pytest.mark.cluster,
    pytest.mark.media,
    pytest.mark.realnode,
]

RELEASE = "real"
PROJECT = "5d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a"
VALUES_LOCAL = REPO_ROOT / "charts/omvee/examples/values-local.yaml"


@pytest.fixture
def installed(
    helm: Helm, k8s: client.ApiClient, local_cluster: LocalCluster, operator: OperatorProcess
) -> Iterator[str]:
    """The chart installed for the real node; yields its namespace."""
    node = real_node(local_cluster)
    load_images(local_cluster, ("omvee-jobs", "job-transcription"))
    results = results_volume(state_root() / "results-chart")
    namespace = create_namespace(k8s, f"chart-real-{uuid.uuid4().hex[:6]}")
    operator.stop()  # the session's cluster-wide operator would act in this namespace too
    try:
        helm.install(
            RELEASE,
            namespace,
            "-f",
            str(VALUES_LOCAL),
            "--set",
            "results.store=volume",
            "--set",
            f"results.hostPath={results}",
            "--set-json",
            f'api.urlAllowedNetworks=["{node.ip}/32"]',
            "--wait",
            "--timeout",
            "4m",
            on_kwok=False,
        )
        yield namespace
    finally:
        helm.uninstall(RELEASE, namespace)
        client.CoreV1Api(k8s).delete_namespace(namespace)
        operator.start()


def test_a_real_transcription_through_the_installed_chart(
    installed: str,
    core: client.CoreV1Api,
    local_cluster: LocalCluster,
    tmp_path: Path,
) -> None:
    namespace, node = installed, real_node(local_cluster)
    running = {
        pod.metadata.labels["app.kubernetes.io/component"]: pod
        for pod in core.list_namespaced_pod(namespace).items
        if pod.status.phase == "Running"
    }
    assert set(running) >= {"operator", "api"}, running
    for component in ("operator", "api"):
        pod = running[component]
        assert pod.spec.node_name == node.name
        assert pod.spec.service_account_name == f"{RELEASE}-omvee-{component}"
        assert all(status.ready for status in pod.status.container_statuses)

    secret = core.read_namespaced_secret(f"{RELEASE}-omvee-api-auth", namespace)
    (token,) = json.loads(base64.b64decode(secret.data["service-tokens"]))
    service = core.read_namespaced_service(f"{RELEASE}-omvee-api", namespace)
    # kube-proxy routes the Service's address from this host too, once it has synced the
    # Service's ready endpoints (until then it rejects connections)
    base_url = f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"

    def routed() -> bool:
        try:
            return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(routed, "kube-proxy to route the API Service", 60)

    tmp_path.chmod(0o755)
    speak(PARAGRAPH, tmp_path / "speech.wav")
    with (
        serving(tmp_path, node.ip) as (media_url, _),
        httpx.Client(
            base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as http,
    ):
        response = http.post(
            f"/v1/projects/{PROJECT}/transcriptions",
            json={"audio_url": f"{media_url}/speech.wav", "language": "en"},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        job: dict[str, object] = {}

        def final() -> bool:
            job.update(http.get(f"/v1/jobs/{job_id}").json())
            return job.get("phase") in ("Succeeded", "Failed", "Cancelled")

        wait_for(final, "the transcription through the chart's API", 300)
        assert job["phase"] == "Succeeded", job
        links = job["result_links"]
        assert isinstance(links, dict)
        transcript = http.get(links["transcript.json"])
        assert transcript.status_code == 200, transcript.text
    text = " ".join(segment["text"] for segment in transcript.json()["segments"])
    assert word_error_rate(PARAGRAPH, text) <= 0.3, text
