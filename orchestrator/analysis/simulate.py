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
from pathlib import Path

from orchestrator import bounds
from orchestrator.analysis import schedulers, shares
from orchestrator.analysis.tickets import TicketModel
from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.sinks import record

# Funded shares become whole tickets on this scale (stride needs integers).
FUNDED_TICKETS = 1_000_000

@dataclass(frozen=True, slots=True)
class Member:
    key: tuple[int, int]  # (pid, start_ns)
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


def _collect(entries: Iterable[Entry]) -> tuple[list[Interval], dict[tuple[int, int], TaskResult]]:
    """Intervals in order, and one result per task with what Linux gave it."""
    by_interval: dict[object, Interval] = {}
    tasks: dict[tuple[int, int], TaskResult] = {}
    for when, group, member, comm, nice, own in entries:
        by_interval.setdefault(when, {}).setdefault(group, []).append(member)
        result = tasks.setdefault(member.key, TaskResult(member.key[0], comm, nice, own))
        result.observed_ns += member.runtime_ns
    return list(by_interval.values()), tasks


def _recorded_entries(rows: Iterable[dict], model: TicketModel | None) -> Iterator[Entry]:
    for row in rows:
        if row["pid"] == 0 or not row["contention_group"] or row["runtime_delta_ns"] is None:
            continue  # idle rows, and tasks outside the interval's lottery
        nice, policy = row["nice"], row["policy"]
        if nice is None or policy is None:
            continue
        own = model(nice, policy) if model else row["tickets"]
        if own is None:
            continue
        # the recording's share is funded through the task groups; a model given here is flat
        share = row["ticket_share"]
        tickets = funded(share) if not model and share is not None else own
        # a counter never goes back for one task: a negative delta is no time at all
        member = Member((row["pid"], row["start_ns"] or 0), tickets,
                        max(0, row["runtime_delta_ns"]), max(0, row["wait_delta_ns"] or 0))
        yield row["timestamp_s"], row["contention_group"], member, row["comm"] or "", nice, own


def read_recording(path: Path, model: TicketModel | None = None,
                   ) -> tuple[list[Interval], dict[tuple[int, int], TaskResult]]:
    """Read a dump's CSV or NDJSON recording into intervals; tickets from the
    recording unless `model`."""
    intervals, tasks = _collect(_recorded_entries(record.read(path), model))
    if not intervals:
        raise LotteryError(f"{path} holds no interval to replay",
                           "dump at least two samples (--iterations 2 or more)", code=EXIT_USAGE)
    return intervals, tasks


def funded(ticket_share: float) -> int:
    """Whole tickets in proportion to a task's funded ticket share (what its
    tickets are worth in the base currency), for the simulated schedulers."""
    return max(1, round(ticket_share * FUNDED_TICKETS))


def from_samples(samples: Iterable, hierarchical: bool = True,
                 ) -> tuple[list[Interval], dict[tuple[int, int], TaskResult]]:
    """Intervals from live samples (metrics.Sample), as read_recording gives them,
    tickets funded through the task groups when `hierarchical`."""
    def entries():
        for n, sample in enumerate(samples):
            interval = sample.conservation.interval_ns if sample.conservation else 0
            by_task = shares.shares(sample.tasks, interval,
                                    sample.snapshot.groups if hierarchical else None)
            for row in sample.tasks:
                share = by_task.get(row.task.key)
                if share is None:
                    continue
                yield (n, share.group, Member(row.task.key, funded(share.ticket_share),
                                              row.runtime_delta_ns, row.wait_delta_ns or 0),
                       row.task.comm, row.task.nice, row.tickets)
    return _collect(entries())


def replay(intervals: Iterable[Interval], tasks: dict[tuple[int, int], TaskResult],
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
