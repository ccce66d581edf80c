"""The launcher signals only processes it started, and reports a crash with its log."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcluster.processes import ProcessError, ProcessTable
from tests.waiting import wait_for

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(SLEEP)
    yield process
    process.kill()
    process.wait()


def test_stop_ends_the_process_it_started(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path)
    managed = table.start("sleeper", SLEEP)
    assert table.alive("sleeper") == managed
    assert table.stop("sleeper") is True
    assert table.alive("sleeper") is None
    assert not table.pidfile("sleeper").exists()


def test_a_recycled_pid_is_never_signalled(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    table = ProcessTable(tmp_path)
    # A stale pidfile whose pid now belongs to another program (different start time).
    table.pidfile("etcd").write_text(f"{stranger.pid} 1 /usr/bin/etcd\n")
    assert table.alive("etcd") is None
    assert table.stop("etcd") is False
    assert stranger.poll() is None  # still running
    assert not table.pidfile("etcd").exists()


def test_a_crash_is_reported_with_the_log_tail(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path)
    table.start(
        "broken",
        [
            sys.executable,
            "-c",
            "import sys; print('listen tcp 127.0.0.1:1: bind: denied'); sys.exit(3)",
        ],
    )
    with pytest.raises(ProcessError) as raised:
        wait_for(lambda: False, "never", 10, lambda: table.check_running("broken"))
    assert "broken exited during start-up" in str(raised.value)
    assert "bind: denied" in str(raised.value)


def test_a_process_that_ignores_sigterm_is_killed_and_gone_when_stop_returns(
    tmp_path: Path,
) -> None:
    table = ProcessTable(tmp_path)
    stubborn = [
        sys.executable,
        "-c",
        "import signal, socket, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); time.sleep(60)",
    ]
    table.start("stubborn", stubborn)
    wait_for(lambda: table.alive("stubborn"), "the process to start", 10)
    assert table.stop("stubborn", timeout=0.5) is True
    assert table.alive("stubborn") is None  # gone, so its ports are free for the next `up`
