"""A checkout in a folder other users cannot enter (mode 0700, as ``mktemp -d`` makes, or under
/root), to run the launchers' command lines from: a copy of the ``tests`` package's launchers,
run with this interpreter, so it is the working tree's code that is tried."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.localcluster.layout import REPO_ROOT


def make_private_checkout(tmp: Path) -> Path:
    """``<tmp>/private/omvee`` with ``private`` mode 0700; returns the checkout's resolved path."""
    private = tmp / "private"
    private.mkdir()
    private.chmod(0o700)
    checkout = private / "omvee"
    shutil.copytree(
        REPO_ROOT / "tests",
        checkout / "tests",
        ignore=shutil.ignore_patterns("__pycache__", "unit", "integration", "bench"),
    )
    return checkout.resolve()


def run_from(checkout: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """``python <args>`` from the checkout, with no OMVEE_STATE_DIR: the launcher chooses."""
    environment = {k: v for k, v in os.environ.items() if k != "OMVEE_STATE_DIR"}
    environment.update(env, PYTHONPATH=str(checkout))
    return subprocess.run(
        [sys.executable, *args],
        cwd=checkout,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
