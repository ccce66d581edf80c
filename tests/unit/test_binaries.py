from __future__ import annotations

from pathlib import Path

import pytest

from tests.localcluster import binaries
from tests.localcluster.binaries import COMPONENTS, BuildError, build_dir, ensure_binaries


def component(name: str) -> binaries.Component:
    return next(c for c in COMPONENTS if c.name == name)


def test_versions_come_from_the_pinning_modules() -> None:
    assert component("kubernetes").version() == "v1.34.4"
    assert component("etcd").version() == "v3.6.14"
    assert component("kwok").version() == "v0.8.0"


def test_kubernetes_binaries_are_stamped_with_their_version() -> None:
    flags = component("kubernetes").ldflags()
    assert "version.gitVersion=v1.34.4" in flags
    assert "version.gitMajor=1" in flags
    assert "version.gitMinor=34" in flags


def test_cache_key_names_the_version_and_changes_with_go(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OMVEE_CACHE_DIR", str(tmp_path))
    kubernetes = component("kubernetes")
    first = build_dir(kubernetes, "go1.26.0")
    assert first.parent == tmp_path / "controlplane"
    assert first.name.startswith("kubernetes-v1.34.4-")
    assert build_dir(kubernetes, "go1.26.0") == first
    assert build_dir(kubernetes, "go1.27.0") != first


def test_missing_go_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BuildError, match="Go is not installed or not on PATH"):
        ensure_binaries()


def test_refused_module_download_names_the_component(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OMVEE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "modcache"))
    monkeypatch.setenv("GOPROXY", "off")
    with pytest.raises(BuildError) as raised:
        ensure_binaries()
    message = str(raised.value)
    assert message.startswith("go mod download failed for kubernetes (via off)")
    assert "module lookup disabled by GOPROXY=off" in message
