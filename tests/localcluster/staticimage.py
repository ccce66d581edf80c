"""One-layer container images of one static C program, as docker-archive tarballs, without Docker.

The pause image (``pause.c`` from the kubernetes module in the Go module cache) and the tests'
probe image are built with ``gcc -Os -static`` and packed with tarfile + json into
``<cache>/node/<name>-<hash>.tar``, which ``ctr images import`` accepts. The hash covers the
source and the image name, so a changed program rebuilds and an unchanged one is reused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from tests.localcluster.binaries import BuildError, cache_root

# A fixed time for every entry, so the same program gives the same archive.
EPOCH = 1_700_000_000

PROBE_IMAGE = "omvee.local/probe:1"
# The tests' probe: `probe echo TEXT...`, `probe exit N`, `probe connect IP PORT` (exit 0 when a
# TCP connection opens), `probe file PATH` (exit 0 when it can be read).
PROBE_SOURCE = r"""
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "echo") == 0) {
        for (int i = 2; i < argc; i++) printf("%s%s", argv[i], i + 1 < argc ? " " : "\n");
        fflush(stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "exit") == 0) {
        printf("exiting with %s\n", argv[2]);
        fflush(stdout);
        return atoi(argv[2]);
    }
    if (argc == 4 && strcmp(argv[1], "connect") == 0) {
        struct sockaddr_in address = {0};
        address.sin_family = AF_INET;
        address.sin_port = htons((unsigned short)atoi(argv[3]));
        if (inet_pton(AF_INET, argv[2], &address.sin_addr) != 1) return 2;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
            perror("connect");
            return 1;
        }
        printf("connected to %s:%s\n", argv[2], argv[3]);
        fflush(stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "file") == 0) {
        int fd = open(argv[2], O_RDONLY);
        char buffer[16];
        if (fd < 0 || read(fd, buffer, sizeof buffer) <= 0) {
            perror(argv[2]);
            return 1;
        }
        printf("read %s\n", argv[2]);
        fflush(stdout);
        return 0;
    }
    fprintf(stderr, "usage: probe echo TEXT | exit N | connect IP PORT | file PATH\n");
    return 64;
}
"""


def _tar_bytes(entries: list[tuple[str, bytes, int]]) -> bytes:
    """A tar of (name, content, mode) files, with fixed owners and times."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content, mode in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), mode, EPOCH
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def docker_archive(image: str, binary: bytes, path_in_image: str, entrypoint: list[str]) -> bytes:
    """Pure: a docker-archive (``docker save`` layout) of one layer holding ``binary`` at
    ``path_in_image``, tagged ``image``, running ``entrypoint``."""
    layer = _tar_bytes([(path_in_image.lstrip("/"), binary, 0o755)])
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2023-11-14T22:13:20Z",
            "config": {"Entrypoint": entrypoint, "Env": ["PATH=/"], "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
            "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "omvee staticimage"}],
        },
        sort_keys=True,
    ).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [image], "Layers": [f"{layer_digest}/layer.tar"]}]
    ).encode()
    return _tar_bytes(
        [
            (f"{layer_digest}/layer.tar", layer, 0o644),
            (config_name, config, 0o644),
            ("manifest.json", manifest, 0o644),
        ]
    )


def _gcc(source: bytes, output: Path) -> None:
    gcc = shutil.which("gcc")
    if not gcc:
        raise BuildError("gcc is not installed; the real node's images need it (apt install gcc)")
    with tempfile.TemporaryDirectory() as scratch:
        c_file = Path(scratch) / "main.c"
        c_file.write_bytes(source)
        result = subprocess.run(
            [gcc, "-Os", "-static", "-s", "-o", str(output), str(c_file)],
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        raise BuildError(f"gcc -static failed:\n{result.stderr[-2000:]}")


def ensure_static_image(image: str, source: bytes, path_in_image: str, args: list[str]) -> Path:
    """The cached docker-archive of ``source`` compiled statically, building it if missing."""
    digest = hashlib.sha256(source + image.encode() + path_in_image.encode()).hexdigest()[:12]
    name = image.rsplit("/", 1)[-1].replace(":", "-")
    target = cache_root() / "node" / f"{name}-{digest}.tar"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        binary = Path(scratch) / "program"
        _gcc(source, binary)
        archive = docker_archive(image, binary.read_bytes(), path_in_image, [path_in_image, *args])
    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    staging.write_bytes(archive)
    staging.rename(target)
    return target


def pause_source() -> bytes:
    """``build/pause/linux/pause.c`` of the pinned kubernetes module in the Go module cache."""
    from tests.localcluster.binaries import COMPONENTS

    version = COMPONENTS[0].version()
    modcache = subprocess.run(
        ["go", "env", "GOMODCACHE"], check=True, capture_output=True, text=True
    ).stdout.strip()
    path = Path(modcache) / f"k8s.io/kubernetes@{version}/build/pause/linux/pause.c"
    if not path.is_file():
        raise BuildError(f"{path} is missing; run `make controlplane` to fetch the module")
    return path.read_bytes()


def ensure_pause_image(image: str) -> Path:
    return ensure_static_image(image, pause_source(), "/pause", [])


def ensure_probe_image() -> Path:
    return ensure_static_image(PROBE_IMAGE, PROBE_SOURCE.encode(), "/probe", [])
