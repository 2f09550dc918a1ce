"""The BPF filesystem: is it mounted, and is a path inside it."""

from __future__ import annotations

from pathlib import Path

from orchestrator.constants import BPFFS_ROOT, EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.kernel import tools


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
    tools.run(["mount", "-t", "bpf", "bpf", str(root)], elevate=True, what="mounting bpffs")
    return True


def check_pin_dir(pin_dir: Path) -> None:
    """Refuse pin directories outside bpffs, or bpffs's own root: unload removes
    the whole directory, so it must be one that lottery owns."""
    resolved = Path(pin_dir).absolute()
    inside = [m for m in mounts() if m in resolved.parents]
    if resolved in mounts() or (not inside and not str(resolved).startswith(BPFFS_ROOT + "/")):
        raise LotteryError(
            f"pin directory {pin_dir} is not a directory inside bpffs",
            f"pass --pin-dir {BPFFS_ROOT}/NAME", code=EXIT_USAGE)
