"""Replay the intervals a dump CSV recorded under simulated lottery and
stride schedulers, and set what they would have given beside what Linux gave.

Each interval and contention group is cut into quanta of Q: as many as the
group's tasks ran in all.  Each task may win at most the quanta it was
runnable for (ran + waited), so a task that slept is not handed CPU it did
not ask for."""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from orchestrator import bounds
from orchestrator.analysis import schedulers
from orchestrator.analysis.tickets import TicketModel
from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.records import Key, TaskRecord

# Funded shares become whole tickets on this scale (stride needs integers).
FUNDED_TICKETS = 1_000_000

@dataclass(frozen=True, slots=True)
class Member:
    key: Key
    tickets: int
    runtime_ns: int
    wait_ns: int


@dataclass
class TaskResult:
    pid: int
    comm: str
    nice: int
    tickets: int
    observed_ns: int = 0
    lottery_ns: list[float] = field(default_factory=list)  # one total per replay
    stride_ns: float = 0.0

    @property
    def lottery_mean_ns(self) -> float:
        return statistics.fmean(self.lottery_ns) if self.lottery_ns else 0.0

    @property
    def lottery_sd_ns(self) -> float:
        return statistics.stdev(self.lottery_ns) if len(self.lottery_ns) > 1 else 0.0


Interval = dict[str, list[Member]]  # contention group -> its members


# (interval id, contention group, member, comm, nice, the task's own tickets):
# what both readers yield; members hold the tickets the schedulers use
Entry = tuple[object, str, Member, str, int, int]


def _collect(entries: Iterable[Entry]) -> tuple[list[Interval], dict[Key, TaskResult]]:
    """Intervals in order, and one result per task with what Linux gave it."""
    by_interval: dict[object, Interval] = {}
    tasks: dict[Key, TaskResult] = {}
    for when, group, member, comm, nice, own in entries:
        by_interval.setdefault(when, {}).setdefault(group, []).append(member)
        result = tasks.setdefault(member.key, TaskResult(member.key[0], comm, nice, own))
        result.observed_ns += member.runtime_ns
    return list(by_interval.values()), tasks


def _entries(samples: Iterable, model: TicketModel | None) -> Iterator[Entry]:
    """The members of each interval of `samples` (frames, or a recording's
    samples: each has a timestamp_s and the tasks' records)."""
    for sample in samples:
        for r in sample.tasks:
            entry = _entry(sample.timestamp_s, r, model)
            if entry is not None:
                yield entry


def _entry(when: float, r: TaskRecord, model: TicketModel | None) -> Entry | None:
    if r.pid == 0 or not r.contention_group or r.runtime_delta_ns is None:
        return None  # idle records, and tasks outside the interval's lottery
    if r.nice is None or r.policy is None:
        return None
    own = model(r.nice, r.policy) if model else r.tickets
    if own is None:
        return None
    # the record's share is funded through the task groups; a model given here is flat
    tickets = funded(r.ticket_share) if not model and r.ticket_share is not None else own
    # a counter never goes back for one task: a negative delta is no time at all
    member = Member((r.pid, r.start_ns or 0), tickets, max(0, r.runtime_delta_ns),
                    max(0, r.wait_delta_ns or 0))
    return when, r.contention_group, member, r.comm or "", r.nice, own


def from_samples(samples: Iterable, model: TicketModel | None = None, source: str = "the samples"
              ) -> tuple[list[Interval], dict[Key, TaskResult]]:
    """The intervals of a recording's samples or of live frames, with what
    Linux gave each task; tickets from the records (funded through the task
    groups) unless `model`."""
    found, tasks = _collect(_entries(samples, model))
    if not found:
        raise LotteryError(f"{source} holds no interval to replay",
                           "dump at least two samples (--iterations 2 or more)", code=EXIT_USAGE)
    return found, tasks


def funded(ticket_share: float) -> int:
    """Whole tickets in proportion to a task's funded ticket share (what its
    tickets are worth in the base currency), for the simulated schedulers."""
    return max(1, round(ticket_share * FUNDED_TICKETS))


def replay(intervals: Iterable[Interval], tasks: dict[Key, TaskResult],
           quantum_ns: int, replays: int, seed: int | None) -> list[TaskResult]:
    """Fill every task's lottery totals (one per replay) and stride total."""
    intervals = list(intervals)
    quanta = sum(round(sum(m.runtime_ns for m in members) / quantum_ns)
                 for interval in intervals for members in interval.values())
    # the lottery's draws and stride's, each about as costly
    bounds.check_draws(quanta, replays + 1, "pass a larger --quantum or fewer --replays")
    rng = random.Random(seed)
    for result in tasks.values():
        result.lottery_ns = [0.0] * replays
        result.stride_ns = 0.0
    strides: dict[str, schedulers.Stride] = {}
    for interval in intervals:
        for group, members in interval.items():
            quanta = round(sum(m.runtime_ns for m in members) / quantum_ns)
            demand = [round((m.runtime_ns + m.wait_ns) / quantum_ns) for m in members]
            ticket_list = [m.tickets for m in members]
            for r in range(replays):
                won = schedulers.lottery_run(ticket_list, demand, quanta, rng)
                for m, w in zip(members, won, strict=True):
                    tasks[m.key].lottery_ns[r] += w * quantum_ns
            stride = strides.setdefault(group, schedulers.Stride())
            won = stride.run([(m.key, m.tickets) for m in members], quanta, demand)
            for m, w in zip(members, won, strict=True):
                tasks[m.key].stride_ns += w * quantum_ns
    return sorted(tasks.values(), key=lambda t: t.observed_ns, reverse=True)
