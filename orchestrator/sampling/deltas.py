"""Snapshots -> per-task rows with deltas, and the conservation check."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from operator import attrgetter

from orchestrator.records import Change, CpuIdle, CpuWaits, Group, Key, Snapshot, TaskSample


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRow:
    """A task at a sample, with what changed since the previous sample.

    Deltas are None on the first sample, when there is nothing to subtract."""

    task: TaskSample
    runtime_delta_ns: int | None
    wait_delta_ns: int | None
    switches_delta: int | None
    runs_delta: int | None
    unseen_exits: int = 0  # > 0: not a task but the exits of its group nobody saw
    # switches out while still runnable (preempted): the ones that say it
    # wanted more than it got
    involuntary_delta: int | None = None
    # the thread that called exec and took this key over in the interval:
    # the deltas go on from its numbers (Reader._exec_takeovers)
    exec_from: int | None = None
    # its run-queue waits in the interval by log2 slot of microseconds
    # (struct task_stats.waits); None: not known
    waits_delta: tuple[int, ...] | None = None
    # the longest of them, exactly (TaskSample.wait_longest_ns); None: not known
    wait_longest_ns: int | None = None

    @property
    def quiet(self) -> bool:
        """Nothing moved in the interval: it neither ran, nor waited, nor switched."""
        return (self.runtime_delta_ns == 0 and self.wait_delta_ns == 0
                and self.switches_delta == 0 and self.runs_delta == 0
                and not self.wait_longest_ns)


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


@dataclass(frozen=True, slots=True)
class Throttling:
    """What a task group's CPU bandwidth counters moved by in the interval."""

    periods: int
    throttled_periods: int
    throttled_ns: int  # summed over its CPUs, as cpu.stat counts it


def throttling(groups: dict[int, Group], before: dict[int, Group]) -> dict[int, Throttling]:
    """The interval's throttling of every limited group that both snapshots
    hold (a group new to the map has no baseline: its counters may have run
    long before).  A counter that went back (a cgroup removed and its id's
    group made anew) is no throttling."""
    out = {}
    for gid, g in groups.items():
        old = before.get(gid)
        if g.quota_ns and old is not None:
            out[gid] = Throttling(max(0, g.periods - old.periods),
                                  max(0, g.throttled_periods - old.throttled_periods),
                                  max(0, g.throttled_ns - old.throttled_ns))
    return out


@dataclass(frozen=True)
class Sample:
    snapshot: Snapshot
    tasks: list[TaskRow]           # live tasks, then the tasks that exited in the interval
    idle: list[IdleRow]
    conservation: Conservation | None
    exits_missed: int = 0          # exits in the interval whose rows were gone
    exits: int = 0                 # exits numbered in the interval
    # exits of tasks no walk found alive that the walk summed by group instead
    # of listing (beyond `load --listed-exits`): one summed row per group
    exits_passed: int = 0
    # How its live rows differ from the sample before's (numbered by the
    # snapshot it was read from): the rows made again, and the tasks that
    # left.  Every other row is quiet, as it was then.  None: all are new.
    change: Change | None = None
    throttled: dict[int, Throttling] = field(default_factory=dict)  # by group id
    # the run-queue waits that ended on each CPU in the interval
    cpu_waits: tuple[CpuWaits, ...] = ()

    @property
    def interval_ns(self) -> int:
        return self.conservation.interval_ns if self.conservation else 0


def _delta(now: int, before: int | None) -> int | None:
    return None if before is None else now - before


_U32 = 0xFFFF_FFFF


def waits_delta(now: tuple[int, ...], before: tuple[int, ...] | None
                ) -> tuple[int, ...] | None:
    """What a task's wait slots moved by: its counters are 32-bit and wrap,
    so each difference is taken modulo 2^32 (an interval has fewer waits).
    A baseline with no slots (a task counted from zero) counts them all."""
    if before is None or not now:
        return None
    if not before:
        return now
    moved = tuple((n - b) & _U32 for n, b in zip(now, before, strict=True))
    # a slot that went back (not the same task's counters: a wrong baseline)
    # would read as four billion waits
    return None if any(n >= 1 << 31 for n in moved) else moved


def _row(task: TaskSample, old: TaskSample | None) -> TaskRow:
    return TaskRow(
        task=task,
        runtime_delta_ns=_delta(task.runtime_ns, old and old.runtime_ns),
        wait_delta_ns=_delta(task.wait_ns, old and old.wait_ns),
        switches_delta=_delta(task.switches, old and old.switches),
        runs_delta=_delta(task.runs, old and old.runs),
        involuntary_delta=_delta(task.involuntary_switches, old and old.involuntary_switches),
        waits_delta=waits_delta(task.waits, None if old is None else old.waits),
        # a task the walk did not write again (the same sample as before)
        # had no wait end since
        wait_longest_ns=None if old is None else _longest(task, old),
    )


def _longest(task: TaskSample, before: TaskSample | None) -> int | None:
    """The longest wait that ended in the interval: none for a task the walk
    did not write again (the same sample as before); not known from an
    instance that keeps none."""
    if task.wait_longest_ns is None:
        return None
    return 0 if task is before else task.wait_longest_ns


def _zero(task: TaskSample) -> TaskSample:
    return replace(task, runtime_ns=0, wait_ns=0, wait_max_ns=0, runs=0, voluntary_switches=0,
                   involuntary_switches=0, exited=False, exit_seq=0, waits=(),
                   wait_longest_ns=0)


# What a task that started in the interval is counted from (only its
# numbers are read: one made per task cost 15 us, at thousands of exits a second)
_ZEROS = TaskSample(pid=0, start_ns=0, tgid=0, ppid=0, comm="", nice=0, policy=0, cpu=0,
                    cpus_allowed=0, runtime_ns=0, wait_ns=0, wait_max_ns=0, runs=0,
                    voluntary_switches=0, involuntary_switches=0, group=0)

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

    def __init__(self) -> None:
        self._prev: Snapshot | None = None
        self._known: dict[Key, TaskSample] = {}  # last numbers seen per task
        self._age: dict[Key, int] = {}  # samples since a known task was live
        self._retired: tuple[int, ...] = _ZERO
        self._retired_waits: tuple[int, ...] = ()
        self._rows: dict[Key, TaskRow] = {}  # the last sample's row of each live task
        self._moving: set[Key] = set()  # of those, the ones where something moved

    def advance(self, cur: Snapshot) -> Sample:
        """Return the sample from the previous snapshot to `cur` (deltas are
        None on the first, which is a baseline)."""
        prev = self._prev
        since_ns = prev.info.start_ns if prev else None
        # A task the previous snapshot did not see started after it, unless
        # that snapshot left tasks out (the map was full).  Its start time
        # alone cannot tell: fork sets it before the task joins the task list.
        complete = prev is not None and not prev.info.dropped

        def baseline(task: TaskSample) -> TaskSample | None:
            old = self._known.get(task.key)
            if old is None and (complete or (since_ns is not None and task.start_ns >= since_ns)):
                old = _ZEROS  # started in the interval: counts from zero
            return old

        change = cur.change
        if change is not None and (prev is None or not change.follows(prev.info.snapshot)):
            change = None  # not told against the snapshot it took before: all anew
        before = self._rows
        left: set[Key] = set()
        if change is not None:
            # comprehensions over what changed: set operations with a dict's
            # keys may walk the whole dict
            left = {k for k in change.left if k in before}
            new = sum(1 for k in change.changed if k not in before)
            if len(before) - len(left) + new != len(cur.tasks):
                change = None  # not the rows this reader holds: start afresh
        if change is not None:
            # Only what changed is visited: a task whose numbers are those of
            # the last sample, where nothing moved, has the same row again.
            live: dict[Key, TaskSample] = change.changed
            touched = {*change.changed, *(k for k in self._moving if k not in left)}
            touched.difference_update(left)
        else:
            live = dict(zip(map(_KEY, cur.tasks), cur.tasks, strict=True))
            left = before.keys() - live.keys()
            touched = live.keys()
        mine: list[TaskSample] = []
        missed = numbered = passed = 0
        if prev is not None:
            first, last = prev.info.exits, cur.info.exits
            mine = [t for t in cur.exits if first <= t.exit_seq < last]
            numbered = max(0, last - first)
            passed = sum(t.exit_seq for t in cur.summed)  # each sums exit_seq exits
            missed = numbered - len(mine) - passed
        # exec from a thread: keys whose task another thread became.  Looked
        # for among every live task: a thread that called exec while the walk
        # before ran was written then, and may be unchanged since.
        if mine and change is not None:
            live = {**{t.key: before[t.key].task for t in mine
                       if t.key in before and t.key not in left}, **change.changed}
        took_over, overwritten = self._exec_takeovers(mine, set(left), live, complete) \
            if mine else ({}, [])
        if change is not None:
            touched.update(k for k in took_over if len(k) == 2)  # made again from the thread
        rows = before if change is not None else {}
        for key in left:
            rows.pop(key, None)
        fresh: dict[Key, TaskRow] = {}
        for key in touched:
            t = live[key] if key in live else before[key].task
            thread = took_over.get(key)
            fresh[key] = _row(t, baseline(t)) if thread is None else \
                replace(_row(t, thread), exec_from=thread.pid,  # pid 0: a thread never seen
                        wait_longest_ns=_longest(t, self._known.get(key)))
        rows.update(fresh)
        self._rows = rows
        self._moving = {key for key, row in fresh.items() if not row.quiet}
        # the walk's sums of the exits it passed over, by group: all used
        # in the interval (they started after the walk before)
        ended = [_whole(replace(t, comm=f"({t.exit_seq} exits summed)"), t.exit_seq,
                        t.involuntary_switches, t.wait_longest_ns)
                 for t in cur.summed] if prev is not None else []
        for t in mine:
            thread = took_over.get((t.pid, t.start_ns, "exit")) if took_over else None
            ended.append(_row(t, baseline(t)) if thread is None else
                         replace(_row(t, thread), exec_from=thread.pid))
        retired = retired_totals(cur)
        if missed and complete and not cur.info.dropped:
            # a leader whose exit row its successor's replaced: counted to
            # its last numbers already, as a task that vanished is
            vanished = self._vanished(cur, mine) + overwritten
            ended += _unseen(self._retired, retired, mine, cur.summed, vanished,
                             self._retired_waits, cur.info.retired_waits)
            for task in vanished:  # counted with the unseen exits: not carried
                self._known.pop(task.key, None)
        self._retired, self._retired_waits = retired, cur.info.retired_waits
        self._remember(set(left), [row.task for row in fresh.values()], {t.key for t in mine})
        idle_before = {i.cpu: i.idle_ns for i in prev.idle} if prev else {}
        idle = [IdleRow(i, _delta(i.idle_ns, idle_before.get(i.cpu))) for i in cur.idle]
        self._prev = cur
        # the rows not visited are quiet: their deltas add nothing
        moved = [*fresh.values(), *ended]
        return Sample(cur, [*rows.values(), *ended], idle,
                      _conservation(prev, cur, moved, idle), missed, numbered,
                      passed, None if change is None else Change(prev.info.snapshot, fresh,
                                                                 frozenset(left)),
                      throttling(cur.groups, prev.groups) if prev else {},
                      _cpu_waits(prev, cur))

    def _exec_takeovers(self, exits: list[TaskSample], left: set[Key],
                        live: dict[Key, TaskSample], complete: bool
                        ) -> tuple[dict, list[TaskSample]]:
        """Live tasks whose key another thread took over by calling exec.

        exec from a thread other than the leader kills the leader, whose
        exit row keeps its key (pid, start), and gives that pid and start
        time to the thread that called it (de_thread: exchange_tids), with
        the thread's own numbers.  So a key with an exit row in the interval
        that is live again is that thread: its numbers go on from the
        thread's last ones, not the leader's (they went back: a row of
        -501 ms, an exporter counter that fell).  The thread is the one of
        its process that left the task list with no exit, whose numbers are
        the highest not above the key's; the key's row says which
        (exec_from).  The thread is counted there, not as gone.  `live`
        holds at least every live task whose key an exit has."""
        ended = {t.key for t in exits}
        out: dict = {}
        overwritten: list[TaskSample] = []
        for key in [k for k in ended if k in live]:
            thread = self._thread_of(live[key], left, ended, complete)
            if thread is not None:
                out[key] = thread
        # The thread may have exited too before the next sample: its exit row
        # then replaced its leader's (one key), with numbers below the
        # leader's last ones.
        for t in exits:
            known = self._known.get(t.key)
            if known is not None and known.runtime_ns > t.runtime_ns and t.key not in out:
                thread = self._thread_of(t, left, ended, complete)
                if thread is not None:
                    out[(t.pid, t.start_ns, "exit")] = thread
                    overwritten.append(known)
        return out, overwritten

    def _thread_of(self, task: TaskSample, left: set[Key], ended: set[Key],
                   complete: bool) -> TaskSample | None:
        """The last numbers of the thread of `task`'s process that called
        exec: the one that left the task list with no exit row, whose runtime
        is the highest not above the task's; zeros when this reader never
        saw it (it started after the snapshot before, if that one held every
        task); None when that cannot be told."""
        threads = [self._known[k] for k in left
                   if k not in ended and k in self._known and k[0] != task.pid
                   and self._known[k].tgid == task.tgid
                   and self._known[k].runtime_ns <= task.runtime_ns]
        if not threads:
            return replace(_zero(task), pid=0) if complete else None
        thread = max(threads, key=lambda t: t.runtime_ns)
        left.discard(thread.key)
        del self._known[thread.key]
        self._age.pop(thread.key, None)
        return thread

    def _vanished(self, cur: Snapshot, counted: list[TaskSample]) -> list[TaskSample]:
        """Known tasks that left the task list with no exit this sample counted
        and none numbered after its walk began: dying still, or their exit
        row is gone."""
        here = self._rows.keys() | {t.key for t in counted}
        here |= {t.key for t in cur.exits if t.exit_seq >= cur.info.exits}
        return [t for key, t in self._known.items() if key not in here]

    def _remember(self, left: set[Key], fresh: list[TaskSample], exited: set[Key]) -> None:
        """Keep each task's last numbers, those of a task no longer live for
        a few samples (its exit may come later).  Only what changed is
        visited: a task whose numbers did not change is known already, and
        `left` holds the tasks live in the sample before and not in this one."""
        known, age = self._known, self._age
        for t in fresh:
            known[t.key] = t
        live_again = {t.key for t in fresh}
        for key in left | age.keys():
            if key in live_again:
                age.pop(key, None)
            elif key in exited or key not in known:
                known.pop(key, None)
                age.pop(key, None)
            elif (samples := age.get(key, 0) + 1) <= _CARRY_SAMPLES:
                age[key] = samples
            else:
                del known[key], age[key]


# Totals of exited tasks: runtime_ns, wait_ns, runs, switches, exits.
_ZERO = (0, 0, 0, 0, 0)


def _numbers(t: TaskSample, exits: int) -> tuple[int, ...]:
    return (t.runtime_ns, t.wait_ns, t.runs, t.switches, exits)


def retired_totals(snap: Snapshot) -> tuple[int, ...]:
    """What the tasks that had exited when the walk began used in all, as the
    program summed them (struct snapshot_info's retired_*): runtime, wait,
    runs, switches, exits."""
    info = snap.info
    return (info.retired_runtime_ns, info.retired_wait_ns, info.retired_runs,
            info.retired_switches, info.exits)


def _unseen(before: tuple[int, ...], now: tuple[int, ...], seen: list[TaskSample],
            summed: tuple[TaskSample, ...], vanished: list[TaskSample],
            waits_before: tuple[int, ...], waits_now: tuple[int, ...]) -> list[TaskRow]:
    """One row for the exits whose rows left the map before this reader saw
    them: what all tasks that exited in the interval used, less the exits it
    saw (one each) and the walk summed (exit_seq each), less what it had
    already counted of the tasks that vanished; their waits by slot alike."""
    counted = [0] * len(_ZERO)
    for t in seen:
        counted = [c + v for c, v in zip(counted, _numbers(t, 1), strict=True)]
    for t in summed:
        counted = [c + v for c, v in zip(counted, _numbers(t, t.exit_seq), strict=True)]
    for t in vanished:
        counted = [c + v for c, v in zip(counted, _numbers(t, 0), strict=True)]
    runtime, wait, runs, switches, count = (
        n - b - c for n, b, c in zip(now, before, counted, strict=True))
    if count <= 0:
        return []
    runtime, wait, runs, switches = (max(v, 0) for v in (runtime, wait, runs, switches))
    # Its "totals" are what those exits used in the interval: all that is known.
    waits: tuple[int, ...] = ()
    if waits_before and waits_now:
        left = [n - b for n, b in zip(waits_now, waits_before, strict=True)]
        for t in (*seen, *summed, *vanished):
            if t.waits:
                left = [slot - w for slot, w in zip(left, t.waits, strict=True)]
        waits = tuple(max(0, n) for n in left)
    task = TaskSample(pid=0, start_ns=0, tgid=0, ppid=0, comm=f"({count} exits not seen)",
                      nice=0, policy=0, cpu=0, cpus_allowed=0, runtime_ns=runtime, wait_ns=wait,
                      wait_max_ns=0, runs=runs, voluntary_switches=switches,
                      involuntary_switches=0, group=0, exited=True, waits=waits)
    return [_whole(task, count, None, None)]  # the totals do not split switches, nor maxima


def _whole(task: TaskSample, exits: int, involuntary: int | None,
           longest: int | None) -> TaskRow:
    """The row of exits counted together (summed by the walk, or not seen):
    its totals are what those exits used in the interval."""
    return TaskRow(task=task, runtime_delta_ns=task.runtime_ns, wait_delta_ns=task.wait_ns,
                   switches_delta=task.switches, runs_delta=task.runs,
                   involuntary_delta=involuntary, unseen_exits=exits,
                   waits_delta=task.waits or None, wait_longest_ns=longest)


def compare(prev: Snapshot | None, cur: Snapshot) -> Sample:
    """The sample between two snapshots, for a reader that took only these."""
    reader = Reader()
    if prev is not None:
        reader.advance(prev)
    return reader.advance(cur)


def _cpu_waits(prev: Snapshot | None, cur: Snapshot) -> tuple[CpuWaits, ...]:
    """Each CPU's waits in the interval (64-bit counters)."""
    if prev is None or len(prev.cpu_waits) != len(cur.cpu_waits):
        return ()
    return tuple(CpuWaits(tuple(n - b for n, b in zip(now.counts, was.counts, strict=True)),
                          now.sum_ns - was.sum_ns)
                 for now, was in zip(cur.cpu_waits, prev.cpu_waits, strict=True))


def _conservation(prev: Snapshot | None, cur: Snapshot, rows: list[TaskRow],
                  idle: list[IdleRow]) -> Conservation | None:
    if prev is None or not idle or any(i.idle_delta_ns is None for i in idle):
        return None
    interval_ns = cur.info.start_ns - prev.info.start_ns
    if interval_ns <= 0:
        return None
    return Conservation(
        cpus=len(idle),
        interval_ns=interval_ns,
        busy_ns=sum(filter(None, map(_RUNTIME_DELTA, rows))),
        idle_ns=sum(i.idle_delta_ns or 0 for i in idle),
    )
