"""Why a task ran less than its tickets are worth: its deficit in one
interval, split into what the kernel measured.

A task's entitlement is what a lottery among the same tasks would have
given it had it asked for all it could, quota aside (shares.Share.entitled:
its tickets at the water level of its currency, funded down the tree).
What it ran short of that is put, in this order, to:

- cpus: entitled to more than one CPU's worth of the interval, which a
  thread cannot run (a task allowed on few CPUs of a busy set);
- throttled: time its task group's CPU quota held it off (the binding
  group's throttled time, at most the task's own wait, which counts it);
- waited: the rest of the time it was runnable and waited behind others
  (run_delay);
- unasked: the rest, time it slept: it did not ask for more.

See docs/ANALYSIS.md for what each measures and what it cannot tell."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.analysis import currencies, shares
from orchestrator.records import Group
from orchestrator.sampling.deltas import TaskRow, Throttling


@dataclass(frozen=True, slots=True)
class Deficit:
    total_ns: float
    cpus_ns: float
    throttled_ns: float
    waited_ns: float
    unasked_ns: float


@dataclass(frozen=True, slots=True)
class Limit:
    """The CPU quota that binds a task: the lowest ceiling of its task group
    and the groups above it, and what that group was throttled in the interval."""

    group: int
    quota_cpus: float
    throttled: Throttling | None  # None: no baseline (the group is new to this reader)


def limits(groups: Mapping[int, Group], throttled: Mapping[int, Throttling]
           ) -> dict[int, Limit | None]:
    """The binding limit of every group of a snapshot, by group id (None:
    no group on its way to the root has a quota).  The nearer of two equal
    ceilings binds."""
    out: dict[int, Limit | None] = {}
    for gid in groups:
        best: Group | None = None
        for g in reversed(currencies.chain(groups, gid)):  # leaf first
            cpus = g.quota_cpus
            if cpus is not None and (best is None or cpus < best.quota_cpus):
                best = g
        out[gid] = None if best is None else Limit(best.id, best.quota_cpus,
                                                   throttled.get(best.id))
    return out


def deficit(row: TaskRow, share: shares.Share | None, interval_ns: int,
            limit: Limit | None) -> Deficit | None:
    """The task's deficit in the interval; None where it took no part in its
    set's lottery or the interval is not known."""
    if share is None or interval_ns <= 0:
        return None
    entitled = share.entitled * share.capacity_ns
    ran = shares.ran(row)
    total = max(0.0, entitled - ran)
    cpus = min(total, max(0.0, entitled - interval_ns))
    rest = total - cpus
    waited = shares.waited(row)
    held = limit.throttled.throttled_ns if limit and limit.throttled else 0
    # A task of a throttled group stays queued: the kernel counts the time
    # its group was held off in run_delay (measured on 6.18, docs/ANALYSIS.md)
    throttled = min(rest, waited, held)
    waited_part = min(rest - throttled, waited - throttled)
    return Deficit(total, cpus, throttled, waited_part, rest - throttled - waited_part)
