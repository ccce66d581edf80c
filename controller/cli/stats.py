"""Pure: what `omvee stats` shows, from the jobs and (in cluster mode) the nodes and pods.

It answers what `celery inspect stats/active` used to: how many jobs in each phase and type,
which run now and where, and how much of the GPU pool is taken.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.v1alpha1.types import JobType, Phase
from controller.cli.ages import parse_time

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
# Node labels that name a node's pool, ours first, then the common cloud and autoscaler ones.
POOL_LABELS = (
    "omvee.io/pool",
    "karpenter.sh/nodepool",
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "kubernetes.azure.com/agentpool",
)
PHASES = tuple(phase.value for phase in Phase)


@dataclass(frozen=True)
class Placement:
    """What only the cluster can tell: nodes, and the pods that hold resources on them."""

    nodes: list[dict[str, Any]]
    pods: list[dict[str, Any]] = field(default_factory=list)


def node_pool(node: dict[str, Any]) -> str:
    """The node's pool: the first of POOL_LABELS it has, else ``gpu`` for a GPU node, else
    ``-``."""
    labels = node["metadata"].get("labels") or {}
    for label in POOL_LABELS:
        if labels.get(label):
            return str(labels[label])
    return "gpu" if labels.get(GPU_PRESENT_LABEL) == "true" else "-"


def gpus_allocatable(node: dict[str, Any]) -> int:
    """The node's allocatable ``nvidia.com/gpu`` count (0 when it has none)."""
    return int((node.get("status") or {}).get("allocatable", {}).get(GPU_RESOURCE) or 0)


def gpus_requested(pod: dict[str, Any]) -> int:
    """GPUs a pod holds. An extended resource's request equals its limit when only the limit
    is set, which is how GPU pods usually ask."""
    total = 0
    for container in pod.get("spec", {}).get("containers") or []:
        resources = container.get("resources") or {}
        amount = (resources.get("requests") or {}).get(GPU_RESOURCE) or (
            resources.get("limits") or {}
        ).get(GPU_RESOURCE)
        total += int(amount or 0)
    return total


def _holds_resources(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return bool(pod.get("spec", {}).get("nodeName")) and status.get("phase") not in (
        "Succeeded",
        "Failed",
    )


def summarize(
    jobs: list[dict[str, Any]], placement: Placement | None, now: datetime
) -> dict[str, Any]:
    """``jobs`` are public job views (``JobPublic`` as JSON, optionally with ``namespace``)."""
    by_phase = Counter(job.get("phase") or Phase.PENDING.value for job in jobs)
    by_type: dict[str, dict[str, int]] = {}
    for job_type in sorted({job["type"] for job in jobs} | {t.value for t in JobType}):
        of_type = [job for job in jobs if job["type"] == job_type]
        counts = Counter(job.get("phase") or Phase.PENDING.value for job in of_type)
        by_type[job_type] = {phase: counts[phase] for phase in PHASES} | {"total": len(of_type)}

    running = []
    for job in jobs:
        if job.get("phase") != Phase.RUNNING.value:
            continue
        started = parse_time(job.get("started_at") or job.get("created_at"))
        entry = {
            "id": job["id"],
            "type": job["type"],
            "node": job.get("node"),
            "progress": job.get("progress", 0),
            "attempts": job.get("attempts", 0),
            "running_seconds": int((now - started).total_seconds()) if started else None,
        }
        if "namespace" in job:
            entry = {"namespace": job["namespace"]} | entry
        running.append(entry)
    running.sort(key=lambda entry: -(entry["running_seconds"] or 0))
    jobs_on = Counter(entry["node"] for entry in running if entry["node"])

    nodes: list[dict[str, Any]]
    gpu: dict[str, int] | None = None
    if placement is None:
        nodes = [
            {"node": name, "pool": None, "running_jobs": count}
            for name, count in sorted(jobs_on.items())
        ]
    else:
        requested = Counter[str]()
        for pod in placement.pods:
            if _holds_resources(pod):
                requested[pod["spec"]["nodeName"]] += gpus_requested(pod)
        nodes = [
            {
                "node": node["metadata"]["name"],
                "pool": node_pool(node),
                "running_jobs": jobs_on[node["metadata"]["name"]],
                "gpu_allocatable": gpus_allocatable(node),
                "gpu_requested": requested[node["metadata"]["name"]],
            }
            for node in sorted(placement.nodes, key=lambda n: n["metadata"]["name"])
        ]
        gpu = {
            "allocatable": sum(n["gpu_allocatable"] for n in nodes),
            "requested": sum(n["gpu_requested"] for n in nodes),
        }
    return {
        "total": len(jobs),
        "by_phase": {phase: by_phase[phase] for phase in PHASES},
        "by_type": by_type,
        "running": running,
        "nodes": nodes,
        "pools": _pools(nodes) if placement is not None else None,
        "gpu": gpu,
    }


def _pools(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pools: dict[str, dict[str, Any]] = {}
    for node in nodes:
        pool = pools.setdefault(
            node["pool"],
            {
                "pool": node["pool"],
                "nodes": 0,
                "running_jobs": 0,
                "gpu_allocatable": 0,
                "gpu_requested": 0,
            },
        )
        pool["nodes"] += 1
        for key in ("running_jobs", "gpu_allocatable", "gpu_requested"):
            pool[key] += node[key]
    return sorted(pools.values(), key=lambda p: str(p["pool"]))
