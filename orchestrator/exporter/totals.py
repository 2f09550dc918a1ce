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

from orchestrator.analysis.frames import Frame
from orchestrator.records import Key, TaskRecord

OTHER = "other"
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

    def add(self, other: Numbers) -> None:
        self.cpu_ns += other.cpu_ns
        self.wait_ns += other.wait_ns
        self.voluntary += other.voluntary
        self.involuntary += other.involuntary

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


@dataclass(slots=True)
class _Task:
    label: Label
    numbers: Numbers
    missing: int = 0  # frames since it was last seen live


def _set_runtimes(frame: Frame) -> dict[str, int]:
    """What the contending tasks of each contention set ran in the interval,
    as the shares were worked out (a counter that went back is no time)."""
    ran: dict[str, int] = {}
    for r in frame.tasks:
        if r.contention_group is not None:
            ran[r.contention_group] = ran.get(r.contention_group, 0) + \
                max(0, r.runtime_delta_ns or 0)
    return ran


class Totals:
    """One reader's counters per label; `update` with each frame.  `other`
    is the label of the tasks of labels beyond `max_labels`."""

    def __init__(self, labeller: Labeller, max_labels: int, other: Label = OTHER):
        self._labeller = labeller
        self._max = max_labels
        self._other = other
        self._tasks: dict[Key, _Task] = {}
        self._gone: dict[Label, Numbers] = {}    # finals of tasks that left, per label
        self._expected: dict[Label, float] = {}  # expected CPU ns, per label
        self._own: set[Label] = set()            # labels with a series of their own
        self.folded = 0                          # labels of live tasks folded into other

    def _label(self, wanted: Label) -> Label:
        if wanted in self._own or len(self._own) < self._max:
            self._own.add(wanted)
            return wanted
        return self._other

    def update(self, frame: Frame) -> dict[Label, Series]:
        """Fold one frame in; return every label that has live tasks."""
        label_of = self._labeller(frame.tasks)
        ran = _set_runtimes(frame)
        series: dict[Label, Series] = {}
        seen: set[Key] = set()
        folded: set[Label] = set()
        for r in frame.tasks:
            if r.state == "unseen":
                continue  # exits nobody saw: their tasks keep their last numbers
            wanted = label_of(r)
            if wanted is None:
                continue
            known = self._tasks.get(r.key)
            label = known.label if known else self._label(wanted)
            if r.expected_share is not None:
                self._expected[label] = self._expected.get(label, 0.0) + \
                    r.expected_share * ran[r.contention_group]
            gone = self._gone.setdefault(label, Numbers()) if r.state == "exited" else None
            if r.exec_from is not None:
                # its numbers hold those of the thread that called exec
                for key in [k for k in self._tasks if k[0] == r.exec_from]:
                    del self._tasks[key]
                if gone is not None and r.key not in seen:
                    # the thread's exit row replaced its leader's: the
                    # leader's last numbers are its final ones
                    leader = self._tasks.pop(r.key, None)
                    if leader is not None:
                        gone.add(leader.numbers)
            if gone is not None:
                gone.add(Numbers.of(r))
                if r.key not in seen:  # live again: a thread that called exec took it over
                    self._tasks.pop(r.key, None)
                continue
            seen.add(r.key)
            if label == self._other:
                folded.add(wanted)
            self._tasks[r.key] = _Task(label, Numbers.of(r))
            out = series.setdefault(label, Series())
            out.tasks += 1
            if r.expected_share is not None and r.tickets is not None:
                out.tickets += r.tickets
        for key, kept in list(self._tasks.items()):
            if key in seen:
                continue
            kept.missing += 1
            if kept.missing > _PENDING_SAMPLES:
                self._gone.setdefault(kept.label, Numbers()).add(kept.numbers)
                del self._tasks[key]
        for kept in self._tasks.values():
            series.setdefault(kept.label, Series()).numbers.add(kept.numbers)
        for label, out in series.items():
            out.numbers.add(self._gone.get(label, Numbers()))
            out.expected_ns = self._expected.get(label, 0.0)
        self._own = {label for label in series if label != self._other}
        self.folded = len(folded)
        self._forget(series)
        return series

    def _forget(self, live: dict[Label, Series]) -> None:
        """Keep the totals of at most _KEPT_LABELS labels without tasks."""
        idle = [label for label in self._gone if label not in live]
        for label in idle[:max(0, len(idle) - _KEPT_LABELS)]:
            del self._gone[label]
            self._expected.pop(label, None)
