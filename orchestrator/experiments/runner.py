"""Run CPU-bound tasks pinned to one CPU, each in its own weighted cgroup
(or at a nice value), and read how much CPU each has had over time from
the loaded instance.  Every task and group is gone after, also on Ctrl-C
or a failure."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator import workload
from orchestrator.errors import LotteryError
from orchestrator.kernel import snapshot
from orchestrator.kernel.cgroups import BASE_SHARES, Cgroups
from orchestrator.paths import Pins


@dataclass(frozen=True)
class Task:
    name: str
    cgroup: Path | None = None  # its group; None: the caller's, at `nice`
    nice: int = 0
    start_s: float = 0.0        # when it starts, from the run's start


# (seconds since the start, CPU ns each started task has had)
Timeline = list[tuple[float, dict[str, int]]]


def run(pins: Pins, tasks: list[Task], cpu: int, duration_s: float, step_s: float
        ) -> Timeline:
    """Start the tasks (each at its start time), read every `step_s` for
    `duration_s`, stop them; return the readings."""
    pids: dict[str, int] = {}
    timeline: Timeline = []
    begin = time.monotonic()
    try:
        tick = 0
        while True:
            now = time.monotonic() - begin
            for task in tasks:
                if task.name not in pids and task.start_s <= now:
                    left = duration_s - task.start_s + 2 * step_s + 1
                    pids[task.name] = workload.start(task.nice, left, cpu,
                                                     cgroup=task.cgroup)[0]
            runtime = {t.pid: t.runtime_ns for t in snapshot.take(pins).tasks}
            missing = [name for name, pid in pids.items() if pid not in runtime]
            if missing:
                raise LotteryError(f"task {missing[0]} is not in the instance's snapshot",
                                   "is the instance loaded with room (lottery status)?")
            timeline.append((now, {name: runtime[pid] for name, pid in pids.items()}))
            if now >= duration_s:
                return timeline
            tick += 1
            time.sleep(max(0.0, begin + tick * step_s - time.monotonic()))
    finally:
        workload.stop(pids.values())
        workload.wait(pids.values())


def between(timeline: Timeline, start_s: float, end_s: float) -> tuple[float, dict[str, int]]:
    """The seconds from the first reading at or after `start_s` to the last
    at or before `end_s`, and the CPU ns each task had in them."""
    t0, first = next((t, r) for t, r in timeline if t >= start_s)
    t1, last = next((t, r) for t, r in reversed(timeline) if t <= end_s)
    return t1 - t0, {name: last[name] - first.get(name, 0) for name in last}


def weighted_pair(pins: Pins, purpose: str, ratio: tuple[float, float], cpu: int,
                  duration_s: float, step_s: float) -> Timeline:
    """Tasks A and B, each in a cgroup whose weight is its side of `ratio`
    (the smaller side a nice-0 task's weight), run as `run` runs them; the
    groups are gone after."""
    low = min(ratio)
    with Cgroups(purpose) as groups:
        tasks = [Task(name, groups.make(name, round(BASE_SHARES * side / low)))
                 for name, side in zip(("A", "B"), ratio, strict=True)]
        return run(pins, tasks, cpu, duration_s, step_s)
