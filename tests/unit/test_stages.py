"""Which kwok stage a pod of a given shape matches; kwok picks at random among several."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.localcluster.stages import (
    EXIT_CODE,
    FAIL_ATTEMPTS,
    FATE,
    IMAGE_PULL_ERROR,
    build_stages,
    render_config,
)

# The selector forms these stages use, evaluated as kwok does for them.
_KEYED = re.compile(r'^\.metadata\.(annotations|labels)\["(.+)"\]$')


def _value(pod: dict[str, Any], key: str) -> Any:
    if match := _KEYED.match(key):
        return pod["metadata"].get(match.group(1), {}).get(match.group(2))
    if key == ".metadata.deletionTimestamp":
        return pod["metadata"].get("deletionTimestamp")
    if key == ".status.phase":
        return pod["status"]["phase"]
    if key.startswith(".status.conditions.[]"):
        return pod["status"].get("ready")
    if key.startswith(".status.containerStatuses"):
        return pod["status"].get("waiting")
    raise AssertionError(f"selector key not understood by this test: {key}")


def _matches(stage: dict[str, Any], pod: dict[str, Any]) -> bool:
    for expression in stage["spec"]["selector"]["matchExpressions"]:
        value = _value(pod, expression["key"])
        operator = expression["operator"]
        if operator == "Exists" and value is None:
            return False
        if operator == "DoesNotExist" and value is not None:
            return False
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
    return True


def _pod(
    phase: str,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    deleted: bool = False,
    ready: str | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"annotations": annotations or {}, "labels": labels or {}}
    if deleted:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": metadata, "status": {"phase": phase, "ready": ready}}


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (_pod("Pending"), ["pod-ready"]),
        (_pod("Pending", {IMAGE_PULL_ERROR: "true"}), ["pod-image-pull-error"]),
        (_pod("Running", ready="True"), ["pod-complete"]),
        (_pod("Running", {EXIT_CODE: "3"}, ready="True"), ["pod-fail"]),
        # undecided: stays Running until the fates process labels it
        (_pod("Running", {EXIT_CODE: "3", FAIL_ATTEMPTS: "1"}, ready="True"), []),
        (_pod("Running", {FAIL_ATTEMPTS: "1"}, {FATE: "fail"}, ready="True"), ["pod-fate-fail"]),
        (
            _pod("Running", {FAIL_ATTEMPTS: "1"}, {FATE: "succeed"}, ready="True"),
            ["pod-fate-succeed"],
        ),
        (_pod("Running", {EXIT_CODE: "3"}, deleted=True, ready="True"), ["pod-terminate"]),
        (_pod("Pending", deleted=True), ["pod-terminate"]),
        (_pod("Failed", deleted=True), ["pod-delete"]),
        (_pod("Succeeded", deleted=True), ["pod-delete"]),
        (_pod("Succeeded"), []),
    ],
)
def test_each_pod_shape_matches_at_most_one_stage(pod: dict[str, Any], expected: list[str]) -> None:
    pod_stages = [s for s in build_stages() if s["spec"]["resourceRef"]["kind"] == "Pod"]
    assert [s["metadata"]["name"] for s in pod_stages if _matches(s, pod)] == expected


def test_config_is_a_kwok_configuration_followed_by_stages() -> None:
    documents = list(yaml.safe_load_all(render_config(build_stages())))
    assert documents[0]["kind"] == "KwokConfiguration"
    # kwok does not default options read from --config; zero parallelism refuses to start.
    assert documents[0]["options"]["nodeLeaseParallelism"] > 0
    names = [d["metadata"]["name"] for d in documents[1:]]
    assert len(names) == len(set(names))
    assert {"node-initialize", "node-heartbeat", "pod-ready", "pod-delete"} <= set(names)
    assert all(d["kind"] == "Stage" for d in documents[1:])


def test_failure_exit_code_comes_from_the_annotation() -> None:
    fail = next(s for s in build_stages() if s["metadata"]["name"] == "pod-fail")
    template = fail["spec"]["next"]["statusTemplate"]
    assert f'index $annotations "{EXIT_CODE}"' in template
    assert "phase: Failed" in template
