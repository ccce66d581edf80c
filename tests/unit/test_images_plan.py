"""The image build's pure decisions: content hashes, names, and the command lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.localcluster import images_plan as plan
from tests.localcluster.layout import REPO_ROOT


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of what the Dockerfiles COPY, to change files in."""
    for entry in plan.CONTEXT_ENTRIES:
        source = REPO_ROOT / entry
        if source.is_dir():
            shutil.copytree(source, tmp_path / entry, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / entry)
    (tmp_path / "jobimages/transcription/Dockerfile").parent.mkdir(parents=True, exist_ok=True)
    return tmp_path


def spec(name: str) -> plan.ImageSpec:
    return plan.select([name])[0]


def test_hash_is_stable_and_changes_with_each_input(tree: Path) -> None:
    transcription = spec("job-transcription")
    first = plan.image_hash(transcription, tree, "base:a")
    assert first == plan.image_hash(transcription, tree, "base:a")
    assert len(first) == 12 and int(first, 16) >= 0

    (tree / "jobimages/transcription/whisper.py").write_text("# changed\n")
    changed_code = plan.image_hash(transcription, tree, "base:a")
    assert changed_code != first
    dockerfile = tree / transcription.dockerfile
    dockerfile.write_text(dockerfile.read_text() + "# changed\n")
    changed_dockerfile = plan.image_hash(transcription, tree, "base:a")
    assert changed_dockerfile != changed_code
    assert plan.image_hash(transcription, tree, "base:b") != changed_dockerfile
    assert plan.image_hash(transcription, tree, "base:a", {"X": "1"}) != changed_dockerfile
    (tree / "pyproject.toml").write_text("[project]\n")
    assert plan.image_hash(transcription, tree, "base:a") != changed_dockerfile


def test_bytecode_and_files_outside_the_context_do_not_change_the_hash(tree: Path) -> None:
    image = spec("omvee-jobs")
    first = plan.image_hash(image, tree, "base")
    cache = tree / "api/__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "x.cpython-311.pyc").write_bytes(b"\0")
    (tree / "api/stray.pyc").write_bytes(b"\0")
    (tree / "tests").mkdir()
    (tree / "tests/test_x.py").write_text("")
    assert plan.image_hash(image, tree, "base") == first
    assert all("__pycache__" not in p.parts for p in plan.context_files(tree))


def test_a_missing_context_entry_is_an_error(tree: Path) -> None:
    (tree / "pyproject.toml").unlink()
    with pytest.raises(FileNotFoundError, match=r"pyproject\.toml"):
        plan.context_files(tree)


def test_names_tags_and_archive_paths() -> None:
    assert plan.IMAGE_NAMES == (
        "omvee-jobs",
        "job-transcription",
        "job-scene-generation",
        "job-visual-prompts",
        "job-image-generation",
        "job-video-generation",
    )
    assert plan.refs("job-transcription", "0123456789ab") == [
        "ghcr.io/omvee/job-transcription:0.1.0",
        "ghcr.io/omvee/job-transcription:0123456789ab",
    ]
    assert plan.archive_path(Path("/c"), "omvee-jobs", "0123456789ab") == Path(
        "/c/omvee-jobs-0123456789ab.tar"
    )
    assert [s.name for s in plan.select(["job-video-generation", "omvee-jobs"])] == [
        "job-video-generation",
        "omvee-jobs",
    ]
    with pytest.raises(plan.UnknownImage, match="job-transcription"):
        plan.select(["job-nope"])
    for image in plan.IMAGES:
        assert (REPO_ROOT / image.dockerfile).is_file()


def test_base_key_depends_on_suite_and_packages_not_their_order() -> None:
    assert plan.base_key("bookworm", ["a", "b"]) == plan.base_key("bookworm", ["b", "a"])
    assert plan.base_key("bookworm", ["a"]) != plan.base_key("bookworm", ["a", "b"])
    assert plan.base_key("trixie", ["a"]) != plan.base_key("bookworm", ["a"])
    assert plan.base_ref("0123456789ab") == "localhost/omvee-base:0123456789ab"


def test_command_lines() -> None:
    argv = plan.mmdebstrap_argv(Path("/x/base.tar"))
    assert argv[:3] == ["mmdebstrap", "--mode=root", "--variant=minbase"]
    assert "--include=python3,python3-pip,python-is-python3,ca-certificates" in argv
    assert argv[-2:] == ["bookworm", "/x/base.tar"]

    image = spec("job-image-generation")
    bud = plan.bud_argv(image, Path("/repo"), "localhost/b:1", Path("/t/iid"), ["r:1", "r:2"])
    assert bud[:4] == ["bud", "--pull=never", "--network=host", "--layers=false"]
    assert f"{plan.HOST_CA_BUNDLE}:{plan.HOST_CA_BUNDLE}:ro" in bud
    assert "BASE_IMAGE=localhost/b:1" in bud and "DIFFUSERS_PACKAGES=" in bud
    assert bud[bud.index("--file") + 1] == "/repo/jobimages/image_generation/Dockerfile"
    assert [bud[i + 1] for i, a in enumerate(bud) if a == "--tag"] == ["r:1", "r:2"]
    assert bud[-1] == "/repo"
    assert plan.storage_options(Path("/s"), Path("/r")) == [
        "--root",
        "/s",
        "--runroot",
        "/r",
        "--storage-driver",
        "overlay",
    ]


def test_dockerignore_sends_exactly_the_hashed_entries() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().split("\n")
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert allowed == set(plan.CONTEXT_ENTRIES)
    assert "*" in lines and "**/__pycache__" in lines


def test_stale_archives_are_the_same_images_other_hashes(tmp_path: Path) -> None:
    for name in (
        "job-transcription-0123456789ab.tar",
        "job-transcription-ba9876543210.tar",
        "job-transcription-ba9876543210.tar.partial",
        "omvee-jobs-ba9876543210.tar",
    ):
        (tmp_path / name).write_bytes(b"")
    assert plan.stale_archives(tmp_path, "job-transcription", "0123456789ab") == [
        tmp_path / "job-transcription-ba9876543210.tar"
    ]


def test_runtime_config_runs_as_the_pod_does() -> None:
    default = {
        "process": {"terminal": True, "args": ["sh"], "capabilities": {"bounding": ["CAP_KILL"]}},
        "root": {"path": "rootfs", "readonly": False},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": "pid"}]},
    }
    image = {"Env": ["PATH=/usr/bin", "HOME=/tmp"], "WorkingDir": "/app"}
    config = plan.runtime_config(
        default,
        image,
        ["python", "-m", "jobimages.transcription"],
        binds=[plan.Bind(Path("/host/in"), "/input")],
        env={"X": "1"},
    )
    process = config["process"]
    assert isinstance(process, dict)
    assert process["user"] == {"uid": 10001, "gid": 10001}
    assert process["args"] == ["python", "-m", "jobimages.transcription"]
    assert process["env"] == ["PATH=/usr/bin", "HOME=/tmp", "X=1"]
    assert process["cwd"] == "/app" and process["capabilities"] == {}
    assert process["noNewPrivileges"] is True and process["terminal"] is False
    assert config["root"] == {"path": "rootfs", "readonly": True}
    mounts = {m["destination"]: m for m in config["mounts"]}  # type: ignore[attr-defined]
    assert mounts["/tmp"]["type"] == "tmpfs"
    assert mounts["/input"]["options"] == ["rbind", "ro"]
    assert {"type": "network"} in config["linux"]["namespaces"]  # type: ignore[index]
    assert default["root"] == {"path": "rootfs", "readonly": False}  # not modified


def test_the_readme_is_no_input_of_any_image(tree: Path) -> None:
    """Documentation edits must not rebuild every image."""
    image = spec("job-transcription")
    first = plan.image_hash(image, tree, "base")
    (tree / "README.md").write_text("changed\n")
    assert plan.image_hash(image, tree, "base") == first
