"""Small typed records that flow from the parser to metrics and sinks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)  # not frozen: that doubles the cost of building 100k of them
class TaskSample:
    """One task (thread) as the kernel counted it at a snapshot."""

    pid: int
    start_ns: int  # with pid, tells a reused pid from its predecessor
    tgid: int
    comm: str
    nice: int
    policy: int
    cpu: int
    runtime_ns: int
    wait_ns: int
    wait_max_ns: int
    runs: int
    voluntary_switches: int
    involuntary_switches: int
    exited: bool
    cpus_allowed: int = 0  # CPUs it may run on; 1 means pinned to `cpu`

    @property
    def key(self) -> tuple[int, int]:
        return (self.pid, self.start_ns)

    @property
    def switches(self) -> int:
        """Context switches out of the CPU, as /proc/PID/status counts them."""
        return self.voluntary_switches + self.involuntary_switches


@dataclass(frozen=True, slots=True)
class CpuIdle:
    """Idle time of one CPU since load, at a snapshot."""

    cpu: int
    idle_ns: int


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """The counters the snapshot iterator prints when it is read."""

    snapshot: int
    snapshot_ns: int  # CLOCK_MONOTONIC
    entries: int
    dropped: int


@dataclass(frozen=True)
class Snapshot:
    """Everything one sample read from the kernel."""

    info: SnapshotInfo
    timestamp_s: float  # wall clock, for CSV
    tasks: tuple[TaskSample, ...]
    idle: tuple[CpuIdle, ...]
