from __future__ import annotations

import pytest

from tests.localcluster.nodes import (
    FAKE_TAINT,
    GPU_PRESENT_LABEL,
    GPU_RESOURCE,
    POOL_LABEL,
    build_node,
    build_nodes,
)


def test_pools_are_labelled_tainted_and_sized_like_real_ones() -> None:
    nodes = build_nodes(cpu=2, gpu=3)
    assert [n["metadata"]["name"] for n in nodes] == [
        "kwok-cpu-0",
        "kwok-cpu-1",
        "kwok-gpu-0",
        "kwok-gpu-1",
        "kwok-gpu-2",
    ]
    for node in nodes:
        gpu = node["metadata"]["labels"][POOL_LABEL] == "gpu"
        assert (node["metadata"]["labels"].get(GPU_PRESENT_LABEL) == "true") is gpu
        assert (node["status"]["allocatable"].get(GPU_RESOURCE) == "1") is gpu
        taints = node["spec"]["taints"]
        assert FAKE_TAINT in taints  # only pods meant for kwok land on fake nodes
        assert ({"key": GPU_RESOURCE, "effect": "NoSchedule"} in taints) is gpu


def test_unknown_pool_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown node pool 'tpu'"):
        build_node("x", "tpu")
