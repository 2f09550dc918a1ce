"""Pin paths as a hostile local user could prepare them: root must refuse
each in one line, and touch nothing outside lottery's own pins."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import need_bpf, one_line_error, run_lottery

from orchestrator import paths
from orchestrator.commands import load as load_cmd
from orchestrator.commands import unload as unload_cmd
from orchestrator.kernel import bpffs

NOBODY = 65534


@pytest.fixture
def victim(tmp_path):
    """An ordinary directory that no lottery command may change."""
    path = tmp_path / "victim"
    path.mkdir(mode=0o755)
    (path / "keep").write_text("precious\n")
    return path


def _intact(victim: Path) -> bool:
    return (victim / "keep").read_text() == "precious\n" and \
        oct(victim.stat().st_mode & 0o7777) == "0o755"


@pytest.fixture
def bpffs_scratch():
    """Names in bpffs for the hostile setups, removed after."""
    need_bpf()
    bpffs.ensure_mounted()
    made: list[Path] = []

    def name() -> Path:
        path = Path(f"/sys/fs/bpf/lottery-hostile-{uuid.uuid4().hex[:8]}")
        made.append(path)
        return path
    yield name
    for path in made:
        subprocess.run(["rm", "-rf", str(path)], check=False)


def test_a_pin_directory_another_user_made_is_refused(bpffs_scratch, bpf_object):
    squat = bpffs_scratch()
    squat.mkdir(mode=0o755)
    os.chown(squat, NOBODY, NOBODY)
    for verb in (("load", "--obj", str(bpf_object)), ("unload",), ("dump", "-n", "1")):
        one_line_error(run_lottery(*verb, "--pin-dir", str(squat)), "owned by uid 65534")
    assert not os.listdir(squat)


def test_a_pin_directory_that_is_a_symlink_is_refused(bpffs_scratch, bpf_object, victim):
    link = bpffs_scratch()
    link.symlink_to(victim)
    for verb in (("load", "--obj", str(bpf_object)), ("unload",), ("status",)):
        one_line_error(run_lottery(*verb, "--pin-dir", str(link)), "symbolic link")
    assert _intact(victim) and not bpffs.is_mounted(victim)


def test_unload_never_climbs_out_or_follows_overrides_elsewhere(victim, bpffs_scratch):
    climb = f"{bpffs_scratch()}/../../../../..{victim}"
    one_line_error(run_lottery("unload", "--pin-dir", climb), "climbs out with ..")
    for env in ("MAP_PIN", "LINK_PIN", "PROG_PIN"):
        result = run_lottery("unload", "--pin-dir", str(bpffs_scratch()),
                             env={env: str(victim / "keep")})
        one_line_error(result, "not inside a bpffs mount")
    assert _intact(victim)


def test_unload_finds_a_moved_pin_without_being_told(bpffs_scratch, bpf_object):
    """Loaded with MAP_PIN elsewhere in bpffs, unloaded without it: the map's
    pin goes too, because unload asks bpffs where the instance's objects are."""
    home, elsewhere = bpffs_scratch(), bpffs_scratch()
    moved = elsewhere / "tasks"
    loaded = run_lottery("load", "--obj", str(bpf_object), "--pin-dir", str(home),
                         env={"MAP_PIN": str(moved)})
    assert loaded.returncode == 0, loaded.stderr
    assert moved.exists() and not (home / "tasks").exists()
    gone = run_lottery("unload", "--pin-dir", str(home))
    assert gone.returncode == 0, gone.stderr
    assert str(moved) in gone.stdout and not moved.exists() and not home.exists()


def test_unload_leaves_what_is_not_lottery_and_says_so(bpffs_scratch, bpf_object):
    home = bpffs_scratch()
    pins = paths.pins(home)
    load_cmd.load(pins, obj=str(bpf_object))
    stranger = home / "stranger"
    stranger.mkdir()  # not a pin lottery makes
    try:
        result = run_lottery("unload", "--pin-dir", str(home))
        assert result.returncode == 1
        assert "stranger" in result.stderr and "Traceback" not in result.stderr
        assert not (home / "on_switch").exists() and stranger.exists()
    finally:
        stranger.rmdir()
        unload_cmd.unload(pins)
    assert not home.exists()


def test_lottery_mounts_bpffs_so_that_no_one_else_may_write(tmp_path):
    need_bpf()
    spot = tmp_path / "bpffs"
    spot.mkdir()
    try:
        assert bpffs.ensure_mounted(spot)
        assert spot.stat().st_mode & 0o777 == 0o755  # bpffs adds the sticky bit itself
    finally:
        subprocess.run(["umount", str(spot)], check=False)
    assert not bpffs.is_mounted(spot)
