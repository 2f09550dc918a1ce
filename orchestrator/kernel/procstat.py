"""Per-CPU idle time from /proc/stat: the kernel's NOHZ idle clock, idle plus
iowait (a CPU waiting on I/O runs nothing), in USER_HZ ticks."""

from __future__ import annotations

import os

from orchestrator import units
from orchestrator.records import CpuIdle

_NS_PER_TICK = units.NS_PER_S // os.sysconf("SC_CLK_TCK")


def parse_idle(text: str) -> list[CpuIdle]:
    """Return each CPU's idle time from the text of /proc/stat."""
    idle = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or not fields[0].startswith("cpu") or fields[0] == "cpu":
            continue
        # cpuN user nice system idle iowait ...
        ticks = int(fields[4]) + int(fields[5])
        idle.append(CpuIdle(cpu=int(fields[0][3:]), idle_ns=ticks * _NS_PER_TICK))
    return idle


def read_idle(path: str = "/proc/stat") -> list[CpuIdle]:
    with open(path, encoding="ascii") as handle:
        return parse_idle(handle.read())
