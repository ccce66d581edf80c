"""Command line of the local control plane: ``python -m tests.localcluster up|down|status|...``."""

from __future__ import annotations

import argparse
import sys

from tests.localcluster.binaries import BuildError, ensure_binaries, ensure_tool
from tests.localcluster.cluster import ClusterError, LocalCluster
from tests.localcluster.processes import ProcessError
from tests.waiting import WaitTimeout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.localcluster", description="The local Kubernetes control plane."
    )
    parser.add_argument(
        "command",
        choices=["build", "up", "down", "status", "kubeconfig", "helm", "kind"],
        help="build: only build the binaries; up: build if needed and start; "
        "down: stop what `up` started; status: show what runs; "
        "kubeconfig: print the admin kubeconfig's path; "
        "helm, kind: print that tool's path, building it from its Go module if needed",
    )
    args = parser.parse_args(argv)
    cluster = LocalCluster.default()
    try:
        if args.command in ("helm", "kind"):
            print(ensure_tool(args.command))
        elif args.command == "build":
            for name, path in ensure_binaries().items():
                print(f"{name}: {path}")
        elif args.command == "up":
            cluster.up()
            print(
                f"Local cluster is up: {cluster.server}\n"
                f"  kubeconfig: {cluster.layout.kubeconfig}\n"
                f"  try:        kubectl --kubeconfig {cluster.layout.kubeconfig} get nodes\n"
                f"  or:         export KUBECONFIG={cluster.layout.kubeconfig}\n"
                f"  stop it:    make cluster-down"
            )
        elif args.command == "down":
            cluster.down()
        elif args.command == "status":
            for name, running in cluster.status().items():
                print(f"{name:<24} {'running' if running else 'stopped'}")
            ready = cluster.apiserver_ready()
            print(f"{'apiserver /readyz':<24} {'ok' if ready else 'not ready'}")
            return 0 if cluster.is_up() else 1
        else:
            print(cluster.layout.kubeconfig)
    except (BuildError, ClusterError, ProcessError, WaitTimeout) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
