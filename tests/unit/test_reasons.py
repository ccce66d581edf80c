"""Reasons are one enumeration (api.v1alpha1.reasons): every reason the operator or the API
writes is a member, every member is classified so the metrics label it, and "waiting for GPU"
comes from a reason, never from the words of a message."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api.rest import live
from api.v1alpha1 import reasons
from api.v1alpha1.reasons import KubernetesReason, Reason, from_kubernetes
from api.v1alpha1.types import OmveeJobSpec, OmveeJobStatus
from controller import dependencies, ownership, refusals
from controller.metrics import labels
from controller.refusals import classify, classify_job_refusal
from controller.status import FailedCreate
from controller.transitions import Decision, decide, events_for
from tests.unit.objects import JobObj, PodObj

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("api", "controller", "jobimages/runtime")
NOW = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
GPU_FULL = "0/4 nodes are available: 2 Insufficient nvidia.com/gpu"


# -- (a) no bare reason strings in the code -------------------------------------------------


def _names_a_reason(node: ast.AST) -> bool:
    """``reason``, ``x.reason``, ``stopping_reason``, ``x.get("reason")``, ``x["reason"]``."""
    if isinstance(node, ast.Name):
        return node.id.lower().endswith("reason")
    if isinstance(node, ast.Attribute):
        return node.attr.lower().endswith("reason")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "get" and any(
            isinstance(a, ast.Constant) and a.value == "reason" for a in node.args[:1]
        )
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "reason"
    return False


def _literals(node: ast.AST | None) -> list[str]:
    """The string constants shaped like a reason (one word: "" is nothing to show, a sentence
    a message) that ``node`` is or holds (a set, tuple or list of them, or ``a or "Lit"``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
        return [node.value]
    if isinstance(node, ast.Set | ast.Tuple | ast.List):
        return [s for element in node.elts for s in _literals(element)]
    if isinstance(node, ast.BoolOp):
        return [s for value in node.values for s in _literals(value)]
    return []


def bare_reasons(source: str) -> list[tuple[int, str]]:
    """(line, literal) for each string literal used as a reason: passed as ``reason=``, put
    under a "reason" key, assigned to a ``*reason`` name, or compared with one."""
    found: list[tuple[int, str]] = []  # a literal inside ``reason = a or "X"`` is seen twice
    for node in ast.walk(ast.parse(source)):
        hits: list[str] = []
        if isinstance(node, ast.keyword) and node.arg and node.arg.lower().endswith("reason"):
            hits = _literals(node.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "reason":
                    hits += _literals(value)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_names_a_reason(t) for t in targets):
                hits = _literals(node.value)
        elif isinstance(node, ast.BoolOp) and any(_names_a_reason(v) for v in node.values):
            hits = _literals(node)
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_names_a_reason(o) for o in operands):
                hits = [s for o in operands for s in _literals(o)]
        found += [(getattr(node, "lineno", 0), hit) for hit in hits]
    return sorted(set(found))


def _modules() -> list[Path]:
    files = [p for top in SCANNED for p in sorted((ROOT / top).rglob("*.py"))]
    return [p for p in files if p != ROOT / "api/v1alpha1/reasons.py"]


def test_no_module_writes_or_compares_a_reason_as_a_bare_string() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {literal!r}"
        for path in _modules()
        for line, literal in bare_reasons(path.read_text())
    ]
    assert found == [], "use api.v1alpha1.reasons.Reason members:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'finish(phase, reason="Bogus", message="m")',
        'status = {"reason": "Bogus"}',
        'reason = failed.get("reason") or "Bogus"',
        'if status.get("reason") == "Bogus": pass',
        'if obj["reason"] in ("Bogus", Reason.FAILED): pass',
        'stopping_reason = "Bogus"',
    ],
)
def test_the_scan_finds_a_bare_reason(source: str) -> None:
    assert bare_reasons(source) == [(1, "Bogus")]


def test_the_scan_leaves_members_and_empty_fallbacks_alone() -> None:
    source = 'finish(reason=Reason.FAILED)\nx = {"reason": e.get("reason") or ""}\n'
    assert bare_reasons(source) == []


# -- (a) every reason derivation and transitions produce is a member ------------------------


def _spec(**fields: Any) -> OmveeJobSpec:
    return OmveeJobSpec.model_validate(
        {
            "type": "transcription",
            "projectId": "2f1c6a0e-8d3b-4c55-9a57-3f0b7e6d9c10",
            "jobId": "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e",
            **fields,
        }
    )


def _decide(
    job: dict[str, Any] | None = None,
    pods: list[dict[str, Any]] | None = None,
    *,
    gpu: bool = False,
    status: dict[str, Any] | None = None,
    **rest: Any,
) -> Decision:
    return decide(
        **{
            "spec": _spec(),
            "status": OmveeJobStatus.model_validate(
                status if status is not None else {"run": 0, "jobUid": "job-uid"}
            ),
            "generation": 1,
            "job_name": "x-r0",
            "job": job,
            "pods": pods or [],
            "input_errors": [],
            "gpu": gpu,
            "pending_timeout": 600,
            "now": NOW,
        }
        | rest
    )


def _not_starting(pod: dict[str, Any]) -> dict[str, Any]:
    waiting = {"reason": "CreateContainerConfigError", "message": 'secret "s" not found'}
    pod["status"]["containerStatuses"] = [{"name": "job", "state": {"waiting": waiting}}]
    return pod


REFUSED_POD = classify('Error creating: pods "x" is forbidden: violates PodSecurity', "ns", "sa")
UPSTREAM_ID = "5d0c9e1a-3b2f-4c6d-8e7f-9a0b1c2d3e4f"


def _gate(phase: str | None, job_id: str = UPSTREAM_ID) -> dependencies.Gate:
    """The gate of a scene-generation job whose transcription ``job_id`` is in ``phase``."""
    spec = _spec(type="scene-generation", input={"transcriptJobId": job_id})
    upstream = {
        "metadata": {"name": "up"},
        "spec": {"type": "transcription", "jobId": job_id, "projectId": spec.project_id},
        "status": {"phase": phase, "run": 0} if phase else {},
    }
    return dependencies.gate(spec, lambda _: upstream)


DECISIONS = {
    "new": lambda: _decide(status={}),
    "invalid input": lambda: _decide(status={}, input_errors=["input.x: Field required"]),
    "cancelled": lambda: _decide(spec=_spec(cancel=True), status={}),
    "duplicate": lambda: _decide(
        status={}, refused_input=ownership.duplicate("b", "id", {"metadata": {"name": "a"}})
    ),
    "name taken": lambda: _decide(status={}, job_taken="taken"),
    "job refused": lambda: _decide(status={}, create_refused=classify_job_refusal(422, "bad")),
    "job blocked": lambda: _decide(status={}, create_refused=classify_job_refusal(403, "no")),
    "job deleted": lambda: _decide(None),
    "creating": lambda: _decide(JobObj().build()),
    "unschedulable gpu": lambda: _decide(
        JobObj().counts(active=1).build(), [PodObj("p1").unschedulable(GPU_FULL).build()], gpu=True
    ),
    "unschedulable": lambda: _decide(
        JobObj().counts(active=1).build(), [PodObj("p1").unschedulable("0/4").build()]
    ),
    "image pull": lambda: _decide(
        JobObj().counts(active=1).build(), [PodObj("p1").on("n").image_pull_error("x").build()]
    ),
    "container not starting": lambda: _decide(
        JobObj().counts(active=1).build(), [_not_starting(PodObj("p1").on("n").build())]
    ),
    "starting": lambda: _decide(JobObj().counts(active=1).build(), [PodObj("p1").on("n").build()]),
    "running": lambda: _decide(
        JobObj().counts(active=1).build(), [PodObj("p1").on("n").running().build()]
    ),
    "retrying": lambda: _decide(
        JobObj().counts(failed=1).build(), [PodObj("p1").failed(3).build()]
    ),
    "finishing": lambda: _decide(
        JobObj().counts(active=1).build(), [PodObj("p1").on("n").succeeded().build()]
    ),
    "failing": lambda: _decide(JobObj().condition("FailureTarget", "BackoffLimitExceeded").build()),
    "succeeded": lambda: _decide(JobObj().condition("Complete").build()),
    "backoff": lambda: _decide(JobObj().condition("Failed", "BackoffLimitExceeded").build()),
    "deadline": lambda: _decide(JobObj().condition("Failed", "DeadlineExceeded").build()),
    "permanent": lambda: _decide(JobObj().condition("Failed", "PodFailurePolicy").build()),
    "no reason": lambda: _decide(JobObj().condition("Failed").build()),
    "pod refused": lambda: _decide(JobObj().build(), failed_create=FailedCreate(REFUSED_POD, NOW)),
    "pending timeout": lambda: _decide(
        JobObj().counts(active=1).build(),
        [PodObj("p1").unschedulable("0/4").build()],
        pending_timeout=1,
    ),
    "waiting for upstream": lambda: _decide(status={}, gate=_gate("Running")),
    "upstream failed": lambda: _decide(status={}, gate=_gate("Failed")),
    "upstream cancelled": lambda: _decide(status={}, gate=_gate("Cancelled")),
    "upstream cycle": lambda: _decide(
        status={}, gate=_gate(None, "7b9e2c41-5a0f-4e8e-b1d2-6c3f4a5b6d7e")
    ),
}


@pytest.mark.parametrize("case", sorted(DECISIONS))
def test_every_reason_written_to_a_status_is_a_classified_member(case: str) -> None:
    status = DECISIONS[case]().status
    assert isinstance(status["reason"], Reason), status["reason"]
    assert status["reason"] in reasons.STATUS
    for condition in status["conditions"]:
        assert isinstance(condition["reason"], Reason), condition
        assert condition["reason"] in reasons.STATUS | reasons.CONDITION_ONLY


def test_the_cases_above_reach_every_status_reason_but_the_ownership_ones() -> None:
    seen = {DECISIONS[case]().status["reason"] for case in DECISIONS}
    seen.add(classify("Error creating: exceeded quota: q", "ns", "sa").reason)
    seen.add(classify("Error creating: failed calling webhook x", "ns", "sa").reason)
    assert reasons.STATUS - seen == {Reason.UPSTREAM_NOT_FOUND}  # needs a catalog of upstreams


def test_a_job_failure_reason_kubernetes_adds_passes_through_and_counts_as_other() -> None:
    status = _decide(JobObj().condition("Failed", "MaxFailedIndexesExceeded").build()).status
    assert status["reason"] == "MaxFailedIndexesExceeded"
    assert not isinstance(status["reason"], Reason)
    assert labels.failure_reason(status["reason"]) == labels.OTHER
    assert from_kubernetes("Newer", Reason.FAILED) == KubernetesReason("Newer")
    assert from_kubernetes(None, Reason.FAILED) is Reason.FAILED


def test_events_carry_the_status_reason_and_warn_for_warning_reasons() -> None:
    decision = DECISIONS["unschedulable gpu"]()
    [event] = events_for(OmveeJobStatus(), decision)
    assert (event.type, event.reason) == ("Warning", Reason.UNSCHEDULABLE)
    [event] = events_for(OmveeJobStatus(), DECISIONS["running"]())
    assert (event.type, event.reason) == ("Normal", Reason.RUNNING)


def test_refusals_and_ownership_speak_in_members() -> None:
    for refusal in (
        REFUSED_POD,
        classify("Error creating: exceeded quota: q", "ns", "sa"),
        classify_job_refusal(422, "bad"),
        classify_job_refusal(403, "forbidden"),
    ):
        assert isinstance(refusal.reason, Reason) and refusal.reason in reasons.STATUS
    assert refusals.JOB_CREATE_WAITS <= reasons.WAITING


# -- (b) every member is classified; the metrics know every status reason -------------------

GROUPS = {
    "STATUS": reasons.STATUS,
    "CONDITION_ONLY": reasons.CONDITION_ONLY,
    "ATTEMPT_ONLY": reasons.ATTEMPT_ONLY,
    "TIMELINE_ONLY": reasons.TIMELINE_ONLY,
    "KUBERNETES_ONLY": reasons.KUBERNETES_ONLY,
}


@pytest.mark.parametrize("member", list(Reason))
def test_every_member_is_in_exactly_one_place(member: Reason) -> None:
    places = [name for name, group in GROUPS.items() if member in group]
    assert len(places) == 1, f"{member!r} is in {places or 'no group'}: classify it"


@pytest.mark.parametrize("member", sorted(reasons.STATUS))
def test_every_status_reason_is_labelled_by_the_metrics_or_counted_by_phase(
    member: Reason,
) -> None:
    assert (
        member in reasons.WAITING or member in reasons.FAILURE or member in reasons.COUNTED_BY_PHASE
    )
    if member in reasons.WAITING:
        assert labels.waiting_reason(member) == member.value != labels.OTHER
    if member in reasons.FAILURE:
        assert labels.failure_reason(member) == member.value != labels.OTHER
    if member in reasons.COUNTED_BY_PHASE:
        assert member not in reasons.WAITING | reasons.FAILURE


def test_labels_are_plain_strings() -> None:
    assert all(type(r) is str for r in labels.WAITING_REASONS | labels.FAILURE_REASONS)
    assert type(labels.waiting_reason(Reason.UNSCHEDULABLE)) is str


def test_groups_used_elsewhere_hold_members_of_the_right_kind() -> None:
    assert reasons.BLOCKED <= reasons.WAITING
    assert reasons.WARNING <= reasons.STATUS
    assert reasons.GPU_WAITS <= reasons.CONDITION_ONLY


def test_wire_values_are_the_strings_themselves() -> None:
    assert Reason.UNSCHEDULABLE == "Unschedulable" and f"{Reason.FAILED}" == "Failed"
    assert all(m.value[0].isupper() and m.value.isalnum() for m in Reason)  # CamelCase


# -- (c) waiting for a GPU is read from a reason ---------------------------------------------


def _row(status: dict[str, Any]) -> dict[str, Any]:
    ojob = {
        "metadata": {"name": "x", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"type": "transcription", "projectId": "p", "jobId": "j"},
        "status": status,
    }
    return live.job_row(ojob)


def test_waiting_for_a_gpu_comes_from_the_running_condition_reason_not_the_message() -> None:
    gpu = DECISIONS["unschedulable gpu"]().status
    cpu = DECISIONS["unschedulable"]().status
    running = {c["type"]: c["reason"] for c in gpu["conditions"]}["Running"]
    assert (gpu["reason"], running) == (Reason.UNSCHEDULABLE, Reason.WAITING_FOR_GPU_NODE)
    assert _row(gpu)["waiting_for_gpu"] is True
    assert _row(gpu | {"message": "anything at all"})["waiting_for_gpu"] is True
    assert _row(cpu)["waiting_for_gpu"] is False
    assert _row(cpu | {"message": "waiting for a GPU node: 0/4"})["waiting_for_gpu"] is False


def test_cannot_start_comes_from_the_reason() -> None:
    blocked = DECISIONS["pod refused"]().status
    assert blocked["reason"] == Reason.POD_CREATION_REFUSED
    assert _row(blocked | {"phase": "Pending", "message": "x"})["cannot_start"] is True
