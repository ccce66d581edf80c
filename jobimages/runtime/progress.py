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
    """Where a job's progress and result go (its OmveeJob's status, or the console); a report never
    raises."""

    def progress(self, percent: float, message: str) -> None:
        """Report ``percent`` (0-100) done, with a short message."""

    def result(self, result: dict[str, Any]) -> None:
        """Report the finished job's result document (``status.result``)."""

    def note(self, message: str) -> None:
        """Say something (e.g. why it failed) without moving progress."""


class ConsoleReporter:
    """Reports on stderr, one line per whole percent that changes."""

    def __init__(self) -> None:
        self.last = -1

    def progress(self, percent: float, message: str) -> None:
        """``[ NN%] message`` on stderr when the whole percent changed."""
        value = int(percent)
        if value != self.last:
            self.last = value
            sys.stderr.write(f"[{value:3d}%] {message}\n")

    def result(self, result: dict[str, Any]) -> None:
        """``[done] <result>`` on stderr."""
        sys.stderr.write(f"[done] {result}\n")

    def note(self, message: str) -> None:
        """``message`` on stderr."""
        sys.stderr.write(message + "\n")


class ProgressThrottle:
    """Which progress reports go out: only rising values, at most one per ``min_interval``
    seconds, except that a new phase (the message's first word: downloading, loading,
    transcribed ...) and 100 always go. Pure; ``now`` is any monotonic clock in seconds."""

    def __init__(self, min_interval: float = 1.0) -> None:
        self.min_interval = min_interval
        self.sent = -1
        self.sent_at = 0.0
        self.phase = ""

    def admit(self, value: int, message: str, now: float) -> bool:
        """Whether the report (``value`` 0-100, ``message``) at ``now`` (seconds) goes out; one that
        does is recorded as sent."""
        phase = message.split(" ", 1)[0]
        if value <= self.sent:
            return False
        if now - self.sent_at < self.min_interval and value < 100 and phase == self.phase:
            return False
        self.sent, self.sent_at, self.phase = value, now, phase
        return True


# How long a result waits for its run to be recorded: an operator restarting over thousands of
# jobs records them all within its first pass (seconds); a minute leaves a wide margin.
RESULT_WAIT_SECONDS = 60.0


class KubeReporter:
    """Reports into the status of OmveeJob ``namespace``/``name`` while it is on this pod's ``run``,
    progress at most once per ``min_interval`` seconds; best effort: API errors are logged, never
    raised. ``KubeConfigError`` at construction without usable credentials."""

    def __init__(self, name: str, namespace: str, run: int = 0, min_interval: float = 1.0) -> None:
        from kubernetes import client

        from api.kubeclient import kube_client

        # The client would send a list as a merge patch; this one only ever sends JSON patches.
        api = kube_client()
        api.set_default_header("Content-Type", "application/json-patch+json")
        self.api = client.CustomObjectsApi(api)
        self.name, self.namespace, self.run = name, namespace, run
        self.throttle = ProgressThrottle(min_interval)
        self.superseded = False

    def _patch(self, status: dict[str, Any], wait_for_run: float = 0.0) -> None:
        """A JSON patch that applies only while the OmveeJob is on this pod's run, so a pod of
        a cancelled or timed-out run never writes into the next one. When the run is not yet
        recorded (the operator records it right after creating the Job, or on its restart;
        meanwhile the status may still name the run before), the report is skipped, or
        retried for up to ``wait_for_run`` seconds (the result)."""
        if self.superseded:
            return
        operations = [{"op": "test", "path": "/status/run", "value": self.run}] + [
            {"op": "add", "path": f"/status/{key}", "value": value} for key, value in status.items()
        ]
        deadline = time.monotonic() + wait_for_run
        pause = 0.5  # doubling to 8 s while the run is not recorded
        while True:
            try:
                self.api.patch_namespaced_custom_object_status(
                    constants.GROUP,
                    constants.VERSION,
                    self.namespace,
                    constants.PLURAL,
                    self.name,
                    operations,
                    _request_timeout=(3, 10),
                )
                return
            except Exception as caught:  # progress is best effort; the work goes on
                error = caught
                if getattr(error, "status", None) != 422:
                    log.warning(
                        "Could not report progress to OmveeJob %s/%s: %s",
                        self.namespace,
                        self.name,
                        error,
                    )
                    return
            recorded = self._recorded_run()
            if recorded == self.run:  # the run is ours: the API server refused the report itself
                log.warning(
                    "OmveeJob %s/%s refused the report %s: %s",
                    self.namespace,
                    self.name,
                    ", ".join(status),
                    error,
                )
                return
            if recorded is not None and recorded > self.run:
                self.superseded = True
                log.warning(
                    "OmveeJob %s/%s is no longer on run %d; no more reports",
                    self.namespace,
                    self.name,
                    self.run,
                )
                return
            if time.monotonic() >= deadline:
                if wait_for_run:
                    log.warning(
                        "OmveeJob %s/%s has not recorded run %d after %.0fs; report %s lost",
                        self.namespace,
                        self.name,
                        self.run,
                        wait_for_run,
                        ", ".join(status),
                    )
                return  # the run is not recorded yet: the next report may go
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))  # backoff
            pause = min(pause * 2, 8.0)

    def _recorded_run(self) -> int | None:
        """The run the OmveeJob's status records (a run before this pod's: this one is not
        recorded yet), None when none yet or unreadable."""
        try:
            ojob = self.api.get_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                self.namespace,
                constants.PLURAL,
                self.name,
                _request_timeout=(3, 10),
            )
        except Exception:  # unreadable: count it as not yet recorded
            return None
        run = (ojob.get("status") or {}).get("run")
        return run if isinstance(run, int) else None

    def progress(self, percent: float, message: str) -> None:
        """Set ``status.progress`` (a whole number, clamped to 0-100) and ``progressMessage`` (its
        first 256 characters) when the throttle admits the report."""
        value = max(0, min(100, int(percent)))
        if self.throttle.admit(value, message, time.monotonic()):
            self._patch({"progress": value, "progressMessage": message[:256]})

    def result(self, result: dict[str, Any]) -> None:
        """Set ``status.result``, waiting up to ``RESULT_WAIT_SECONDS`` (60 s) for this run to be
        recorded."""
        self._patch({"result": result}, wait_for_run=RESULT_WAIT_SECONDS)

    def note(self, message: str) -> None:
        """``message`` on stderr and as ``status.progressMessage`` (its first 256 characters);
        progress stays."""
        sys.stderr.write(message + "\n")
        self._patch({"progressMessage": message[:256]})
