"""The local control plane behaves like a cluster: nodes, the Job controller, the scheduler."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests import factories
from tests.localcluster.nodes import FAKE_TAINT, GPU_PRESENT_LABEL, GPU_RESOURCE, POOL_LABEL
from tests.waiting import wait_for

pytestmark = pytest.mark.cluster


def finished_condition(job: Any) -> Any:
    for condition in job.status.conditions or []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return condition
    return None


def wait_finished(
    batch: client.BatchV1Api, namespace: str, name: str, timeout: float = 120
) -> tuple[Any, Any]:
    def finished() -> Any:
        job = batch.read_namespaced_job(name, namespace)
        return (job, finished_condition(job)) if finished_condition(job) else None

    result: tuple[Any, Any] = wait_for(finished, f"Job {namespace}/{name} to finish", timeout)
    return result


def job_pods(core: client.CoreV1Api, namespace: str, name: str) -> list[Any]:
    pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
    return sorted(pods, key=lambda p: p.metadata.creation_timestamp)


def exit_code(pod: Any) -> int:
    return int(pod.status.container_statuses[0].state.terminated.exit_code)


def taints_of(node: Any) -> list[tuple[str, str | None, str]]:
    return [(t.key, t.value, t.effect) for t in node.spec.taints or []]


def test_nodes_have_gpu_labels_taints_and_capacity(core: client.CoreV1Api) -> None:
    """kwok's fake nodes (the real node, when there is one, is tests/integration/
    test_real_node.py's): a CPU and a GPU pool, every node tainted as fake."""
    nodes = core.list_node(label_selector="type=kwok").items
    pools: dict[str, list[Any]] = {"cpu": [], "gpu": []}
    fake = (FAKE_TAINT["key"], FAKE_TAINT["value"], FAKE_TAINT["effect"])
    for node in nodes:
        pools[node.metadata.labels[POOL_LABEL]].append(node)
        conditions = {c.type: c.status for c in node.status.conditions}
        assert conditions["Ready"] == "True", node.metadata.name
    assert len(pools["cpu"]) >= 2
    assert len(pools["gpu"]) >= 2
    for node in pools["gpu"]:
        assert node.metadata.labels[GPU_PRESENT_LABEL] == "true"
        assert sorted(taints_of(node)) == sorted([fake, (GPU_RESOURCE, None, "NoSchedule")])
        assert node.status.allocatable[GPU_RESOURCE] == "1"
        assert node.status.capacity[GPU_RESOURCE] == "1"
    for node in pools["cpu"]:
        assert GPU_PRESENT_LABEL not in node.metadata.labels
        assert GPU_RESOURCE not in node.status.allocatable
        assert taints_of(node) == [fake]


def test_job_succeeds_on_first_attempt(
    batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    batch.create_namespaced_job(namespace, factories.job("ok"))
    _job, condition = wait_finished(batch, namespace, "ok")
    assert condition.type == "Complete"
    pods = job_pods(core, namespace, "ok")
    assert [p.status.phase for p in pods] == ["Succeeded"]
    assert exit_code(pods[0]) == 0
    assert pods[0].spec.node_name.startswith("kwok-cpu-")


def test_backoff_limit_exceeded_after_exactly_three_pods(
    batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    annotations = factories.pod_annotations(exit_code=1)
    batch.create_namespaced_job(
        namespace, factories.job("fails", backoff_limit=2, annotations=annotations)
    )
    job, condition = wait_finished(batch, namespace, "fails", timeout=180)
    assert (condition.type, condition.reason) == ("Failed", "BackoffLimitExceeded")
    assert job.status.failed == 3
    pods = job_pods(core, namespace, "fails")
    assert [p.status.phase for p in pods] == ["Failed"] * 3
    assert [exit_code(p) for p in pods] == [1, 1, 1]


def test_first_attempt_fails_second_succeeds(
    batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    annotations = factories.pod_annotations(exit_code=3, fail_attempts=1)
    batch.create_namespaced_job(
        namespace, factories.job("flaky", backoff_limit=2, annotations=annotations)
    )
    job, condition = wait_finished(batch, namespace, "flaky")
    assert condition.type == "Complete"
    assert (job.status.failed, job.status.succeeded) == (1, 1)
    pods = job_pods(core, namespace, "flaky")
    assert [(p.status.phase, exit_code(p)) for p in pods] == [("Failed", 3), ("Succeeded", 0)]


def test_pod_failure_policy_fail_job_ends_after_one_pod(
    batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    policy = {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]},
            }
        ]
    }
    batch.create_namespaced_job(
        namespace,
        factories.job(
            "permanent",
            backoff_limit=3,
            annotations=factories.pod_annotations(exit_code=42),
            pod_failure_policy=policy,
        ),
    )
    _job, condition = wait_finished(batch, namespace, "permanent")
    assert (condition.type, condition.reason) == ("Failed", "PodFailurePolicy")
    assert "exit code 42" in condition.message
    pods = job_pods(core, namespace, "permanent")
    assert len(pods) == 1
    assert exit_code(pods[0]) == 42


def test_gpu_pod_lands_on_a_gpu_node(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace,
        factories.pod(
            "whisper", gpu=True, annotations=factories.pod_annotations(run_duration="1h")
        ),
    )

    def running() -> Any:
        pod = core.read_namespaced_pod("whisper", namespace)
        return pod if pod.status.phase == "Running" else None

    pod = wait_for(running, "the GPU pod to run", 60)
    assert pod.spec.node_name.startswith("kwok-gpu-")
    node = core.read_node(pod.spec.node_name)
    assert node.metadata.labels[GPU_PRESENT_LABEL] == "true"


def test_gpu_request_without_toleration_stays_pending(
    core: client.CoreV1Api, namespace: str
) -> None:
    manifest = factories.pod("no-toleration", gpu=True, tolerate_gpu=False)
    del manifest["spec"]["nodeSelector"]  # CPU nodes lack the GPU, GPU nodes are tainted
    core.create_namespaced_pod(namespace, manifest)

    def unschedulable() -> Any:
        pod = core.read_namespaced_pod("no-toleration", namespace)
        for condition in pod.status.conditions or []:
            if condition.type == "PodScheduled" and condition.reason == "Unschedulable":
                return pod, condition
        return None

    pod, condition = wait_for(unschedulable, "the scheduler to give up on the pod", 60)
    assert pod.status.phase == "Pending"
    assert pod.spec.node_name is None
    assert "untolerated taint" in condition.message
    assert "Insufficient nvidia.com/gpu" in condition.message


def test_image_pull_error_keeps_the_pod_pending(core: client.CoreV1Api, namespace: str) -> None:
    annotations = {**factories.pod_annotations(), "kwok.omvee.io/image-pull-error": "true"}
    core.create_namespaced_pod(namespace, factories.pod("bad-image", annotations=annotations))

    def waiting_reason() -> Any:
        pod = core.read_namespaced_pod("bad-image", namespace)
        statuses = pod.status.container_statuses or []
        return statuses[0].state.waiting if statuses and statuses[0].state.waiting else None

    waiting = wait_for(waiting_reason, "ErrImagePull", 60)
    assert waiting.reason == "ErrImagePull"
    assert "omvee/test:latest" in waiting.message
    assert core.read_namespaced_pod("bad-image", namespace).status.phase == "Pending"


def test_evicted_pod_is_ignored_by_the_failure_policy(
    batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    """An eviction (node drain) keeps the DisruptionTarget condition, so an Ignore rule holds."""
    policy = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    batch.create_namespaced_job(
        namespace,
        factories.job(
            "drained",
            backoff_limit=0,
            pod_failure_policy=policy,
            annotations=factories.pod_annotations(run_duration="3s"),
        ),
    )

    def running_pod() -> Any:
        pods = [p for p in job_pods(core, namespace, "drained") if p.status.phase == "Running"]
        return pods[0] if pods else None

    first = wait_for(running_pod, "the first attempt to run", 60)
    core.create_namespaced_pod_eviction(
        first.metadata.name,
        namespace,
        {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": first.metadata.name, "namespace": namespace},
        },
    )
    job, condition = wait_finished(batch, namespace, "drained")
    assert condition.type == "Complete"
    assert not job.status.failed
    assert first.metadata.name not in {
        p.metadata.name for p in job_pods(core, namespace, "drained")
    }


def test_pod_logs_are_served_through_the_api_server(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace, factories.pod("talker", annotations=factories.pod_annotations(run_duration="1h"))
    )
    wait_for(
        lambda: core.read_namespaced_pod("talker", namespace).status.phase == "Running",
        "the pod to run",
        60,
    )
    log = core.read_namespaced_pod_log("talker", namespace)
    assert log.splitlines() == [f"omvee fake job: step {i} of 3" for i in range(1, 4)]
