"""Build the control plane's binaries from upstream Go modules, once, into a cache.

Each component is pinned by a small Go module under ``go/`` (kubernetes, etcd and kwok are kept
apart because their dependency versions conflict). Binaries land in
``<cache>/controlplane/<component>-<version>-<hash>/`` where the hash covers the pinning module,
the Go version and the build flags, so a changed pin rebuilds and an unchanged one is reused. A
build goes to a temporary folder that is renamed into place only when complete.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

GO_DIR = Path(__file__).parent / "go"

K8S_VERSION_FLAGS = (
    "-X k8s.io/component-base/version.gitVersion={version} "
    "-X k8s.io/component-base/version.gitMajor={major} "
    "-X k8s.io/component-base/version.gitMinor={minor}"
)


class BuildError(RuntimeError):
    """A binary could not be built; the message says what failed and how to fix it."""


@dataclass(frozen=True)
class Component:
    name: str
    module: str  # the upstream module whose version names the build
    packages: tuple[str, ...]
    outputs: tuple[str, ...]  # binary names, one per package
    tags: str = ""
    stamp_kubernetes_version: bool = False

    @property
    def module_dir(self) -> Path:
        return GO_DIR / self.name

    def version(self) -> str:
        text = (self.module_dir / "go.mod").read_text()
        match = re.search(rf"^\s*{re.escape(self.module)} (v\S+)", text, re.MULTILINE)
        if not match:
            raise BuildError(f"{self.module_dir}/go.mod does not require {self.module}")
        return match.group(1)

    def ldflags(self) -> str:
        flags = "-s -w"
        if self.stamp_kubernetes_version:
            version = self.version()
            major, minor = version.lstrip("v").split(".")[:2]
            flags += " " + K8S_VERSION_FLAGS.format(version=version, major=major, minor=minor)
        return flags


COMPONENTS = (
    Component(
        "kubernetes",
        "k8s.io/kubernetes",
        (
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kube-controller-manager",
            "k8s.io/kubernetes/cmd/kube-scheduler",
        ),
        ("kube-apiserver", "kube-controller-manager", "kube-scheduler"),
        tags="selinux,notest,grpcnotrace",
        stamp_kubernetes_version=True,
    ),
    Component("etcd", "go.etcd.io/etcd/server/v3", ("go.etcd.io/etcd/server/v3",), ("etcd",)),
    Component("kwok", "sigs.k8s.io/kwok", ("sigs.k8s.io/kwok/cmd/kwok",), ("kwok",)),
)

# The real node's kubelet and kube-proxy: a module of their own (the kubernetes module's requires
# and replaces plus what these two need) so the control plane's cache key does not change. Built
# by ensure_binaries() only when the real node is on (OMVEE_REAL_NODE, default on).
NODE_COMPONENT = Component(
    "kubenode",
    "k8s.io/kubernetes",
    ("k8s.io/kubernetes/cmd/kubelet", "k8s.io/kubernetes/cmd/kube-proxy"),
    ("kubelet", "kube-proxy"),
    tags="selinux,notest,grpcnotrace",
    stamp_kubernetes_version=True,
)

# crictl tears the real node's pods down through CRI on `down` (network teardown included). Its
# own module: cri-tools needs newer grpc/x/* than the kubelet's pins.
CRICTL_COMPONENT = Component(
    "crictl", "sigs.k8s.io/cri-tools", ("sigs.k8s.io/cri-tools/cmd/crictl",), ("crictl",)
)
NODE_COMPONENTS = (NODE_COMPONENT, CRICTL_COMPONENT)


def real_node_enabled() -> bool:
    """Whether `up` runs the real node (kubelet + containerd): OMVEE_REAL_NODE, default 1."""
    return os.environ.get("OMVEE_REAL_NODE", "1").strip().lower() not in ("0", "false", "no", "")


# Tools beside the control plane (helm for the chart tests, kind for `make kind-up`); built on
# first use, not by `cluster up`.
TOOLS = (
    Component("helm", "helm.sh/helm/v3", ("helm.sh/helm/v3/cmd/helm",), ("helm",)),
    Component("kind", "sigs.k8s.io/kind", ("sigs.k8s.io/kind",), ("kind",)),
)


def cache_root() -> Path:
    if explicit := os.environ.get("OMVEE_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "omvee"


def _go() -> str:
    go = shutil.which("go")
    if not go:
        raise BuildError(
            "Go is not installed or not on PATH. The local control plane is built from upstream "
            "Go modules; install Go 1.24 or newer (https://go.dev/dl/) and run this again."
        )
    return go


def _go_version(go: str) -> str:
    return subprocess.run(
        [go, "env", "GOVERSION"], check=True, capture_output=True, text=True
    ).stdout.strip()


def build_dir(component: Component, go_version: str) -> Path:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((component.module_dir / name).read_bytes())
    digest.update(f"{go_version}|{component.tags}|{component.ldflags()}".encode())
    key = f"{component.name}-{component.version()}-{digest.hexdigest()[:12]}"
    return cache_root() / "controlplane" / key


def _log(message: str) -> None:
    print(f"[controlplane] {message}", file=sys.stderr, flush=True)


def _go_env() -> dict[str, str]:
    return {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}


def _run_go(args: list[str], component: Component, what: str) -> str:
    result = subprocess.run(
        args, cwd=component.module_dir, env=_go_env(), capture_output=True, text=True
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-30:])
        proxy = os.environ.get("GOPROXY", "the default GOPROXY")
        raise BuildError(f"{what} failed for {component.name} (via {proxy}):\n{tail}")
    return result.stdout


def _build(component: Component, go: str, target: Path) -> None:
    version = component.version()
    label = f"{component.name} {version}"
    _log(f"{label}: downloading modules")
    _run_go([go, "mod", "download"], component, "go mod download")
    listed = _run_go(
        [go, "list", "-deps", "-tags", component.tags, *component.packages], component, "go list"
    )
    total = max(1, len(listed.splitlines()))
    _log(f"{label}: compiling up to {total} packages (a cold build takes minutes)")

    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    args = [go, "build", "-v", "-trimpath", "-ldflags", component.ldflags(), "-o", f"{staging}/"]
    if component.tags:
        args += ["-tags", component.tags]
    if len(component.packages) == 1:
        args[args.index("-o") + 1] = str(staging / component.outputs[0])
    args += list(component.packages)

    started = time.monotonic()
    last_report = started
    tail: deque[str] = deque(maxlen=30)
    process = subprocess.Popen(
        args,
        cwd=component.module_dir,
        env=_go_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for compiled, line in enumerate(process.stdout, start=1):
        tail.append(line.rstrip())
        now = time.monotonic()
        if now - last_report >= 10:
            last_report = now
            percent = min(99, 100 * compiled // total)
            _log(f"{label}: {compiled}/{total} packages ({percent}%), {now - started:.0f}s")
    if process.wait() != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BuildError(f"go build failed for {component.name}:\n" + "\n".join(tail))
    missing = [name for name in component.outputs if not (staging / name).is_file()]
    if missing:
        raise BuildError(f"go build for {component.name} produced no {', '.join(missing)}")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    _log(f"{label}: built in {time.monotonic() - started:.0f}s -> {target}")


def ensure_binaries(real_node: bool | None = None) -> dict[str, Path]:
    """Paths of every control-plane binary by name, building whatever the cache lacks; with the
    real node (``real_node``, default from OMVEE_REAL_NODE) also kubelet and kube-proxy."""
    go = _go()
    go_version = _go_version(go)
    paths: dict[str, Path] = {}
    if real_node is None:
        real_node = real_node_enabled()
    components = (*COMPONENTS, *NODE_COMPONENTS) if real_node else COMPONENTS
    for component in components:
        target = build_dir(component, go_version)
        if not all((target / name).is_file() for name in component.outputs):
            _build(component, go, target)
        for name in component.outputs:
            paths[name] = target / name
    return paths


def ensure_tool(name: str) -> Path:
    """Path of one of TOOLS' binaries (helm), building it into the cache if it is missing."""
    go = _go()
    component = next(c for c in TOOLS if name in c.outputs)
    target = build_dir(component, _go_version(go))
    if not (target / name).is_file():
        _build(component, go, target)
    return target / name
