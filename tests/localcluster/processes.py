"""Start, find and stop the launcher's own background processes through pidfiles.

A pidfile holds the pid, the process's start time (from /proc) and the binary, so a recycled pid
that now belongs to some other program is never mistaken for ours and never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.waiting import WaitTimeout, wait_for


class ProcessError(RuntimeError):
    """A component could not be started or died; the message carries its log tail."""


@dataclass(frozen=True)
class Managed:
    name: str
    pid: int
    start_time: str
    binary: str


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counted after the parenthesised command name, which may hold spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited; only its parent has not reaped it
        return None
    return fields[19]


def log_tail(log: Path, lines: int = 25) -> str:
    try:
        content = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(content[-lines:]) or "(log is empty)"


class ProcessTable:
    """The processes of one launcher state directory: ``<dir>/<name>.pid`` and ``<name>.log``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def pidfile(self, name: str) -> Path:
        return self.directory / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def start(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Managed:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.log(name), "ab") as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        start_time = _start_time(process.pid) or ""
        managed = Managed(name, process.pid, start_time, argv[0])
        self.pidfile(name).write_text(f"{process.pid} {start_time} {argv[0]}\n")
        return managed

    def read(self, name: str) -> Managed | None:
        try:
            pid, start_time, binary = self.pidfile(name).read_text().split(maxsplit=2)
        except (OSError, ValueError):
            return None
        return Managed(name, int(pid), start_time, binary.strip())

    def alive(self, name: str) -> Managed | None:
        """The named process if it is still ours and running, else None."""
        managed = self.read(name)
        if managed and _start_time(managed.pid) == managed.start_time:
            return managed
        return None

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.pid"))

    def check_running(self, name: str) -> None:
        if not self.alive(name):
            raise ProcessError(
                f"{name} exited during start-up. Last lines of {self.log(name)}:\n"
                + log_tail(self.log(name))
            )

    def stop(self, name: str, timeout: float = 15.0) -> bool:
        """Stop one process (SIGTERM, then SIGKILL) and remove its pidfile; True if it ran."""
        managed = self.alive(name)
        if managed:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(managed.pid, signal.SIGTERM)
            with contextlib.suppress(WaitTimeout):
                wait_for(lambda: self.alive(name) is None, f"{name} to exit", timeout)
            if self.alive(name):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(managed.pid, signal.SIGKILL)
                # SIGKILL is delivered asynchronously: until the process is gone its ports are
                # still bound, and an `up` right after would find them in use.
                with contextlib.suppress(WaitTimeout):
                    wait_for(lambda: self.alive(name) is None, f"{name} to die", 10)
        self.pidfile(name).unlink(missing_ok=True)
        return managed is not None
