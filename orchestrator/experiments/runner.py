"""Run CPU-bound tasks pinned to one CPU, each in its own weighted cgroup
(or at a nice value), and read how much CPU each has had over time from
the loaded instance.  Every task and group is gone after, also on Ctrl-C
or a failure."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator import units, workload
from orchestrator.analysis.frames import bpftool_source
from orchestrator.errors import LotteryError
from orchestrator.kernel.cgroups import BASE_SHARES, Cgroups
from orchestrator.paths import Pins
from orchestrator.records import Snapshot
from orchestrator.sampling.sampler import Sampler


@dataclass(frozen=True)
class Task:
    name: str
    cgroup: Path | None = None  # its group; None: the caller's, at `nice`
    nice: int = 0
    start_s: float = 0.0        # when it starts, from the run's start


# (seconds since the start, CPU ns each started task has had)
Timeline = list[tuple[float, dict[str, int]]]


def _exit_status(pid: int) -> int | None:
    """How a child ended (as subprocess gives it), or None while it runs; it
    is left to be reaped by run's end, which waits for every task."""
    try:
        ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return 0
    if ended is None:
        return None
    return ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status


def _missing(name: str, pid: int, snap: Snapshot) -> LotteryError:
    """Why a task of the run is not in a snapshot, as far as can be told."""
    status = _exit_status(pid)
    if status is not None:
        return LotteryError(f"task {name} (pid {pid}) ended early (status {status})",
                            "something killed it: run the experiment again")
    if snap.info.dropped:
        return LotteryError(f"task {name} (pid {pid}) did not fit in the instance's task map "
                            f"({snap.info.dropped} live tasks left out)",
                            "reload with sudo lottery load --force --max-tasks N")
    return LotteryError(f"task {name} (pid {pid}) is not in snapshot {snap.info.snapshot} of "
                        "the instance", "run lottery status, then the experiment again")


def run(pins: Pins, tasks: list[Task], cpu: int, duration_s: float, step_s: float
        ) -> Timeline:
    """Start the tasks (each at its start time), read them through the
    sampler every `step_s` for `duration_s`, stop them; return the readings,
    each at the moment its snapshot's walk began."""
    pids: dict[str, int] = {}
    timeline: Timeline = []
    source = bpftool_source(pins)
    begin = time.monotonic()
    try:
        _start(tasks, pids, cpu, duration_s, 0.0)
        for tick in Sampler(source.take, step_s).ticks():
            snap = tick.snapshot
            now = units.s(snap.info.start_ns) - begin  # CLOCK_MONOTONIC, as time.monotonic()
            runtime = {t.pid: t.runtime_ns for t in snap.tasks}
            for name, pid in pids.items():
                if pid not in runtime:
                    raise _missing(name, pid, snap)
            timeline.append((now, {name: runtime[pid] for name, pid in pids.items()}))
            if now >= duration_s:
                return timeline
            _start(tasks, pids, cpu, duration_s, now)
        return timeline
    finally:
        source.close()
        workload.stop(pids.values())
        workload.wait(pids.values())


# A task runs until the run stops it, however the run ends, or dies with it
# (workload's parent-death signal): its own time limit is only a bound, and
# must not end it first when a busy machine makes the run's readings late.
OUTLIVE_S = 3600.0


def _start(tasks: list[Task], pids: dict[str, int], cpu: int, duration_s: float,
           now: float) -> None:
    """Start the tasks whose time has come; each runs past the run's end."""
    for task in tasks:
        if task.name not in pids and task.start_s <= now:
            left = duration_s - task.start_s + OUTLIVE_S
            pids[task.name] = workload.start(task.nice, left, cpu, cgroup=task.cgroup)[0]


def between(timeline: Timeline, start_s: float, end_s: float) -> tuple[float, dict[str, int]]:
    """The seconds from the first reading at or after `start_s` to the last
    at or before `end_s`, and the CPU ns each task had in them.  On a busy
    machine readings can come late: without two readings in that window
    there is no measurement, and no number is made up."""
    first = next(((t, r) for t, r in timeline if t >= start_s), None)
    last = next(((t, r) for t, r in reversed(timeline) if t <= end_s), None)
    if first is None or last is None or last[0] <= first[0]:
        taken = ", ".join(f"{t:.2f}" for t, _ in timeline)
        raise LotteryError(f"no two readings between {start_s:.2f} s and {end_s:.2f} s of the "
                           f"run (readings at {taken} s): sampling took longer than the run",
                           "run it with a longer --duration, or on a less busy machine")
    span = last[0] - first[0]
    ran = {name: last[1][name] - first[1].get(name, 0) for name in last[1]}
    idle = [name for name, ns in ran.items() if ns <= 0]
    if idle:
        raise LotteryError(f"task {idle[0]} had no CPU time from {first[0]:.2f} s to "
                           f"{last[0]:.2f} s of the run, so no share can be measured",
                           "run it on a CPU other tasks do not hold (--cpu N)")
    return span, ran


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
