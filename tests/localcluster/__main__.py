"""Command line of the local control plane: ``python -m tests.localcluster up|down|status|...``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.localcluster.binaries import BuildError, ensure_binaries, ensure_tool
from tests.localcluster.cluster import ClusterError, LocalCluster
from tests.localcluster.nodehost import NodeError
from tests.localcluster.processes import ProcessError
from tests.waiting import WaitTimeout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.localcluster", description="The local Kubernetes control plane."
    )
    parser.add_argument(
        "command",
        choices=[
            "build",
            "up",
            "down",
            "status",
            "kubeconfig",
            "helm",
            "kind",
            "import-image",
            "images",
        ],
        help="build: only build the binaries; up: build if needed and start; "
        "down: stop what `up` started; status: show what runs; "
        "kubeconfig: print the admin kubeconfig's path; "
        "helm, kind: print that tool's path, building it from its Go module if needed; "
        "import-image PATH...: import docker-archive/OCI tarballs into the real node's containerd; "
        "images [NAME...]: build (or reuse) the container image archives with buildah",
    )
    parser.add_argument("paths", nargs="*", type=Path, help="import-image: the archives")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["images"]:
        from tests.localcluster.images import main as images_main

        return images_main(argv[1:])
    args = parser.parse_args(argv)
    cluster = LocalCluster.default()
    try:
        if args.command in ("helm", "kind"):
            print(ensure_tool(args.command))
        elif args.command == "build":
            for name, path in ensure_binaries().items():
                print(f"{name}: {path}")
        elif args.command == "import-image":
            if not args.paths:
                parser.error("import-image needs at least one archive path")
            for path in args.paths:
                cluster.import_image(path)
        elif args.command == "up":
            cluster.up()
            print(
                f"Local cluster is up: {cluster.server}\n"
                f"  kubeconfig: {cluster.layout.kubeconfig}\n"
                f"  try:        kubectl --kubeconfig {cluster.layout.kubeconfig} get nodes\n"
                f"  or:         export KUBECONFIG={cluster.layout.kubeconfig}\n"
                f"  stop it:    make cluster-down"
            )
            if node := cluster.node:
                print(
                    f"  real node:  {node.name} ({node.pool_label[0]}={node.pool_label[1]}), "
                    f"IP {node.ip} (pods reach the host there), pod CIDR {node.pod_cidr}"
                )
            else:
                print("  real node:  off (OMVEE_REAL_NODE=0): kwok's fake nodes only")
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
    except (BuildError, ClusterError, ProcessError, WaitTimeout, NodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
