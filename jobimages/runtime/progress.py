"""Report progress (0-100 and a short message): into the job's OmveeJob status, or the console.

The Kubernetes reporter patches only ``status.progress``, ``status.progressMessage`` and, at
the end, ``status.result`` of its own OmveeJob (the Role `omvee-job-runner` allows no more), at
most once per ``min_interval`` unless the message changes phase, never lowering progress.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Protocol

from api.v1alpha1 import constants

log = logging.getLogger("jobimages")


class Reporter(Protocol):
    def progress(self, percent: float, message: str) -> None: ...

    def result(self, result: dict[str, Any]) -> None: ...

    def note(self, message: str) -> None:
        """Say something (e.g. why it failed) without moving progress."""


class ConsoleReporter:
    def __init__(self) -> None:
        self.last = -1

    def progress(self, percent: float, message: str) -> None:
        value = int(percent)
        if value != self.last:
            self.last = value
            sys.stderr.write(f"[{value:3d}%] {message}\n")

    def result(self, result: dict[str, Any]) -> None:
        sys.stderr.write(f"[done] {result}\n")

    def note(self, message: str) -> None:
        sys.stderr.write(message + "\n")


class KubeReporter:
    def __init__(self, name: str, namespace: str, min_interval: float = 1.0) -> None:
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        self.api = client.CustomObjectsApi()
        self.name, self.namespace = name, namespace
        self.min_interval = min_interval
        self.sent = -1
        self.sent_at = 0.0

    def _patch(self, status: dict[str, Any]) -> None:
        try:
            self.api.patch_namespaced_custom_object_status(
                constants.GROUP,
                constants.VERSION,
                self.namespace,
                constants.PLURAL,
                self.name,
                {"status": status},
                _request_timeout=(3, 10),
            )
        except Exception as error:  # progress is best effort; the work goes on
            log.warning(
                "Could not report progress to OmveeJob %s/%s: %s", self.namespace, self.name, error
            )

    def progress(self, percent: float, message: str) -> None:
        value = max(0, min(100, int(percent)))
        now = time.monotonic()
        if value <= self.sent or (now - self.sent_at < self.min_interval and value < 100):
            return
        self.sent, self.sent_at = value, now
        self._patch({"progress": value, "progressMessage": message[:256]})

    def result(self, result: dict[str, Any]) -> None:
        self._patch({"result": result})

    def note(self, message: str) -> None:
        sys.stderr.write(message + "\n")
        self._patch({"progressMessage": message[:256]})
