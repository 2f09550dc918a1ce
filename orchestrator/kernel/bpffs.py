"""The BPF filesystem: is it mounted, and may root pin in, or remove from, a
path there.

Root follows these paths, so each is checked as a hostile user could have
prepared it: no `..`, no symbolic link at any component, inside a bpffs
mount, and every directory of it inside bpffs owned by root and writable by
no one else.  The checks look at each component with lstat and compare its
device with the mount's, so a path that names bpffs but leads elsewhere is
refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from orchestrator.constants import BPFFS_ROOT, EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.kernel import tools

# What lottery mounts: no one but root may create anything at the top.
MOUNT_MODE = "0755"


def mounts() -> list[Path]:
    """Return the mount points of every bpffs instance."""
    with open("/proc/self/mounts", encoding="utf-8") as handle:
        return [Path(line.split()[1]) for line in handle if line.split()[2:3] == ["bpf"]]


def is_mounted(root: str | Path = BPFFS_ROOT) -> bool:
    return Path(root) in mounts()


def ensure_mounted(root: str | Path = BPFFS_ROOT) -> bool:
    """Mount bpffs at root unless it is there; return True when it mounted it."""
    if is_mounted(root):
        return False
    tools.run(["mount", "-t", "bpf", "-o", f"mode={MOUNT_MODE}", "bpf", str(root)],
              elevate=True, what="mounting bpffs")
    return True


def _refuse(path: Path, why: str, fix: str = "") -> LotteryError:
    return LotteryError(f"pin path {path} {why}",
                        fix or f"pass --pin-dir {BPFFS_ROOT}/NAME (a directory lottery makes)",
                        code=EXIT_USAGE)


def _mount_of(path: Path, found: list[Path]) -> Path:
    """The bpffs mount strictly above `path` (lexically: checked for links)."""
    if path in found:
        raise _refuse(path, "is the root of bpffs itself")
    above = [m for m in found if m in path.parents]
    if not above:
        raise _refuse(path, "is not inside a bpffs mount")
    return max(above, key=lambda m: len(m.parts))


def check_dir(pin_dir: str | Path) -> Path:
    """Return the pin directory as an absolute path when root may pin there
    and remove from there; raise the reason otherwise.  It need not exist
    yet (load makes it)."""
    path = Path(pin_dir)
    if ".." in path.parts:
        raise _refuse(path, "climbs out with ..")
    path = path.absolute()
    mount = _mount_of(path, mounts())
    device = None
    for up in [*reversed(path.parents), path]:  # one lstat per component
        try:
            info = os.lstat(up)
        except FileNotFoundError:
            break
        except OSError as err:
            raise _refuse(path, f"cannot be checked ({err.strerror})") from None
        if stat.S_ISLNK(info.st_mode):
            raise _refuse(path, f"goes through a symbolic link ({up})")
        if not stat.S_ISDIR(info.st_mode):
            raise _refuse(path, f"goes through {up}, which is not a directory")
        if up == mount:
            device = info.st_dev
        elif device is not None:  # a directory inside bpffs
            if info.st_dev != device:
                raise _refuse(path, f"leaves bpffs at {up}")
            if info.st_uid != 0:
                raise _refuse(path, f"is in {up}, owned by uid {info.st_uid}, not root",
                              f"remove {up} or pass another --pin-dir")
            if info.st_mode & 0o022:
                raise _refuse(path, f"is in {up}, which group or others may write",
                              f"remove {up} or pass another --pin-dir")
    return path


def make_dir(pin_dir: Path) -> None:
    """Make the pin directory (and the ones above it inside bpffs), root's
    alone, checking each step: nothing can be swapped in between."""
    path = check_dir(pin_dir)
    mount = _mount_of(path, mounts())
    for up in [p for p in [*reversed(path.parents), path] if mount in p.parents]:
        try:
            os.mkdir(up, 0o700)
        except FileExistsError:
            pass
        check_dir(up)
    os.chmod(path, 0o700, follow_symlinks=False)  # the maps show every task on the host


def check_pin(pin: str | Path) -> Path:
    """Return a pin's path when root may pin or remove it there (its directory
    passes check_dir, and it is no link or directory); raise otherwise.
    check_dir has seen that the directory is on bpffs, where only pins are
    regular files."""
    path = check_dir(Path(pin).parent) / Path(pin).name
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path
    except PermissionError:
        return path  # inside root's own directory: as good as checked
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(path, "is not a pinned BPF object (a link or a directory)")
    return path


def is_pin(path: Path) -> bool:
    """Is `path` an object pinned where root may remove it?"""
    try:
        return os.path.lexists(check_pin(path))
    except LotteryError:
        return False
