"""Snapshots -> per-task rows with deltas, and the conservation check."""

from __future__ import annotations

from dataclasses import dataclass, replace
from operator import attrgetter

from orchestrator.analysis.tickets import TicketModel
from orchestrator.kernel.records import CpuIdle, Snapshot, TaskSample


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A task at a sample, with what changed since the previous sample.

    Deltas are None on the first sample, when there is nothing to subtract."""

    task: TaskSample
    tickets: int | None
    runtime_delta_ns: int | None
    wait_delta_ns: int | None
    switches_delta: int | None
    runs_delta: int | None = None  # times switched in
    unseen_exits: int = 0  # > 0: not a task but the exits of its group nobody saw


@dataclass(frozen=True, slots=True)
class IdleRow:
    idle: CpuIdle
    idle_delta_ns: int | None


@dataclass(frozen=True, slots=True)
class Conservation:
    """Task runtime plus idle time against the CPU time that passed."""

    cpus: int
    interval_ns: int
    busy_ns: int
    idle_ns: int

    @property
    def capacity_ns(self) -> int:
        return self.cpus * self.interval_ns

    @property
    def error(self) -> float:
        """Relative error: 0.0 when every nanosecond is accounted for once."""
        return (self.busy_ns + self.idle_ns - self.capacity_ns) / self.capacity_ns


@dataclass(frozen=True)
class Sample:
    snapshot: Snapshot
    tasks: list[TaskRow]           # live tasks, then the tasks that exited in the interval
    idle: list[IdleRow]
    conservation: Conservation | None
    exits_missed: int = 0          # exits in the interval whose rows were gone

    def with_tasks(self, tasks: list[TaskRow]) -> Sample:
        """The same sample showing only `tasks` (a view's filter)."""
        return replace(self, tasks=tasks)


def _delta(now: int, before: int | None) -> int | None:
    return None if before is None else now - before


def _row(task: TaskSample, old: TaskSample | None, tickets: TicketModel) -> TaskRow:
    return TaskRow(
        task=task,
        tickets=tickets(task.nice, task.policy),
        runtime_delta_ns=_delta(task.runtime_ns, old and old.runtime_ns),
        wait_delta_ns=_delta(task.wait_ns, old and old.wait_ns),
        switches_delta=_delta(task.switches, old and old.switches),
        runs_delta=_delta(task.runs, old and old.runs),
    )


def _is_quiet(row: TaskRow) -> bool:
    return (row.runtime_delta_ns == 0 and row.wait_delta_ns == 0 and row.switches_delta == 0
            and row.runs_delta == 0)


def _zero(task: TaskSample) -> TaskSample:
    return TaskSample(task.pid, task.start_ns, task.tgid, task.comm, task.nice, task.policy,
                      task.cpu, 0, 0, 0, 0, 0, 0, False, task.cpus_allowed, task.group)


_KEY = attrgetter("key")
_RUNTIME_DELTA = attrgetter("runtime_delta_ns")

# A task that left the task list before its exit was numbered (it was dying
# while the walk passed) keeps its last numbers this many samples, for its exit.
_CARRY_SAMPLES = 4


class Reader:
    """One reader's view of an instance: turns its successive snapshots into
    samples with deltas.  It keeps its own place in the order of exits, so
    any number of readers each see every exit, and no reader changes what
    another sees."""

    def __init__(self, tickets: TicketModel):
        self._tickets = tickets
        self._prev: Snapshot | None = None
        self._known: dict[tuple[int, int], TaskSample] = {}  # last numbers seen per task
        self._age: dict[tuple[int, int], int] = {}  # samples since a known task was live
        self._retired: dict[int, list[int]] = {}
        # by the id of their task sample: the live rows with nothing new, and
        # the last snapshot's task samples
        self._quiet: dict[int, TaskRow] = {}
        self._by_id: dict[int, TaskSample] = {}

    @property
    def exits_from(self) -> int:
        """The first exit this reader has not counted: older exit rows need
        not even be read (snapshot.take).  A baseline counts none."""
        return self._prev.info.exits if self._prev else 1 << 64

    def advance(self, cur: Snapshot) -> Sample:
        """Return the sample from the previous snapshot to `cur` (deltas are
        None on the first, which is a baseline)."""
        prev = self._prev
        since_ns = prev.info.snapshot_ns if prev else None
        # A task the previous snapshot did not see started after it, unless
        # that snapshot left tasks out (the map was full).  Its start time
        # alone cannot tell: fork sets it before the task joins the task list.
        complete = prev is not None and not prev.info.dropped

        def baseline(task: TaskSample) -> TaskSample | None:
            old = self._known.get(task.key)
            if old is None and (complete or (since_ns is not None and task.start_ns >= since_ns)):
                old = _zero(task)  # started in the interval: counts from zero
            return old

        # A task whose row is the very object of the last snapshot (RowMemo)
        # and was quiet then too has the same row again.  Looked up by the
        # object's id, in bulk: the quiet rows hold their tasks, so no other
        # object can have that id meanwhile.
        tasks = cur.tasks
        ids = list(map(id, tasks))
        rows = list(map(self._quiet.get, ids))
        fresh = [i for i, row in enumerate(rows) if row is None]
        for i in fresh:
            t = tasks[i]
            rows[i] = _row(t, baseline(t), self._tickets)
        quiet = dict(zip(ids, rows, strict=True))
        for i in fresh:
            if not _is_quiet(rows[i]):
                del quiet[ids[i]]
        self._quiet = quiet
        mine: list[TaskSample] = []
        missed = 0
        if prev is not None:
            first, last = prev.info.exits, cur.info.exits
            mine = [t for t in cur.exits if first <= t.exit_seq < last]
            missed = (last - first) - len(mine)
            rows += [_row(t, baseline(t), self._tickets) for t in mine]
        retired = retired_totals(cur)
        if missed and complete and not cur.info.dropped:
            vanished = self._vanished(cur, mine)
            rows += _unseen(self._retired, retired, mine, vanished, cur)
            for task in vanished:  # counted with the unseen exits: not carried
                del self._known[task.key]
        self._retired = retired
        self._remember(cur, ids, [tasks[i] for i in fresh], {t.key for t in mine})
        idle_before = {i.cpu: i.idle_ns for i in prev.idle} if prev else {}
        idle = [IdleRow(i, _delta(i.idle_ns, idle_before.get(i.cpu))) for i in cur.idle]
        self._prev = cur
        return Sample(cur, rows, idle, _conservation(prev, cur, rows, idle), missed)

    def _vanished(self, cur: Snapshot, counted: list[TaskSample]) -> list[TaskSample]:
        """Known tasks that left the task list with no exit this sample counted
        and none numbered after its walk began: dying still, or their exit
        row is gone."""
        here = {t.key for t in cur.tasks} | {t.key for t in counted}
        here |= {t.key for t in cur.exits if t.exit_seq >= cur.info.exits}
        return [t for key, t in self._known.items() if key not in here]

    def _remember(self, cur: Snapshot, ids: list[int], fresh: list[TaskSample],
                  exited: set[tuple[int, int]]) -> None:
        """Keep each task's last numbers, those of a task no longer live for
        a few samples (its exit may come later).  Only what changed is
        visited: a task whose sample is the same object as before is known
        already, and the objects that left are found by id, in bulk."""
        known, age = self._known, self._age
        by_id = dict(zip(ids, cur.tasks, strict=True))
        live_again = {t.key for t in fresh}
        for t in fresh:
            known[t.key] = t
        missing = set(age)
        last = self._by_id
        missing.update(last[i].key for i in last.keys() - by_id.keys())
        for key in missing:
            if key in live_again:
                age.pop(key, None)
            elif key in exited or key not in known:
                known.pop(key, None)
                age.pop(key, None)
            elif (samples := age.get(key, 0) + 1) <= _CARRY_SAMPLES:
                age[key] = samples
            else:
                del known[key], age[key]
        self._by_id = by_id


# Per group: runtime_ns, wait_ns, runs, switches, exits.
_ZERO = (0, 0, 0, 0, 0)


def _numbers(t: TaskSample, exits: int) -> tuple[int, ...]:
    return (t.runtime_ns, t.wait_ns, t.runs, t.switches, exits)


def _add(acc: dict[int, list[int]], gid: int, values: tuple[int, ...], sign: int = 1) -> None:
    into = acc.setdefault(gid, list(_ZERO))
    for i, value in enumerate(values):
        into[i] += sign * value


def retired_totals(snap: Snapshot) -> dict[int, list[int]]:
    """What the tasks that had died in each group when the walk began used in
    all: the group's totals, which only grow, less the exits numbered between
    the walk and the reading of the groups (their rows are the newest of the
    task map, which is read after the groups)."""
    totals: dict[int, list[int]] = {}
    for g in snap.groups.values():
        _add(totals, g.id, (g.exited_runtime_ns, g.exited_wait_ns, g.exited_runs,
                            g.exited_switches, g.exits))
    read = sum(g.exits for g in snap.groups.values())  # exits numbered when groups were read
    for t in snap.exits:
        if snap.info.exits <= t.exit_seq < read:
            _add(totals, t.group, _numbers(t, 1), -1)
    return totals


def _unseen(before: dict[int, list[int]], now: dict[int, list[int]], seen: list[TaskSample],
            vanished: list[TaskSample], cur: Snapshot) -> list[TaskRow]:
    """One row for the exits whose rows left the map before this reader saw
    them: what all dead tasks used in the interval, less the exits it saw,
    less what it had already counted of the tasks that vanished.  Summed over
    all groups, because an idle group's totals move to the "gone" entry."""
    counted = [0] * len(_ZERO)
    for t in seen:
        counted = [c + v for c, v in zip(counted, _numbers(t, 1), strict=True)]
    for t in vanished:
        counted = [c + v for c, v in zip(counted, _numbers(t, 0), strict=True)]
    total_now = [sum(col) for col in zip(*now.values(), strict=True)] if now else list(_ZERO)
    total_before = [sum(col) for col in zip(*before.values(), strict=True)] if before \
        else list(_ZERO)
    runtime, wait, runs, switches, count = (
        n - b - c for n, b, c in zip(total_now, total_before, counted, strict=True))
    if count <= 0:
        return []
    # Its "totals" are what those exits used in the interval: all that is known.
    task = TaskSample(0, 0, 0, f"({count} exits not seen)", 0, 0, 0, max(runtime, 0),
                      max(wait, 0), 0, max(runs, 0), max(switches, 0), 0, True, 0, 0,
                      cur.info.snapshot_ns)
    return [TaskRow(task, None, max(runtime, 0), max(wait, 0), max(switches, 0), max(runs, 0),
                    unseen_exits=count)]


def compare(prev: Snapshot | None, cur: Snapshot, tickets: TicketModel) -> Sample:
    """The sample between two snapshots, for a reader that took only these."""
    reader = Reader(tickets)
    if prev is not None:
        reader.advance(prev)
    return reader.advance(cur)


def _conservation(prev: Snapshot | None, cur: Snapshot, rows: list[TaskRow],
                  idle: list[IdleRow]) -> Conservation | None:
    if prev is None or not idle or any(i.idle_delta_ns is None for i in idle):
        return None
    interval_ns = cur.info.snapshot_ns - prev.info.snapshot_ns
    if interval_ns <= 0:
        return None
    return Conservation(
        cpus=len(idle),
        interval_ns=interval_ns,
        busy_ns=sum(filter(None, map(_RUNTIME_DELTA, rows))),
        idle_ns=sum(i.idle_delta_ns or 0 for i in idle),
    )
