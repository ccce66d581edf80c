"""kwok stages for the local control plane: how fake nodes and pods behave.

kwok v0.8.0 ships no built-in stages, so every transition is spelled out here and written to
the kwok config file at cluster start. Pods are steered by annotations on the pod (put them on a
Job's pod template); all are optional:

- ``kwok.omvee.io/start-delay``: Go duration, Pending -> Running (default 500ms)
- ``kwok.omvee.io/run-duration``: Go duration, Running -> Succeeded/Failed (default 1s)
- ``kwok.omvee.io/exit-code``: every attempt fails with this exit code
- ``kwok.omvee.io/fail-attempts``: only the first N attempts fail (with ``exit-code``, default 1);
  the launcher's ``fates`` process labels each attempt ``kwok.omvee.io/fate=fail|succeed``
- ``kwok.omvee.io/image-pull-error``: the pod stays Pending with ``ErrImagePull``

When several stages match an object kwok picks one at random by weight, so the success and
failure stages are made mutually exclusive by their selectors.
"""

from __future__ import annotations

from typing import Any

import yaml

PREFIX = "kwok.omvee.io"
START_DELAY = f"{PREFIX}/start-delay"
RUN_DURATION = f"{PREFIX}/run-duration"
EXIT_CODE = f"{PREFIX}/exit-code"
FAIL_ATTEMPTS = f"{PREFIX}/fail-attempts"
IMAGE_PULL_ERROR = f"{PREFIX}/image-pull-error"
FATE = f"{PREFIX}/fate"

DEFAULT_START_DELAY_MS = 500
DEFAULT_RUN_DURATION_MS = 1000
# What a kubelet reports for a container stopped by SIGTERM.
TERMINATED_EXIT_CODE = 143
# Pod IPs kwok hands out; a /16 so thousands of finished pods never exhaust it.
POD_CIDR = "10.244.0.0/16"

Stage = dict[str, Any]

_NODE_CONDITIONS = """\
conditions:
{{ range NodeConditions }}
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $lastTransitionTime | Quote }}
  message: {{ .message | Quote }}
  reason: {{ .reason | Quote }}
  status: {{ .status | Quote }}
  type: {{ .type | Quote }}
{{ end }}
"""

_NODE_INITIALIZE = (
    """\
{{ $now := Now }}
{{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
"""
    + _NODE_CONDITIONS
    + """\
addresses:
{{ with NodeIP }}
- address: {{ . | Quote }}
  type: InternalIP
{{ end }}
{{ with NodeName }}
- address: {{ . | Quote }}
  type: Hostname
{{ end }}
{{ with NodePort }}
daemonEndpoints:
  kubeletEndpoint:
    Port: {{ . }}
{{ end }}
allocatable:
{{ YAML .status.allocatable 1 }}
capacity:
{{ YAML .status.capacity 1 }}
nodeInfo:
  architecture: amd64
  bootID: ""
  containerRuntimeVersion: {{ printf "kwok-%s" Version }}
  kernelVersion: {{ printf "kwok-%s" Version }}
  kubeProxyVersion: {{ printf "kwok-%s" Version }}
  kubeletVersion: {{ printf "kwok-%s" Version }}
  machineID: ""
  operatingSystem: linux
  osImage: ""
  systemUUID: ""
phase: Running
"""
)

_NODE_HEARTBEAT = (
    """\
{{ $now := Now }}
{{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
"""
    + _NODE_CONDITIONS
)

_POD_IMAGE_PULL_ERROR = """\
{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    waiting:
      reason: ErrImagePull
      message: {{ printf "failed to pull and unpack image %q: not found" .image | Quote }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
phase: Pending
startTime: {{ $now | Quote }}
"""

_POD_READY = """\
{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) \
( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
phase: Running
startTime: {{ $now | Quote }}
"""


def _pod_terminated(exit_code: str, reason: str, phase: str, ready_reason: str | None) -> str:
    """Status of a pod whose containers all ended with ``exit_code`` (a template expression)."""
    conditions = ""
    if ready_reason:
        conditions = f"""\
conditions:
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "False"
  reason: {ready_reason}
  type: Ready
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "False"
  reason: {ready_reason}
  type: ContainersReady
"""
    return f"""\
{{{{ $now := Now }}}}
{{{{ $started := or .status.startTime $now }}}}
{{{{ $annotations := or .metadata.annotations dict }}}}
{conditions}containerStatuses:
{{{{ range .spec.containers }}}}
- image: {{{{ .image | Quote }}}}
  name: {{{{ .name | Quote }}}}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: {exit_code}
      finishedAt: {{{{ $now | Quote }}}}
      reason: {reason}
      startedAt: {{{{ $started | Quote }}}}
{{{{ end }}}}
phase: {phase}
"""


_POD_SUCCEED = _pod_terminated("0", "Completed", "Succeeded", "PodCompleted")
_POD_FAIL = _pod_terminated(
    f'{{{{ or ( index $annotations "{EXIT_CODE}" ) "1" }}}}', "Error", "Failed", "PodFailed"
)
# Conditions are left alone: an evicted pod keeps the DisruptionTarget condition the API server
# gave it, which a Job's podFailurePolicy matches on.
_POD_TERMINATE = _pod_terminated(str(TERMINATED_EXIT_CODE), "Error", "Failed", None)


def _expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    expression: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        expression["values"] = list(values)
    return expression


def _annotation(name: str) -> str:
    return f'.metadata.annotations["{name}"]'


def _label(name: str) -> str:
    return f'.metadata.labels["{name}"]'


_NOT_DELETED = _expr(".metadata.deletionTimestamp", "DoesNotExist")
_DELETED = _expr(".metadata.deletionTimestamp", "Exists")
_READY = '.status.conditions.[] | select( .type == "Ready" ) | .status'


def _phase(*phases: str) -> dict[str, Any]:
    return _expr(".status.phase", "In", *phases)


def _delay(default_ms: int, annotation: str) -> dict[str, Any]:
    return {
        "durationMilliseconds": default_ms,
        "durationFrom": {"expressionFrom": _annotation(annotation)},
    }


def _stage(
    name: str,
    kind: str,
    expressions: list[dict[str, Any]],
    next_: dict[str, Any],
    delay: dict[str, Any] | None = None,
) -> Stage:
    spec: dict[str, Any] = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": expressions},
        "next": next_,
    }
    if delay:
        spec["delay"] = delay
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": spec,
    }


def build_stages() -> list[Stage]:
    """Every node and pod stage the local control plane runs with."""
    run_delay = _delay(DEFAULT_RUN_DURATION_MS, RUN_DURATION)
    running = [_NOT_DELETED, _phase("Running")]
    return [
        _stage(
            "node-initialize",
            "Node",
            [_expr(_READY, "NotIn", "True")],
            {"statusTemplate": _NODE_INITIALIZE},
        ),
        _stage(
            "node-heartbeat",
            "Node",
            [_phase("Running"), _expr(_READY, "In", "True")],
            {"statusTemplate": _NODE_HEARTBEAT},
            # Node leases carry the liveness signal; this refreshes conditions now and then.
            {"durationMilliseconds": 20000, "jitterDurationMilliseconds": 25000},
        ),
        _stage(
            "pod-image-pull-error",
            "Pod",
            [
                _NOT_DELETED,
                _phase("Pending"),
                _expr(_annotation(IMAGE_PULL_ERROR), "Exists"),
                _expr(".status.containerStatuses.[].state.waiting.reason", "DoesNotExist"),
            ],
            {"statusTemplate": _POD_IMAGE_PULL_ERROR},
            {"durationMilliseconds": DEFAULT_START_DELAY_MS},
        ),
        _stage(
            "pod-ready",
            "Pod",
            [
                _NOT_DELETED,
                _phase("Pending"),
                _expr(_READY, "NotIn", "True"),
                _expr(_annotation(IMAGE_PULL_ERROR), "DoesNotExist"),
            ],
            {"statusTemplate": _POD_READY},
            _delay(DEFAULT_START_DELAY_MS, START_DELAY),
        ),
        _stage(
            "pod-complete",
            "Pod",
            [
                *running,
                _expr(_annotation(EXIT_CODE), "DoesNotExist"),
                _expr(_annotation(FAIL_ATTEMPTS), "DoesNotExist"),
            ],
            {"statusTemplate": _POD_SUCCEED},
            run_delay,
        ),
        _stage(
            "pod-fail",
            "Pod",
            [
                *running,
                _expr(_annotation(EXIT_CODE), "Exists"),
                _expr(_annotation(FAIL_ATTEMPTS), "DoesNotExist"),
            ],
            {"statusTemplate": _POD_FAIL},
            run_delay,
        ),
        _stage(
            "pod-fate-succeed",
            "Pod",
            [*running, _expr(_label(FATE), "In", "succeed")],
            {"statusTemplate": _POD_SUCCEED},
            run_delay,
        ),
        _stage(
            "pod-fate-fail",
            "Pod",
            [*running, _expr(_label(FATE), "In", "fail")],
            {"statusTemplate": _POD_FAIL},
            run_delay,
        ),
        # A deleted pod that is still Pending or Running is stopped first, as a kubelet would,
        # so the Job controller and its podFailurePolicy see a terminal pod.
        _stage(
            "pod-terminate",
            "Pod",
            [_DELETED, _phase("Pending", "Running")],
            {"statusTemplate": _POD_TERMINATE},
        ),
        _stage(
            "pod-delete",
            "Pod",
            [_DELETED, _phase("Succeeded", "Failed")],
            {"delete": True},
        ),
    ]


def build_logs(log_file: str) -> dict[str, Any]:
    """Every pod's container log is served from ``log_file`` (kwok runs no containers)."""
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterLogs",
        "metadata": {"name": "all-pods"},
        "spec": {"selector": {}, "logs": [{"logsFile": log_file, "follow": False}]},
    }


def render_config(stages: list[Stage], extra: list[dict[str, Any]] | None = None) -> str:
    """The kwok ``--config`` file: a KwokConfiguration followed by the stages (and extras)."""
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokConfiguration",
            # kwok's defaults are not applied to a configuration read from --config.
            "options": {
                "cidr": POD_CIDR,
                "podPlayStageParallelism": 8,
                "nodePlayStageParallelism": 4,
                "nodeLeaseParallelism": 4,
                "podsOnNodeSyncParallelism": 2,
                "enableDebuggingHandlers": True,  # serves `kubectl logs` (ClusterLogs)
                "enableProfilingHandler": False,
            },
        },
        *stages,
        *(extra or []),
    ]
    return yaml.safe_dump_all(documents, sort_keys=False)
