"""Counters per label (a command name, a process, a task group) that only
grow, from one reader's successive samples.

A label's CPU time is what its tasks have used since they started: the
kernel's totals of its live tasks, plus the final numbers of those that
exited while the exporter read.  Each task keeps the label it got when first
seen, so a task's numbers never move from one series to another; a task that
leaves without an exit row this reader saw keeps its last numbers.  Labels
beyond the cap fold into "other", and a label with no task left has no
series (its totals are kept, should it come back)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.analysis import shares
from orchestrator.kernel.records import TaskSample
from orchestrator.sampling.deltas import Sample

OTHER = "other"
# A task gone from the task list may still have its exit numbered later
# (deltas.Reader carries it as long): its last numbers wait that long.
_PENDING_SAMPLES = 5
# Totals of labels with no task left, kept for their return; the oldest go first.
_KEPT_LABELS = 10_000


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
    def of(task: TaskSample) -> Numbers:
        return Numbers(task.runtime_ns, task.wait_ns, task.voluntary_switches,
                       task.involuntary_switches)


@dataclass(slots=True)
class Series:
    """What one label's metrics show after a sample."""

    numbers: Numbers = field(default_factory=Numbers)
    tasks: int = 0           # live tasks
    tickets: int = 0         # tickets of live tasks that ran or waited in the interval
    expected_ns: float = 0.0  # CPU time a lottery would have given it, since the start


@dataclass(slots=True)
class _Task:
    label: str
    numbers: Numbers
    missing: int = 0  # samples since it was last seen live


class Totals:
    """One reader's counters per label; `update` with each sample."""

    def __init__(self, label_of: Callable[[TaskSample], str | None], max_labels: int):
        self._label_of = label_of
        self._max = max_labels
        self._tasks: dict[tuple[int, int], _Task] = {}
        self._gone: dict[str, Numbers] = {}      # finals of tasks that left, per label
        self._expected: dict[str, float] = {}    # expected CPU ns, per label
        self._own: set[str] = set()              # labels with a series of their own
        self.folded = 0                          # labels of live tasks folded into OTHER

    def _label(self, wanted: str) -> str:
        if wanted in self._own or len(self._own) < self._max:
            self._own.add(wanted)
            return wanted
        return OTHER

    def update(self, sample: Sample, groups=None) -> dict[str, Series]:
        """Fold one sample in; return every label that has live tasks."""
        interval = sample.conservation.interval_ns if sample.conservation else 0
        given = shares.shares(sample.tasks, interval, groups)
        ran: dict[str, int] = {}
        for share, row in ((given.get(r.task.key), r) for r in sample.tasks):
            if share is not None:
                ran[share.group] = ran.get(share.group, 0) + (row.runtime_delta_ns or 0)
        series: dict[str, Series] = {}
        seen: set[tuple[int, int]] = set()
        folded: set[str] = set()
        for row in sample.tasks:
            if row.unseen_exits:
                continue  # exits nobody saw: their tasks keep their last numbers
            task = row.task
            wanted = self._label_of(task)
            if wanted is None:
                continue
            known = self._tasks.get(task.key)
            label = known.label if known else self._label(wanted)
            share = given.get(task.key)
            if share is not None:
                self._expected[label] = self._expected.get(label, 0.0) + \
                    share.expected * ran[share.group]
            if task.exited:
                self._gone.setdefault(label, Numbers()).add(Numbers.of(task))
                self._tasks.pop(task.key, None)
                continue
            seen.add(task.key)
            if label == OTHER:
                folded.add(wanted)
            self._tasks[task.key] = _Task(label, Numbers.of(task))
            out = series.setdefault(label, Series())
            out.tasks += 1
            if shares.contended(row):
                out.tickets += row.tickets
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
        self._own = {label for label in series if label != OTHER}
        self.folded = len(folded)
        self._forget(series)
        return series

    def _forget(self, live: dict[str, Series]) -> None:
        """Keep the totals of at most _KEPT_LABELS labels without tasks."""
        idle = [label for label in self._gone if label not in live]
        for label in idle[:max(0, len(idle) - _KEPT_LABELS)]:
            del self._gone[label]
            self._expected.pop(label, None)
