"""Cgroups with CPU weights, made for an experiment and removed after it,
on cgroup v1 (cpu.shares) or v2 (cpu.weight).  The lottery paper's
currencies: a group's weight is split among its children by theirs."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

from orchestrator.errors import LotteryError

V1 = Path("/sys/fs/cgroup/cpu")
V2 = Path("/sys/fs/cgroup")
# cpu.shares of a nice-0 task's group; v2's cpu.weight is 100 for the same
BASE_SHARES = 1024


def controller() -> tuple[Path, str] | None:
    """Where groups with a CPU weight can be made here, and the knob."""
    if (V1 / "cpu.shares").exists():
        return V1, "cpu.shares"
    subtree = V2 / "cgroup.subtree_control"
    if subtree.exists() and "cpu" in subtree.read_text().split():
        return V2, "cpu.weight"
    return None


def no_controller() -> LotteryError:
    return LotteryError(
        "no cpu controller for cgroups here (neither /sys/fs/cgroup/cpu nor cgroup v2 "
        "with cpu in cgroup.subtree_control)",
        "mount the v1 cpu controller or enable cpu in /sys/fs/cgroup/cgroup.subtree_control "
        "(as root), or pass --via nice")


class Cgroups:
    """Groups under one directory of this run's; `remove` takes every one
    away, killing what still runs in them.  A context manager."""

    def __init__(self, purpose: str):
        found = controller()
        if found is None:
            raise no_controller()
        base, self.knob = found
        self.root = base / f"lottery-{purpose}-{uuid.uuid4().hex[:8]}"
        self.made: list[Path] = []
        try:
            self.root.mkdir()
        except OSError as err:
            raise LotteryError(f"cannot make a cgroup under {base} ({err.strerror})",
                               "run it as root") from None
        self.made.append(self.root)
        self._delegate(self.root)

    def _delegate(self, path: Path) -> None:
        if self.knob == "cpu.weight":  # v2: children get the controller only when asked
            (path / "cgroup.subtree_control").write_text("+cpu")

    def make(self, name: str, shares: int, parent: Path | None = None) -> Path:
        """A group `name` (under `parent`, else this run's directory) with a
        weight of `shares` on the cpu.shares scale (1024: a nice-0 task's)."""
        if parent is not None and parent not in self.made:
            raise ValueError(f"{parent} is not one of this run's groups")
        path = (parent or self.root) / name
        path.mkdir()
        self.made.append(path)
        value = shares if self.knob == "cpu.shares" else \
            max(1, min(10_000, round(shares * 100 / BASE_SHARES)))
        (path / self.knob).write_text(str(value))
        return path

    def limit(self, path: Path, cpus: float, period_us: int = 100_000) -> None:
        """Cap one of this run's groups at `cpus` CPUs (0.2: a fifth of one)
        through CFS bandwidth: v1 cpu.cfs_period_us and cpu.cfs_quota_us,
        v2 cpu.max, which the kernel keeps in the same place."""
        if path not in self.made:
            raise ValueError(f"{path} is not one of this run's groups")
        quota = max(1000, round(cpus * period_us))
        if self.knob == "cpu.shares":
            (path / "cpu.cfs_period_us").write_text(str(period_us))
            (path / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (path / "cpu.max").write_text(f"{quota} {period_us}")

    def nest(self, path: Path) -> None:
        """Let `path` have weighted children (cgroup v2 asks for it)."""
        self._delegate(path)

    def remove(self) -> None:
        """Kill what runs in the groups and remove them, children first."""
        for path in reversed(self.made):
            for _ in range(100):  # members must be gone before the group can be
                with contextlib.suppress(OSError):
                    for pid in (path / "cgroup.procs").read_text().split():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(pid), signal.SIGKILL)
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
        self.made = [p for p in self.made if p.exists()]

    def __enter__(self) -> Cgroups:
        return self

    def __exit__(self, *_) -> None:
        self.remove()
