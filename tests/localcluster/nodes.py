"""The fake nodes kwok plays: a CPU pool and a GPU pool labelled and tainted like real ones."""

from __future__ import annotations

from typing import Any

POOL_LABEL = "omvee.io/pool"
GPU_RESOURCE = "nvidia.com/gpu"
# What the NVIDIA GPU operator's feature discovery puts on GPU nodes.
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_PRODUCT = "NVIDIA-L4"

CPU_NODE_CAPACITY = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
GPU_NODE_CAPACITY = {**CPU_NODE_CAPACITY, "memory": "64Gi", GPU_RESOURCE: "1"}
# Every fake node carries it, so only pods that mean to land on kwok do (the real node does not).
FAKE_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
FAKE_TOLERATION = {
    "key": "kwok.x-k8s.io/node",
    "operator": "Equal",
    "value": "fake",
    "effect": "NoSchedule",
}


def build_node(name: str, pool: str) -> dict[str, Any]:
    """A Node object for pool ``cpu`` or ``gpu``; kwok copies capacity into its status."""
    if pool not in ("cpu", "gpu"):
        raise ValueError(f"unknown node pool {pool!r}: expected 'cpu' or 'gpu'")
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        POOL_LABEL: pool,
    }
    spec: dict[str, Any] = {"taints": [dict(FAKE_TAINT)]}
    capacity = CPU_NODE_CAPACITY
    if pool == "gpu":
        labels |= {
            GPU_PRESENT_LABEL: "true",
            GPU_PRODUCT_LABEL: GPU_PRODUCT,
            "nvidia.com/gpu.count": "1",
        }
        spec["taints"].append({"key": GPU_RESOURCE, "effect": "NoSchedule"})
        capacity = GPU_NODE_CAPACITY
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {"capacity": dict(capacity), "allocatable": dict(capacity)},
    }


def build_nodes(cpu: int, gpu: int) -> list[dict[str, Any]]:
    """``cpu`` CPU nodes and ``gpu`` GPU nodes named ``kwok-<pool>-<n>``."""
    return [build_node(f"kwok-cpu-{i}", "cpu") for i in range(cpu)] + [
        build_node(f"kwok-gpu-{i}", "gpu") for i in range(gpu)
    ]
