"""Build the project's container images without Docker: buildah on a local Debian base.

``ensure_images()`` returns, per image, a docker-archive ``<cache_root()>/images/<name>-<hash>.tar``
that ``ctr -n k8s.io images import`` accepts, tagged ``ghcr.io/omvee/<name>:0.1.0`` and
``ghcr.io/omvee/<name>:<hash>``. The hash covers the Dockerfile, every COPYed file, the base and
the build args (``images_plan.image_hash``): an unchanged image is reused without running
buildah; a changed input rebuilds. The base is a Debian bookworm rootfs made by mmdebstrap
(cached as a tarball keyed by suite and packages) committed into buildah's own storage under
``<cache_root()>/images/storage``. Everything is written to a temporary path and renamed into
place only when complete. Needs root, buildah and mmdebstrap (``make sysdeps``), and PyPI.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.localcluster import images_plan as plan
from tests.localcluster.binaries import cache_root
from tests.localcluster.layout import REPO_ROOT

#: buildah's run root (locks, mounts): small and per boot, so under /run when root.
RUNROOT = Path(os.environ.get("OMVEE_BUILDAH_RUNROOT", "/run/omvee-buildah"))


class ImageBuildError(RuntimeError):
    """An image could not be built; the message names the command and ends with its output."""


@dataclass(frozen=True)
class BuiltImage:
    """An image archive ready for ``ctr images import``.

    ``ref`` is the release name (``ghcr.io/omvee/<name>:0.1.0``), ``refs`` every name the archive
    carries, ``size_bytes`` the archive's size, ``built`` whether this call ran buildah (False: it
    was already cached), ``seconds`` how long this call spent on it."""

    name: str
    ref: str
    refs: tuple[str, ...]
    archive: Path
    size_bytes: int
    built: bool
    seconds: float


def images_dir() -> Path:
    """``<cache_root()>/images``: the archives, the base tarball and buildah's storage."""
    return cache_root() / "images"


def storage_dir() -> Path:
    """buildah's own image and container storage (kept as a cache of the base image)."""
    return images_dir() / "storage"


def _run(argv: list[str], what: str, timeout: float = 3600) -> str:
    """Run ``argv``; its stdout. Raises ImageBuildError with the last 40 lines of its output."""
    try:
        done = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
        )
    except FileNotFoundError:
        raise ImageBuildError(
            f"{what}: {argv[0]} is not installed (make sysdeps installs buildah and mmdebstrap)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ImageBuildError(f"{what}: {' '.join(argv)} ran over {timeout:.0f}s") from None
    if done.returncode != 0:
        tail = "\n".join(deque(done.stdout.splitlines(), maxlen=40))
        raise ImageBuildError(
            f"{what} failed (exit {done.returncode}): {' '.join(argv)}\n--- output tail ---\n{tail}"
        )
    return done.stdout


def _buildah(*args: str, what: str) -> str:
    return _run(["buildah", *plan.storage_options(storage_dir(), RUNROOT), *args], what)


def _has_image(ref: str) -> bool:
    done = subprocess.run(
        [
            "buildah",
            *plan.storage_options(storage_dir(), RUNROOT),
            "inspect",
            "--type",
            "image",
            ref,
        ],
        capture_output=True,
    )
    return done.returncode == 0


def ensure_base() -> str:
    """The local base image's reference, made when missing: mmdebstrap's rootfs tarball (cached
    under images_dir()) committed as a one-layer image into buildah's storage.

    Raises ImageBuildError when not root or when mmdebstrap/buildah fail."""
    key = plan.base_key()
    ref = plan.base_ref(key)
    if _has_image(ref):
        return ref
    if os.geteuid() != 0:
        raise ImageBuildError("building the Debian base needs root (mmdebstrap --mode=root)")
    rootfs = plan.base_archive_path(images_dir(), key)
    if not rootfs.exists():
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        partial = rootfs.with_name(f".{rootfs.name}.{os.getpid()}.partial.tar")
        try:
            _run(plan.mmdebstrap_argv(partial), "mmdebstrap (the Debian base rootfs)")
            partial.rename(rootfs)
        finally:
            partial.unlink(missing_ok=True)
    container = _buildah("from", "--pull=never", "scratch", what="buildah from scratch").strip()
    try:
        _buildah("add", container, str(rootfs), "/", what="buildah add (the base rootfs)")
        _buildah(
            "config",
            "--env",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--env",
            "LANG=C.UTF-8",
            "--cmd",
            "python3",
            container,
            what="buildah config (the base)",
        )
        _buildah("commit", "--rm", container, ref, what="buildah commit (the base)")
    finally:
        subprocess.run(
            ["buildah", *plan.storage_options(storage_dir(), RUNROOT), "rm", container],
            capture_output=True,
        )
    return ref


def add_tags(archive: Path, refs: list[str]) -> None:
    """Rewrite a docker-archive so its one image carries every name in ``refs``
    (``manifest.json``'s RepoTags and the legacy ``repositories`` file); in place, atomically."""
    partial = archive.with_name(f".{archive.name}.tags.partial")
    try:
        with tarfile.open(archive) as source, tarfile.open(partial, "w") as target:
            for member in source:
                data = source.extractfile(member) if member.isfile() else None
                if member.name == "manifest.json" and data is not None:
                    manifest = json.load(data)
                    manifest[0]["RepoTags"] = refs
                    payload = json.dumps(manifest).encode()
                    member.size = len(payload)
                    target.addfile(member, io.BytesIO(payload))
                elif member.name == "repositories":
                    continue  # optional; RepoTags is what ctr and docker load read
                else:
                    target.addfile(member, data)
        partial.rename(archive)
    finally:
        partial.unlink(missing_ok=True)


def archive_tags(archive: Path) -> list[str]:
    """The names a docker-archive's image carries (``manifest.json``'s RepoTags)."""
    with tarfile.open(archive) as tar:
        manifest = tar.extractfile("manifest.json")
        if manifest is None:
            return []
        return [str(tag) for tag in json.load(manifest)[0].get("RepoTags") or []]


def _build(spec: plan.ImageSpec, base: str, archive: Path, refs: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix=f"omvee-image-{spec.name}-") as scratch:
        iidfile = Path(scratch) / "iid"
        _buildah(
            *plan.bud_argv(spec, REPO_ROOT, base, iidfile, refs),
            what=f"building {spec.name} (buildah bud)",
        )
        image_id = iidfile.read_text().strip()
        partial = archive.with_name(f".{archive.name}.{os.getpid()}.partial")
        try:
            _buildah(
                "push",
                "--quiet",
                image_id,
                f"docker-archive:{partial}:{refs[0]}",
                what=f"writing {spec.name}'s archive (buildah push)",
            )
            add_tags(partial, refs)
            partial.rename(archive)
        finally:
            partial.unlink(missing_ok=True)
            # the image stays out of storage: the archive is the cache; the base stays. By name,
            # not forced: a run of the same image by another process keeps it until it ends
            subprocess.run(
                ["buildah", *plan.storage_options(storage_dir(), RUNROOT), "rmi", *refs],
                capture_output=True,
            )
            # and untagged leftovers of earlier runs, unless a container still uses them
            subprocess.run(
                ["buildah", *plan.storage_options(storage_dir(), RUNROOT), "rmi", "--prune"],
                capture_output=True,
            )


def ensure_images(
    names: Iterable[str] | None = None,
    repo: str | None = None,
    tag: str | None = None,
) -> dict[str, BuiltImage]:
    """Each image's archive, built when its inputs changed since the last build, reused else.

    ``names`` are from ``images_plan.IMAGE_NAMES`` (all when None); ``repo`` and ``tag`` name
    the release (default $IMAGE_REPO and $IMAGE_TAG, else ghcr.io/omvee and 0.1.0). Raises
    ``images_plan.UnknownImage`` for another name and ImageBuildError (with buildah's output
    tail) when a build fails; a failed build leaves no archive behind."""
    specs = plan.select(names)
    cache = images_dir()
    cache.mkdir(parents=True, exist_ok=True)
    key = plan.base_key()
    repo = repo or os.environ.get("IMAGE_REPO") or plan.IMAGE_REPO
    tag = tag or os.environ.get("IMAGE_TAG") or plan.IMAGE_TAG
    results: dict[str, BuiltImage] = {}
    base: str | None = None
    for spec in specs:
        started = time.monotonic()
        digest = plan.image_hash(spec, REPO_ROOT, plan.base_ref(key), release=f"{repo}:{tag}")
        archive = plan.archive_path(cache, spec.name, digest)
        built = not archive.exists()
        if built:
            if shutil.which("buildah") is None:
                raise ImageBuildError("buildah is not installed: run make sysdeps")
            base = base or ensure_base()
            _build(spec, base, archive, plan.refs(spec.name, digest, repo, tag))
            for stale in plan.stale_archives(cache, spec.name, digest):
                stale.unlink(missing_ok=True)
        refs = plan.refs(spec.name, digest, repo, tag)
        results[spec.name] = BuiltImage(
            name=spec.name,
            ref=refs[0],
            refs=tuple(refs),
            archive=archive,
            size_bytes=archive.stat().st_size,
            built=built,
            seconds=time.monotonic() - started,
        )
    return results


def storage_bytes() -> int:
    """Bytes buildah's storage holds on disk (the base image and any leftovers)."""
    total = 0
    for path in storage_dir().rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def run_image(
    archive: Path,
    argv: list[str],
    *,
    binds: Iterable[plan.Bind] = (),
    env: dict[str, str] | None = None,
    uid: int = 10001,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the image of ``archive`` as its pod would run (read-only root, ``/tmp`` a
    tmpfs, ``uid``, no capabilities, no network) with runc, and return its exit code and
    output (stdout and stderr together). The image is imported into buildah's storage for the
    run and removed after. Raises ImageBuildError when the image cannot be prepared;
    subprocess.TimeoutExpired after ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix="omvee-run-") as scratch:
        bundle = Path(scratch)
        name = f"omvee-run-{os.getpid()}-{time.monotonic_ns()}"
        container = _buildah(
            "from", "--pull=never", "--name", name, f"docker-archive:{archive}", what="buildah from"
        ).splitlines()[-1]
        image_id = ""
        try:
            info = json.loads(_buildah("inspect", "--type", "container", container, what="inspect"))
            image_id = info.get("FromImageID", "")
            rootfs = _buildah("mount", container, what="buildah mount").strip()
            _run(["runc", "spec", "--bundle", str(bundle)], "runc spec")
            default = json.loads((bundle / "config.json").read_text())
            config = plan.runtime_config(
                default, info["OCIv1"]["config"], argv, uid=uid, binds=binds, env=env
            )
            config["root"] = {"path": rootfs, "readonly": True}
            (bundle / "config.json").write_text(json.dumps(config))
            runc_root = RUNROOT / "runc"
            try:
                return subprocess.run(
                    ["runc", "--root", str(runc_root), "run", "--bundle", str(bundle), name],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=timeout,
                )
            finally:
                subprocess.run(
                    ["runc", "--root", str(runc_root), "delete", "--force", name],
                    capture_output=True,
                )
        finally:
            subprocess.run(
                ["buildah", *plan.storage_options(storage_dir(), RUNROOT), "rm", container],
                capture_output=True,
            )
            tags = archive_tags(archive)
            if image_id and tags:
                subprocess.run(
                    # by name, not forced: another process's run of it keeps it till it ends
                    ["buildah", *plan.storage_options(storage_dir(), RUNROOT), "rmi", *tags],
                    capture_output=True,
                )


def main(argv: list[str]) -> int:
    """``python -m tests.localcluster images [NAME...]``: build or reuse each image's archive and
    print one line per image; exit 1 with the error on a failed build."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.localcluster images",
        description="Build (or reuse, by content hash) the container image archives with buildah.",
    )
    parser.add_argument(
        "names", nargs="*", help=f"images (default all): {', '.join(plan.IMAGE_NAMES)}"
    )
    args = parser.parse_args(argv)
    try:
        images = ensure_images(args.names or None)
    except (ImageBuildError, plan.UnknownImage) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for image in images.values():
        state = "built" if image.built else "cached"
        print(
            f"{image.name:<22} {image.ref:<44} {image.size_bytes / 2**20:7.0f} MiB "
            f"{state:<6} {image.seconds:6.1f}s  {image.archive}"
        )
    return _import_into_running_node(images)


def _import_into_running_node(images: dict[str, BuiltImage]) -> int:
    """When the local cluster's real node runs (`make up`), import the images into it, so the
    next job pod uses them; otherwise cluster-up or `make up` imports them when needed."""
    from tests.localcluster.cluster import LocalCluster
    from tests.localcluster.nodehost import NodeError

    cluster = LocalCluster.default()
    if cluster.node is None or not cluster.is_up():
        return 0
    try:
        for image in images.values():
            cluster.import_image(image.archive)
    except NodeError as error:
        print(f"error: importing into the real node: {error}", file=sys.stderr)
        return 1
    print(f"imported into the real node {cluster.node.name}", file=sys.stderr)
    return 0
