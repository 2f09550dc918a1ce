"""Snapshots -> per-task rows with deltas, and the conservation check."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.records import CpuIdle, Snapshot, TaskSample
from orchestrator.tickets import TicketModel


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
    tasks: list[TaskRow]
    idle: list[IdleRow]
    conservation: Conservation | None


def _delta(now: int, before: int | None) -> int | None:
    return None if before is None else now - before


def compare(prev: Snapshot | None, cur: Snapshot, tickets: TicketModel) -> Sample:
    """Return the rows of `cur`, with deltas against `prev`.

    A task absent from `prev` that started after it counts from zero; an exited
    task that `prev` already showed as exited is not shown again."""
    before = {t.key: t for t in prev.tasks} if prev else {}
    since_ns = prev.info.snapshot_ns if prev else None
    rows: list[TaskRow] = []
    for task in cur.tasks:
        old = before.get(task.key)
        if old is not None and old.exited:
            continue
        if old is None and since_ns is not None and task.start_ns >= since_ns:
            old = TaskSample(task.pid, task.start_ns, task.tgid, task.comm, task.nice,
                             task.policy, task.cpu, 0, 0, 0, 0, 0, 0, False,
                             task.cpus_allowed)
        rows.append(TaskRow(
            task=task,
            tickets=tickets(task.nice, task.policy),
            runtime_delta_ns=_delta(task.runtime_ns, old and old.runtime_ns),
            wait_delta_ns=_delta(task.wait_ns, old and old.wait_ns),
            switches_delta=_delta(task.switches, old and old.switches),
            runs_delta=_delta(task.runs, old and old.runs),
        ))
    idle_before = {i.cpu: i.idle_ns for i in prev.idle} if prev else {}
    idle = [IdleRow(i, _delta(i.idle_ns, idle_before.get(i.cpu))) for i in cur.idle]
    return Sample(cur, rows, idle, _conservation(prev, cur, rows, idle))


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
        busy_ns=sum(r.runtime_delta_ns or 0 for r in rows),
        idle_ns=sum(i.idle_delta_ns or 0 for i in idle),
    )
