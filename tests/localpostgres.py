"""A private PostgreSQL server from the machine's binaries, standing in for Supabase's database.

``initdb`` into ``<shared>/postgres/data`` and a postmaster on 127.0.0.1:<OMVEE_PG_PORT> (26432
by default), trust auth for the ``postgres`` superuser, durability off for speed. Postgres refuses
to run as root, so under root the server runs as the ``postgres`` system user; ``<shared>`` is
therefore a folder other users can enter: ``<repo>/.run``, or ``/tmp/omvee-<hash>`` when the
checkout is private (see ``tests.localcluster.layout.shared_state_root``).

Run: ``python -m tests.localpostgres up|down|status|url``.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.localcluster.layout import (
    SharedRoot,
    StateError,
    ensure_shared_root,
    prune_shared_root,
    shared_state_root,
)

DEFAULT_PORT = 26432


class PostgresError(RuntimeError):
    """The server could not be set up or started; the message says why."""


def find_bindir() -> Path:
    if explicit := os.environ.get("OMVEE_PG_BIN"):
        return Path(explicit)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    if initdb := shutil.which("initdb"):
        return Path(initdb).parent
    raise PostgresError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them "
        "(Debian: apt-get install postgresql) or point OMVEE_PG_BIN at their folder."
    )


@dataclass(frozen=True)
class LocalPostgres:
    root: Path
    port: int
    bindir: Path

    # Where root is and why (None when made by hand, as tests do): printed, and checked by
    # ``up`` and cleaned by ``down``.
    shared: SharedRoot | None = None

    @classmethod
    def default(cls) -> LocalPostgres:
        try:
            shared = shared_state_root()
        except StateError as error:
            raise PostgresError(str(error)) from None
        return cls(
            shared.path / "postgres",
            int(os.environ.get("OMVEE_PG_PORT", DEFAULT_PORT)),
            find_bindir(),
            shared,
        )

    @property
    def place(self) -> str:
        """Where the data is, and why there, for messages."""
        return str(self.root) if self.shared is None else f"{self.root}, {self.shared.why}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True)
        if check and result.returncode != 0:
            tail = "\n".join((result.stderr + result.stdout).strip().splitlines()[-20:])
            raise PostgresError(f"{args[0]} failed (data in {self.place}):\n{tail}")
        return result

    def running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        return self._run(["pg_ctl", "status", "-D", str(self.data)], check=False).returncode == 0

    def _prepare_root(self) -> None:
        if self.shared is not None:
            try:
                ensure_shared_root()
            except StateError as error:
                raise PostgresError(str(error)) from None
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        owner = pwd.getpwnam("postgres")
        os.chown(self.root, owner.pw_uid, owner.pw_gid)
        for parent in self.root.resolve().parents:
            if not parent.stat().st_mode & 0o001:
                hint = "Set OMVEE_STATE_DIR to a folder other users can enter" + (
                    ", or unset it to let the launcher choose one."
                    if self.shared is not None and self.shared.kind == "explicit"
                    else "."
                )
                raise PostgresError(
                    f"{parent} is not searchable by other users, so the postgres user cannot "
                    f"reach its data in {self.place}. {hint}"
                )

    def up(self) -> None:
        if self.running():
            print(
                f"[postgres] already up, reusing it: {self.url} (data in {self.place})",
                file=sys.stderr,
            )
            return
        self._prepare_root()
        if not (self.data / "PG_VERSION").exists():
            shutil.rmtree(self.data, ignore_errors=True)
            self._run(
                [
                    "initdb",
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        try:
            self._run(
                [
                    "pg_ctl",
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-o",
                    options,
                ]
            )
        except PostgresError as error:
            log = (
                self.log.read_text(errors="replace").splitlines()[-15:] if self.log.exists() else []
            )
            raise PostgresError(f"{error}\nLast lines of {self.log}:\n" + "\n".join(log)) from None
        print(f"[postgres] up: {self.url} (data in {self.place})", file=sys.stderr)

    def down(self, remove_data: bool = True) -> bool:
        was_running = self.running()
        if was_running:
            self._run(["pg_ctl", "stop", "-m", "fast", "-w", "-D", str(self.data)])
        if remove_data:
            shutil.rmtree(self.root, ignore_errors=True)
            if self.shared is not None:
                prune_shared_root(self.shared)
        return was_running


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.localpostgres")
    parser.add_argument("command", choices=["up", "down", "status", "url"])
    args = parser.parse_args(argv)
    try:
        server = LocalPostgres.default()
        if args.command == "up":
            server.up()
        elif args.command == "down":
            stopped = server.down()
            print(f"[postgres] {'stopped' if stopped else 'was not running'}", file=sys.stderr)
        elif args.command == "status":
            running = server.running()
            print(
                f"postgres {'running' if running else 'stopped'} ({server.url}; "
                f"data in {server.place})"
            )
            return 0 if running else 1
        else:
            print(server.url)
    except PostgresError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
