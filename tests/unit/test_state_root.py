"""Where state goes that other users' processes (PostgreSQL as `postgres`) must reach."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcluster import layout
from tests.localcluster.layout import (
    SharedRoot,
    StateError,
    choose_shared_root,
    ensure_shared_root,
    others_can_enter,
    per_checkout_name,
    prune_shared_root,
    shared_state_root,
    usable_base,
)

REPO = Path("/home/someone/omvee")
TMP, VAR_TMP = Path("/tmp"), Path("/var/tmp")


def never(_: Path) -> bool:
    return False


def always(_: Path) -> bool:
    return True


def test_omvee_state_dir_wins() -> None:
    shared = choose_shared_root(REPO, "/srv/state", never, never)
    assert shared == SharedRoot(Path("/srv/state"), "explicit", "set by OMVEE_STATE_DIR")


def test_a_checkout_others_can_enter_keeps_its_state_inside() -> None:
    shared = choose_shared_root(REPO, None, always, always)
    assert shared.path == REPO / ".run"
    assert not shared.per_checkout


def test_a_private_checkout_gets_a_folder_of_its_own_under_tmp() -> None:
    shared = choose_shared_root(REPO, "", never, always, (TMP, VAR_TMP))
    assert shared.path == TMP / per_checkout_name(REPO)
    assert shared.per_checkout
    assert str(REPO) in shared.describe()


def test_var_tmp_when_tmp_will_not_do() -> None:
    shared = choose_shared_root(REPO, None, never, lambda base: base == VAR_TMP, (TMP, VAR_TMP))
    assert shared.path == VAR_TMP / per_checkout_name(REPO)


def test_no_usable_base_says_what_to_set() -> None:
    with pytest.raises(StateError, match="OMVEE_STATE_DIR"):
        choose_shared_root(REPO, None, never, never, (TMP, VAR_TMP))


def test_the_name_is_the_same_for_a_checkout_and_differs_between_checkouts() -> None:
    assert per_checkout_name(REPO) == per_checkout_name(Path(str(REPO)))
    assert per_checkout_name(REPO) != per_checkout_name(REPO.parent / "omvee-2")
    assert per_checkout_name(REPO).startswith("omvee-")


# -- the file system checks -------------------------------------------------------------------


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder others can enter (pytest's tmp_path sits in a 0700 folder)."""
    path = Path(tempfile.mkdtemp(prefix="omvee-unit-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_others_can_enter_needs_every_folder_above_searchable(open_dir: Path) -> None:
    private = open_dir / "private"
    private.mkdir(mode=0o700)
    (private / "repo").mkdir()
    assert others_can_enter(open_dir)
    assert not others_can_enter(private)
    assert not others_can_enter(private / "repo")
    assert not others_can_enter(open_dir / "missing")
    private.chmod(0o711)
    assert others_can_enter(private / "repo")


def test_a_world_writable_base_must_be_sticky(open_dir: Path) -> None:
    base = open_dir / "base"
    base.mkdir()
    base.chmod(0o777)
    assert not usable_base(base)
    base.chmod(0o1777)
    assert usable_base(base)
    assert not usable_base(open_dir / "missing")


@pytest.fixture
def private_checkout(open_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The layout pointed at a checkout in a 0700 folder, with open_dir/base as its /tmp."""
    repo = open_dir / "private" / "repo"
    repo.mkdir(parents=True)
    repo.parent.chmod(0o700)
    base = open_dir / "base"
    base.mkdir()
    base.chmod(0o1777)
    monkeypatch.setattr(layout, "REPO_ROOT", repo)
    monkeypatch.setattr(layout, "SHARED_BASES", (base,))
    monkeypatch.delenv("OMVEE_STATE_DIR", raising=False)
    return base / per_checkout_name(repo)


def test_ensure_makes_the_per_checkout_folder_0755_whatever_the_umask(
    private_checkout: Path,
) -> None:
    old = os.umask(0o077)
    try:
        shared = ensure_shared_root()
    finally:
        os.umask(old)
    assert shared.path == private_checkout
    assert stat.S_IMODE(private_checkout.stat().st_mode) == 0o755
    assert others_can_enter(private_checkout)
    assert ensure_shared_root() == shared  # again: it is ours


def test_a_folder_someone_else_could_write_is_refused(private_checkout: Path) -> None:
    private_checkout.mkdir()
    private_checkout.chmod(0o777)
    with pytest.raises(StateError, match="in the way") as raised:
        shared_state_root()
    assert str(private_checkout) in str(raised.value)
    assert "OMVEE_STATE_DIR" in str(raised.value)


def test_a_symlink_in_its_place_is_refused(private_checkout: Path, open_dir: Path) -> None:
    elsewhere = open_dir / "elsewhere"
    elsewhere.mkdir()
    private_checkout.symlink_to(elsewhere)
    with pytest.raises(StateError, match="not a folder"):
        ensure_shared_root()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder of another user needs root")
def test_a_folder_of_another_user_is_refused(private_checkout: Path) -> None:
    private_checkout.mkdir(mode=0o755)
    os.chown(private_checkout, 12345, 12345)
    with pytest.raises(StateError, match="owner uid 12345"):
        ensure_shared_root()


def test_prune_removes_the_folder_only_once_empty(private_checkout: Path) -> None:
    shared = ensure_shared_root()
    (private_checkout / "postgres").mkdir()
    prune_shared_root(shared)
    assert private_checkout.exists()
    (private_checkout / "postgres").rmdir()
    prune_shared_root(shared)
    assert not private_checkout.exists()


def test_prune_leaves_the_checkouts_own_folder(tmp_path: Path) -> None:
    run = tmp_path / ".run"
    run.mkdir()
    prune_shared_root(SharedRoot(run, "checkout", "in the checkout"))
    prune_shared_root(SharedRoot(tmp_path / "explicit", "explicit", "set by OMVEE_STATE_DIR"))
    assert run.exists()
