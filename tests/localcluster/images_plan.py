"""Pure decisions for building the container images without Docker: what each image is, what
goes into it, the content hash that names its archive, and the buildah/mmdebstrap command lines.

Nothing here runs a process; ``tests/localcluster/images.py`` runs what this module decides.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.catalog.registry import DEFINITIONS

#: The Makefile's IMAGE_REPO and IMAGE_TAG defaults.
IMAGE_REPO = "ghcr.io/omvee"
IMAGE_TAG = "0.1.0"

#: What the Dockerfiles COPY from the repository root (``.dockerignore`` allows the same set).
CONTEXT_ENTRIES = ("pyproject.toml", "api", "controller", "jobimages")
#: Never part of an image: byte-compiled files the tests leave in the tree.
IGNORED_PARTS = frozenset({"__pycache__"})
IGNORED_SUFFIXES = (".pyc", ".pyo")

#: The local base when no registry is reachable: Debian bookworm (python3 is 3.11) with pip and
#: ``python`` (the catalog's command) so the Dockerfiles install nothing with apt on it.
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-pip", "python-is-python3", "ca-certificates")
#: Paths dpkg leaves out of the base rootfs (docs, man pages, translations): ~30 MB less.
BASE_PATH_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*")
BASE_REPO = "localhost/omvee-base"

#: The host's CA bundle, mounted read-only into ``RUN`` steps so pip can verify PyPI.
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class ImageSpec:
    """One image: its name (``job-transcription``), Dockerfile (relative to the repository
    root) and the build args the local (Debian base) build passes besides BASE_IMAGE."""

    name: str
    dockerfile: str
    build_args: Mapping[str, str] = field(default_factory=dict)


#: The operator/API image, then one image per declared job type (api.catalog.jobtypes).
IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec("omvee-jobs", "controller/Dockerfile"),
    *(ImageSpec(d.image_name, d.dockerfile, dict(d.local_build_args)) for d in DEFINITIONS),
)
IMAGE_NAMES = tuple(spec.name for spec in IMAGES)


class UnknownImage(ValueError):
    """A name that is none of :data:`IMAGE_NAMES`."""


def select(names: Iterable[str] | None) -> list[ImageSpec]:
    """The specs for ``names`` in the given order (all when None).

    Raises :class:`UnknownImage` naming the valid choices for a name that is not an image.
    """
    if names is None:
        return list(IMAGES)
    by_name = {spec.name: spec for spec in IMAGES}
    chosen = []
    for name in names:
        if name not in by_name:
            raise UnknownImage(f"unknown image {name!r}; the images are: {', '.join(IMAGE_NAMES)}")
        chosen.append(by_name[name])
    return chosen


def base_key(suite: str = BASE_SUITE, packages: Iterable[str] = BASE_PACKAGES) -> str:
    """12 hex digits naming the base rootfs: the suite, the package list (order-free) and the
    excluded paths."""
    text = "\n".join([suite, *sorted(packages), *BASE_PATH_EXCLUDES])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def base_ref(key: str) -> str:
    """The local image name buildah gives the base (``localhost/omvee-base:<key>``)."""
    return f"{BASE_REPO}:{key}"


def context_files(root: Path) -> list[Path]:
    """The files the Dockerfiles COPY, relative to ``root``, sorted; byte-compiled files and
    ``__pycache__`` folders left out. Raises FileNotFoundError when an entry is missing."""
    files: list[Path] = []
    for entry in CONTEXT_ENTRIES:
        path = root / entry
        if path.is_file():
            files.append(Path(entry))
        elif path.is_dir():
            for found in path.rglob("*"):
                relative = found.relative_to(root)
                if (
                    found.is_file()
                    and not IGNORED_PARTS.intersection(relative.parts)
                    and not found.name.endswith(IGNORED_SUFFIXES)
                ):
                    files.append(relative)
        else:
            raise FileNotFoundError(f"{path} is missing: the Dockerfiles COPY it")
    return sorted(files)


def image_hash(
    spec: ImageSpec,
    root: Path,
    base: str,
    build_args: Mapping[str, str] | None = None,
    release: str = f"{IMAGE_REPO}:{IMAGE_TAG}",
) -> str:
    """12 hex digits over everything that goes into the image: the Dockerfile, each COPYed
    file's path and bytes, the base (its key or reference), the build args and the release
    name (``repo:tag``, which the archive carries)."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("dockerfile", (root / spec.dockerfile).read_bytes())
    for relative in context_files(root):
        add(f"file:{relative.as_posix()}", (root / relative).read_bytes())
    add("base", base.encode())
    add("release", release.encode())
    args = dict(spec.build_args if build_args is None else build_args)
    for key in sorted(args):
        add(f"arg:{key}", args[key].encode())
    return digest.hexdigest()[:12]


def refs(name: str, digest: str, repo: str = IMAGE_REPO, tag: str = IMAGE_TAG) -> list[str]:
    """The two names one archive carries: the release tag first, then the content hash."""
    return [f"{repo}/{name}:{tag}", f"{repo}/{name}:{digest}"]


def archive_path(cache: Path, name: str, digest: str) -> Path:
    """Where the archive of ``name`` built from inputs hashing to ``digest`` lives."""
    return cache / f"{name}-{digest}.tar"


def stale_archives(cache: Path, name: str, digest: str) -> list[Path]:
    """The archives of ``name`` built from other inputs than ``digest``: superseded, to delete
    so the cache holds one archive per image."""
    pattern = re.compile(rf"{re.escape(name)}-[0-9a-f]{{12}}\.tar")
    return sorted(
        path
        for path in cache.glob(f"{name}-*.tar")
        if pattern.fullmatch(path.name) and path != archive_path(cache, name, digest)
    )


def base_archive_path(cache: Path, key: str) -> Path:
    """Where the base rootfs tarball (mmdebstrap's output) lives."""
    return cache / f"base-{BASE_SUITE}-{key}.tar"


def mmdebstrap_argv(output: Path, suite: str = BASE_SUITE) -> list[str]:
    """mmdebstrap making the base rootfs as a tarball at ``output`` (needs root)."""
    return [
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        "--aptopt=Apt::Install-Recommends false",
        f"--include={','.join(BASE_PACKAGES)}",
        *(f"--dpkgopt=path-exclude={path}" for path in BASE_PATH_EXCLUDES),
        suite,
        str(output),
    ]


def storage_options(storage: Path, runroot: Path) -> list[str]:
    """buildah's global options keeping its images and containers in our own storage."""
    return ["--root", str(storage), "--runroot", str(runroot), "--storage-driver", "overlay"]


def bud_argv(
    spec: ImageSpec,
    root: Path,
    base: str,
    image_id_file: Path,
    tags: Iterable[str],
    build_args: Mapping[str, str] | None = None,
) -> list[str]:
    """``buildah bud`` arguments (after the global options) building ``spec`` offline from the
    local ``base``, with the host network and CA bundle for pip."""
    args = {"BASE_IMAGE": base, **(spec.build_args if build_args is None else build_args)}
    return [
        "bud",
        "--pull=never",
        "--network=host",
        "--layers=false",
        "--volume",
        f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro",
        "--iidfile",
        str(image_id_file),
        "--file",
        str(root / spec.dockerfile),
        *(item for key in sorted(args) for item in ("--build-arg", f"{key}={args[key]}")),
        *(item for tag in tags for item in ("--tag", tag)),
        str(root),
    ]


@dataclass(frozen=True)
class Bind:
    """A host path bound into a container (read-only unless ``writable``)."""

    source: Path
    destination: str
    writable: bool = False


def runtime_config(
    default: Mapping[str, object],
    image_config: Mapping[str, object],
    argv: list[str],
    *,
    uid: int = 10001,
    binds: Iterable[Bind] = (),
    env: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """An OCI runtime config (runc's ``config.json``) running ``argv`` as the pod would: a
    read-only root, ``/tmp`` a fresh tmpfs (the emptyDir), ``uid``:``uid``, no capabilities, no
    new privileges, its own empty network namespace (no network), the image's Env and
    WorkingDir (plus ``env``). ``default`` is ``runc spec``'s output (readonly root, the usual
    /proc, /dev, /sys mounts, own namespaces); ``image_config`` the image's OCI ``config``."""
    config: dict[str, Any] = json.loads(json.dumps(default))
    image_env = image_config.get("Env")
    merged: dict[str, str] = {}
    for item in image_env if isinstance(image_env, list) else []:
        key, _, value = str(item).partition("=")
        merged[key] = value
    merged.update(env or {})
    config["root"] = {"path": "rootfs", "readonly": True}
    config["process"] = {
        **config["process"],
        "terminal": False,
        "user": {"uid": uid, "gid": uid},
        "args": argv,
        "env": [f"{key}={value}" for key, value in merged.items()],
        "cwd": str(image_config.get("WorkingDir") or "/"),
        "capabilities": {},
        "noNewPrivileges": True,
    }
    mounts = [m for m in config["mounts"] if m["destination"] != "/tmp"]
    mounts.append(
        {
            "destination": "/tmp",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777", "size=512m"],
        }
    )
    for bind in binds:
        mounts.append(
            {
                "destination": bind.destination,
                "type": "bind",
                "source": str(bind.source),
                "options": ["rbind", "rw" if bind.writable else "ro"],
            }
        )
    config["mounts"] = mounts
    namespaces = config["linux"]["namespaces"]
    if {"type": "network"} not in namespaces:
        namespaces.append({"type": "network"})
    return config
