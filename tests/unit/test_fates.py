from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.localcluster.fates import Fates, fate_for, owner_uid
from tests.localcluster.stages import EXIT_CODE, FAIL_ATTEMPTS, FATE


@pytest.mark.parametrize(
    ("attempt", "fail_attempts", "fate"),
    [
        (0, 0, "succeed"),
        (0, 1, "fail"),
        (1, 1, "succeed"),
        (1, 2, "fail"),
        (2, 2, "succeed"),
    ],
)
def test_first_n_attempts_fail(attempt: int, fail_attempts: int, fate: str) -> None:
    assert fate_for(attempt, fail_attempts) == fate


def _pod(
    name: str, owner: str | None, annotations: dict[str, str], labels: dict[str, str] | None = None
) -> Any:
    refs = [SimpleNamespace(controller=True, uid=owner)] if owner else None
    return SimpleNamespace(
        metadata=SimpleNamespace(
            name=name,
            namespace="ns",
            uid=f"uid-{name}",
            owner_references=refs,
            annotations=annotations,
            labels=labels or {},
            deletion_timestamp=None,
        )
    )


class RecordingCoreApi:
    """Stands in for CoreV1Api.patch_namespaced_pod, the one call Fates makes."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, str, dict[str, Any]]] = []

    def patch_namespaced_pod(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        self.patches.append((name, namespace, body))


def test_attempts_are_numbered_per_owner_and_resume_after_restart() -> None:
    api = RecordingCoreApi()
    fates = Fates(api)  # type: ignore[arg-type]
    steer = {FAIL_ATTEMPTS: "2", EXIT_CODE: "7"}
    # A restarted process first sees the attempt it labelled before.
    fates.observe(_pod("a-1", "job-a", steer, {FATE: "fail"}))
    fates.observe(_pod("a-2", "job-a", steer))
    fates.observe(_pod("a-3", "job-a", steer))
    fates.observe(_pod("b-1", "job-b", steer))
    fates.observe(_pod("plain", "job-c", {}))
    fates.observe(_pod("a-3", "job-a", steer))  # a repeated event changes nothing
    assert api.patches == [
        ("a-2", "ns", {"metadata": {"labels": {FATE: "fail"}}}),
        ("a-3", "ns", {"metadata": {"labels": {FATE: "succeed"}}}),
        ("b-1", "ns", {"metadata": {"labels": {FATE: "fail"}}}),
    ]


def test_a_bare_pod_is_its_own_owner() -> None:
    assert owner_uid(_pod("solo", None, {})) == "uid-solo"
