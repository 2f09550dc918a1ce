"""Small typed records that flow from the parser to metrics and sinks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)  # not frozen: that doubles the cost of building 100k of them
class TaskSample:
    """One task (thread) as the kernel counted it at a snapshot, or at its exit."""

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
    group: int = 0         # id of its task group (Group.id)
    # CLOCK_MONOTONIC when read (for an exit: when it died); a reader's
    # parse.RowMemo keeps the first reading of numbers that have not changed
    sampled_ns: int = 0
    snapshot: int = 0      # live row: the snapshot that wrote it
    exit_seq: int = 0      # exit row: its number in the order of exits
    ppid: int = 0          # its parent's tgid
    # (pid, start_ns): which task it is; kept, as every stage looks it up
    key: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.key = (self.pid, self.start_ns)

    @property
    def switches(self) -> int:
        """Context switches out of the CPU, as /proc/PID/status counts them."""
        return self.voluntary_switches + self.involuntary_switches


@dataclass(frozen=True, slots=True)
class Group:
    """A task group: a cgroup, an autogroup (one per session) or the root.

    The scheduler splits a parent's weight among its children by their
    weights: the lottery paper's currencies.  `exited_*` are the totals of
    tasks that died in it; they only grow."""

    id: int
    parent: int         # 0 for the root
    kind: str           # "root", "cgroup" or "autogroup"
    number: int         # cgroup id or autogroup number
    name: str           # cgroup directory name; "" for the others
    shares: int         # tg->shares in the kernel's fixed point
    idle: bool          # cpu.idle set: weighted like SCHED_IDLE
    exits: int = 0
    exited_runtime_ns: int = 0
    exited_wait_ns: int = 0
    exited_runs: int = 0
    exited_switches: int = 0


@dataclass(frozen=True, slots=True)
class CpuIdle:
    """Idle time of one CPU since boot, at a snapshot."""

    cpu: int
    idle_ns: int


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """The line the snapshot iterator prints when it is read."""

    snapshot: int
    snapshot_ns: int    # CLOCK_MONOTONIC when the walk started
    end_ns: int         # and when it ended
    rows: int           # live rows it wrote
    dropped: int        # live tasks it could not write (the map was full)
    exits: int          # exits recorded before it started
    exits_lost: int     # exit rows never written, since load
    groups_lost: int    # groups that did not fit, since load
    live_rows: int      # rows in the map after it
    exit_rows: int


@dataclass(frozen=True)
class Snapshot:
    """Everything one sample read from the kernel."""

    info: SnapshotInfo
    timestamp_s: float  # wall clock of snapshot_ns, for CSV
    tasks: tuple[TaskSample, ...]  # the live rows this snapshot wrote
    exits: tuple[TaskSample, ...]  # every exit row in the map, oldest first
    idle: tuple[CpuIdle, ...]
    groups: dict[int, Group]
