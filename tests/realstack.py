"""The operator and the REST API set up for real work on the local cluster's real node, as
`make up` and the real-job tests run them (outside the cluster, as local processes).

What they need beyond the kwok-only stack:
- the job images, built by buildah (tests.localcluster.images) and imported into the node's
  containerd;
- the local job catalog (charts/omvee/examples/profiles-local.yaml: every type on the real
  node's CPU);
- a results volume: a host directory mounted into every job pod (OMVEE_RESULTS_HOST_PATH for the
  operator), which the API reads its result links from (OMVEE_RESULTS_DIR);
- the media server's address allowed by the URL policy of both the API and the job pods
  (OMVEE_URL_ALLOWED_NETWORKS / OMVEE_API_URL_ALLOWED_NETWORKS): the real node's address, a
  private one the default policy refuses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from api.urlpolicy import ENV_ALLOWED_NETWORKS
from tests.api_process import ApiProcess
from tests.localcluster.cluster import LocalCluster, NodeInfo
from tests.localcluster.images import ensure_images
from tests.localcluster.layout import REPO_ROOT, state_root
from tests.operator_process import OperatorProcess

LOCAL_PROFILES = REPO_ROOT / "charts/omvee/examples/profiles-local.yaml"
# What the sample and the tests run: a transcription and the scenes of its transcript.
JOB_IMAGES = ("job-transcription", "job-scene-generation")
# The uid job containers run as (controller.builders.RUN_AS_USER), which writes the results.
JOB_UID = 10001


class RealNodeMissing(RuntimeError):
    """The local cluster runs without its real node (OMVEE_REAL_NODE=0)."""


def real_node(cluster: LocalCluster) -> NodeInfo:
    node = cluster.node
    if node is None:
        raise RealNodeMissing(
            "the local cluster has no real node (OMVEE_REAL_NODE=0): real jobs need one"
        )
    return node


def load_images(cluster: LocalCluster, names: Iterable[str] = JOB_IMAGES) -> list[str]:
    """Build (or reuse) the images and import those the real node does not hold yet: an
    archive is there when its content-hash tag is, and its release tag names the same image."""
    built = ensure_images(names)
    held = cluster.image_refs()
    for image in built.values():
        digests = {held.get(ref) for ref in image.refs}
        if None in digests or len(digests) != 1:
            cluster.import_image(image.archive)
    return [ref for image in built.values() for ref in image.refs]


def results_volume(root: Path | None = None) -> Path:
    """The host directory job pods store results in, writable by their uid (created once)."""
    path = root or state_root() / "results-volume"
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, JOB_UID, JOB_UID)
    # (the folders above it need not let that uid through: pods see it by a bind mount)
    path.chmod(0o2775)
    return path


def allowed_networks(node: NodeInfo) -> str:
    return json.dumps([f"{node.ip}/32"])


def operator_env(node: NodeInfo, results: Path) -> dict[str, str]:
    """The operator's settings for real jobs on the node (beside KUBECONFIG and the mirror)."""
    return {
        "OMVEE_PROFILES": str(LOCAL_PROFILES),
        "OMVEE_RESULTS_HOST_PATH": str(results),
        ENV_ALLOWED_NETWORKS: allowed_networks(node),
    }


def api_env(node: NodeInfo, results: Path) -> dict[str, str]:
    """The API's settings: media on the node's address accepted, result links read from the
    volume."""
    return {
        "OMVEE_API_URL_ALLOWED_NETWORKS": allowed_networks(node),
        "OMVEE_RESULTS_DIR": str(results),
    }


@dataclass
class RealStack:
    node: NodeInfo
    namespace: str
    operator: OperatorProcess
    api: ApiProcess
    results: Path

    @property
    def node_ip(self) -> str:
        return self.node.ip

    @property
    def node_name(self) -> str:
        return self.node.name


def start_real_stack(
    cluster: LocalCluster,
    *,
    namespace: str,
    operator_kubeconfig: Path,
    api_kubeconfig: Path,
    mirror_dsn: str,
) -> RealStack:
    """An operator acting in ``namespace`` only and an API creating jobs there, both set up for
    the real node; images loaded. Stop with stop_real_stack."""
    node = real_node(cluster)
    load_images(cluster)
    results = results_volume()
    operator = OperatorProcess(
        operator_kubeconfig,
        port_offset=87,
        namespaces=(namespace,),
        log_name="operator-real.log",
        env={"OMVEE_MIRROR_DSN": mirror_dsn, **operator_env(node, results)},
    )
    api = ApiProcess(
        api_kubeconfig,
        namespace,
        port_offset=93,
        log_name="api-real.log",
        env=api_env(node, results),
    )
    operator.start()
    try:
        api.start()
    except BaseException:
        operator.stop()
        raise
    return RealStack(node, namespace, operator, api, results)


def stop_real_stack(stack: RealStack) -> None:
    stack.api.stop()
    stack.operator.stop()
