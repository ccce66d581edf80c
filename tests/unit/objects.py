"""Fluent builders for the Job and Pod dicts the pure controller code reads (as served)."""

from __future__ import annotations

from typing import Any

T0 = "2026-01-01T00:00:00Z"


class PodObj:
    def __init__(self, name: str, created: str = T0) -> None:
        self.obj: dict[str, Any] = {
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {},
            "status": {"phase": "Pending"},
        }

    def on(self, node: str) -> PodObj:
        self.obj["spec"]["nodeName"] = node
        return self

    def running(self, started: str = T0) -> PodObj:
        self.obj["status"] |= {"phase": "Running", "startTime": started}
        return self

    def succeeded(self) -> PodObj:
        self.obj["status"] |= {
            "phase": "Succeeded",
            "startTime": T0,
            "containerStatuses": [
                {"name": "job", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            ],
        }
        return self

    def failed(self, exit_code: int, reason: str = "Error", message: str = "") -> PodObj:
        terminated: dict[str, object] = {"exitCode": exit_code, "reason": reason}
        if message:
            terminated["message"] = message
        self.obj["status"] |= {
            "phase": "Failed",
            "startTime": T0,
            "containerStatuses": [{"name": "job", "state": {"terminated": terminated}}],
        }
        return self

    def unschedulable(self, message: str) -> PodObj:
        self.obj["status"]["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
            }
        ]
        return self

    def image_pull_error(self, message: str) -> PodObj:
        self.obj["status"]["containerStatuses"] = [
            {"name": "job", "state": {"waiting": {"reason": "ErrImagePull", "message": message}}}
        ]
        return self

    def build(self) -> dict[str, Any]:
        return self.obj


class JobObj:
    def __init__(self, name: str = "x-r0", backoff_limit: int = 2, created: str = T0) -> None:
        self.obj: dict[str, Any] = {
            "metadata": {"name": name, "uid": "job-uid", "creationTimestamp": created},
            "spec": {"backoffLimit": backoff_limit, "activeDeadlineSeconds": 600},
            "status": {},
        }

    def counts(self, **counters: int) -> JobObj:
        self.obj["status"] |= counters
        return self

    def condition(
        self, kind: str, reason: str = "", message: str = "", at: str = "2026-01-01T00:05:00Z"
    ) -> JobObj:
        self.obj["status"].setdefault("conditions", []).append(
            {
                "type": kind,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": at,
            }
        )
        return self

    def build(self) -> dict[str, Any]:
        return self.obj
