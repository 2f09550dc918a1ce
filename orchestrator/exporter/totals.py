"""Counters per label (a command name, a process, a task group, a
container's labels together) that only grow, from one reader's successive
frames.

A label's CPU time is what its tasks have used since they started: the
kernel's totals of its live tasks, plus the final numbers of those that
exited while the exporter read.  Each task keeps the label it got when first
seen, so a task's numbers never move from one series to another; a task that
leaves without an exit record this reader saw keeps its last numbers.  Labels
beyond the cap fold into "other" (the first labels seen hold their own series
while they have tasks: a label moved in and out of "other" by how much it
ran would take its counts with it, and counters would go back), and a label
with no task left has no series (its totals are kept, should it come
back).  Everything is read from the frame's records, as the table and the
files read them."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from operator import attrgetter

from orchestrator import waits
from orchestrator.analysis.frames import Frame
from orchestrator.records import NOT_TASKS, Key, TaskRecord

OTHER = "other"
_KEY = attrgetter("key")
# A task gone from the task list may still have its exit numbered later
# (deltas.Reader carries it as long): its last numbers wait that long.
_PENDING_SAMPLES = 5
# Totals of labels with no task left, kept for their return; the oldest go first.
_KEPT_LABELS = 10_000

# What a series is told apart by: a label's value, or the values of several.
Label = Hashable
# Given a frame's tasks, what labels a task (None: not counted here).
Labeller = Callable[[tuple[TaskRecord, ...]], Callable[[TaskRecord], Label | None]]


@dataclass(slots=True)
class Numbers:
    cpu_ns: int = 0
    wait_ns: int = 0
    voluntary: int = 0
    involuntary: int = 0

    def add(self, other: Numbers, sign: int = 1) -> None:
        self.cpu_ns += sign * other.cpu_ns
        self.wait_ns += sign * other.wait_ns
        self.voluntary += sign * other.voluntary
        self.involuntary += sign * other.involuntary

    def copy(self) -> Numbers:
        return Numbers(self.cpu_ns, self.wait_ns, self.voluntary, self.involuntary)

    @staticmethod
    def of(r: TaskRecord) -> Numbers:
        return Numbers(r.runtime_ns, r.wait_ns or 0, r.voluntary_switches or 0,
                       r.involuntary_switches or 0)


@dataclass(slots=True)
class Series:
    """What one label's metrics show after a frame."""

    numbers: Numbers = field(default_factory=Numbers)
    tasks: int = 0           # live tasks
    tickets: int = 0         # tickets of live tasks that ran or waited in the interval
    expected_ns: float = 0.0  # CPU time a lottery would have given it, since the start
    # its tasks' run-queue waits since the start, by slot (orchestrator/waits.py),
    # and what they add up to
    waits: tuple[int, ...] = ()
    waits_ns: int = 0


@dataclass(slots=True)
class _Task:
    label: Label
    wanted: Label     # the label it would have had but for the cap
    numbers: Numbers  # what it counts for in its label: its own less `base`
    missing: int = 0  # frames since it was last seen live
    # a thread that called exec and took this key over: its numbers then,
    # which stay counted in the thread's own label
    base: Numbers | None = None


def _counted(r: TaskRecord, base: Numbers | None) -> Numbers:
    """What record `r` counts for in its label, less `base` (the numbers of
    a thread that took its key over by exec, counted in the thread's label)."""
    numbers = Numbers.of(r)
    if base is not None:
        numbers.add(base, -1)
    return numbers


def _set_runtimes(records: list[TaskRecord]) -> dict[str, int]:
    """What the contending tasks of each contention set ran in the interval,
    as the shares were worked out (a counter that went back is no time)."""
    ran: dict[str, int] = {}
    for r in records:
        if r.contention_group is not None:
            ran[r.contention_group] = ran.get(r.contention_group, 0) + \
                max(0, r.runtime_delta_ns or 0)
    return ran


class Totals:
    """One reader's counters per label; `update` with each frame.  `other`
    is the label of the tasks of labels beyond `max_labels`.  What each
    label's live tasks add up to is kept as they change, so a frame that
    says what changed (Frame.change) costs what changed."""

    def __init__(self, labeller: Labeller, max_labels: int, other: Label = OTHER,
                 sums: bool = False):
        self._labeller = labeller
        # the rows summing a task group's exits (state summed) count too: for
        # labels that name task groups, which is all those rows say of them
        self._ended = ("exited", "summed") if sums else ("exited",)
        self._max = max_labels
        self._other = other
        self._tasks: dict[Key, _Task] = {}       # live tasks, and those missing a while
        self._missing: dict[Key, _Task] = {}     # of those, the ones not live now
        self._sums: dict[Label, Numbers] = {}    # their numbers, per label
        self._held: dict[Label, int] = {}        # how many of them, per label
        self._live: dict[Label, int] = {}        # of those, live now
        self._folded: dict[Label, int] = {}      # live tasks in other, by the label they wanted
        self._gone: dict[Label, Numbers] = {}    # finals of tasks that left, per label
        self._expected: dict[Label, float] = {}  # expected CPU ns, per label
        self._waits: dict[Label, waits.Running] = {}
        self._own: set[Label] = set()            # labels with a series of their own
        self._seq: int | None = None             # the frame last folded in
        self.folded = 0                          # labels of live tasks folded into other

    def _label(self, wanted: Label) -> Label:
        if wanted in self._own or len(self._own) < self._max:
            self._own.add(wanted)
            return wanted
        return self._other

    def _count(self, counts: dict[Label, int], label: Label, by: int) -> None:
        n = counts.get(label, 0) + by
        if n:
            counts[label] = n
        else:
            counts.pop(label, None)

    def _live_by(self, task: _Task, by: int) -> None:
        self._count(self._live, task.label, by)
        if task.label == self._other:
            self._count(self._folded, task.wanted, by)

    def _add(self, key: Key, task: _Task) -> None:
        self._tasks[key] = task
        self._sums.setdefault(task.label, Numbers()).add(task.numbers)
        self._count(self._held, task.label, 1)
        self._live_by(task, 1)

    def _drop(self, key: Key) -> _Task | None:
        task = self._tasks.pop(key, None)
        if task is None:
            return None
        self._sums[task.label].add(task.numbers, -1)
        self._count(self._held, task.label, -1)
        if task.label not in self._held:
            del self._sums[task.label]
        if self._missing.pop(key, None) is None:
            self._live_by(task, -1)
        return task

    def _leave(self, key: Key) -> None:
        task = self._tasks.get(key)
        if task is not None and key not in self._missing:
            self._missing[key] = task
            task.missing = 0
            self._live_by(task, -1)

    def _drop_threads(self, pid: int) -> Numbers | None:
        """The thread that called exec: its numbers go on in its leader's key.
        What it had counted stays in its own label (with labels that tell
        threads apart, a name of its own say, its label would go back), and
        is returned: the key counts from there."""
        base = None
        for key in [k for k in self._tasks if k[0] == pid]:
            thread = self._drop(key)
            if thread is not None:
                self._gone.setdefault(thread.label, Numbers()).add(thread.numbers)
                base = base or Numbers()
                base.add(thread.numbers)
                if thread.base is not None:
                    base.add(thread.base)
        return base

    def update(self, frame: Frame) -> dict[Label, Series]:
        """Fold one frame in; return every label that has live tasks."""
        change = frame.change
        if change is not None and change.follows(self._seq):
            live, left = list(change.changed.values()), change.left
            ended = [r for r in frame.tasks[frame.live:] if r.state in self._ended]
        else:
            live = [r for r in frame.tasks if r.state not in ("exited", *NOT_TASKS)]
            here = {r.key for r in live}
            left = [k for k in self._tasks if k not in here and k not in self._missing]
            # exits nobody saw: their tasks keep their last numbers
            ended = [r for r in frame.tasks if r.state in self._ended]
        self._seq = frame.seq
        # Tasks new to this reader take labels in the order of their keys,
        # not of the frame's rows: under the cap, which label gets a series
        # of its own must not depend on how the stages before listed them.
        live.sort(key=_KEY)
        ended.sort(key=_KEY)
        labeller: list = []  # made once, for the first task new to this reader

        def wanted_of(r: TaskRecord) -> Label | None:
            if not labeller:
                labeller.append(self._labeller(frame.tasks))
            return labeller[0](r)

        ran = _set_runtimes([*live, *ended])
        for key in left:
            self._leave(key)
        tickets: dict[Label, int] = {}
        for r in live:
            if (labels := self._labels(r, wanted_of)) is None:
                continue
            wanted, label = labels
            self._add_interval(label, r, ran)
            was = self._drop(r.key)
            task = _Task(label, wanted, Numbers(), base=was.base if was is not None else None)
            if r.exec_from is not None:
                task.base = self._drop_threads(r.exec_from)
            task.numbers = _counted(r, task.base)
            self._add(r.key, task)
            if r.expected_share is not None and r.tickets is not None:
                tickets[label] = tickets.get(label, 0) + r.tickets
        for r in ended:
            if (labels := self._labels(r, wanted_of)) is None:
                continue
            label = labels[1]
            self._add_interval(label, r, ran)
            gone = self._gone.setdefault(label, Numbers())
            live_now = r.key in self._tasks and r.key not in self._missing
            known = self._tasks.get(r.key)
            base = known.base if known else None
            if r.exec_from is not None:
                base = self._drop_threads(r.exec_from)
                if not live_now:
                    # the thread's exit row replaced its leader's: the
                    # leader's last numbers are its final ones
                    leader = self._drop(r.key)
                    if leader is not None:
                        gone.add(leader.numbers)
            elif live_now:
                base = None  # the leader's exit: the key's base is its successor's
            gone.add(_counted(r, base))
            if not live_now:  # live again: a thread that called exec took it over
                self._drop(r.key)
        for key, kept in list(self._missing.items()):
            kept.missing += 1
            if kept.missing > _PENDING_SAMPLES:
                self._gone.setdefault(kept.label, Numbers()).add(kept.numbers)
                self._drop(key)
        series = {label: Series(self._sums[label].copy(), self._live.get(label, 0),
                                tickets.get(label, 0)) for label in self._held}
        for label, out in series.items():
            out.numbers.add(self._gone.get(label, Numbers()))
            out.expected_ns = self._expected.get(label, 0.0)
            if (kept := self._waits.get(label)) is not None:
                out.waits, out.waits_ns = tuple(kept.counts), kept.sum_ns
        self._own = {label for label in series if label != self._other}
        self.folded = len(self._folded)
        self._forget(series)
        return series

    def _labels(self, r: TaskRecord, wanted_of: Callable[[TaskRecord], Label | None]
                ) -> tuple[Label, Label] | None:
        """The label a task would have but for the cap, and the one it has:
        those it got when first seen (None: not counted here)."""
        known = self._tasks.get(r.key)
        if known is not None:
            return known.wanted, known.label
        wanted = wanted_of(r)
        return None if wanted is None else (wanted, self._label(wanted))

    def _add_interval(self, label: Label, r: TaskRecord, ran: dict[str, int]) -> None:
        """Add what record `r` says of its interval alone: the CPU time a
        lottery would have given it, its run-queue waits."""
        if r.expected_share is not None:
            self._expected[label] = self._expected.get(label, 0.0) + \
                r.expected_share * ran[r.contention_group]
        # the sum apart from the slots: a wait is summed as run_delay grows
        # (at its run's start) and counted in a slot as that run ends, which
        # may be a later interval
        if r.wait_slots or (r.wait_delta_ns or 0) > 0:
            self._waits.setdefault(label, waits.Running()).add(r.wait_slots, r.wait_delta_ns)

    def _forget(self, live: dict[Label, Series]) -> None:
        """Keep the totals of at most _KEPT_LABELS labels without tasks."""
        idle = [label for label in self._gone if label not in live]
        for label in idle[:max(0, len(idle) - _KEPT_LABELS)]:
            del self._gone[label]
            self._expected.pop(label, None)
            self._waits.pop(label, None)
