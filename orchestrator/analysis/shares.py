"""Who competed with whom in an interval, the share of CPU their tickets
promise, the share Linux gave, and how fair that was (Jain's index)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.analysis import currencies
from orchestrator.records import Group, Key, TaskSample
from orchestrator.sampling.deltas import TaskRow

# A task's tickets (None: it holds none: a real-time task, exits nobody saw).
TicketsOf = Callable[[TaskRow], int | None]

SYSTEM = "all"  # the group of tasks free to run on more than one CPU


def contention_group(task: TaskSample) -> str:
    """A task pinned to one CPU competes there; any other competes system-wide.

    (A pinned task also competes with unpinned tasks that visit its CPU; the
    model ignores that, see docs/ANALYSIS.md.)"""
    return f"cpu{task.cpu}" if task.cpus_allowed == 1 else SYSTEM


def ran(row: TaskRow) -> int:
    """What the task ran in the interval.  A counter that went back (a thread
    that exec'd took over its leader's numbers) is no time at all."""
    return max(0, row.runtime_delta_ns or 0)


def waited(row: TaskRow) -> int:
    return max(0, row.wait_delta_ns or 0)


def demand(row: TaskRow) -> int:
    """What the task asked for in the interval.

    A task that never went to sleep in it (no voluntary switch-out) wanted
    the CPU all the time it waited: ran + waited.  A task that slept got
    through its bursts: a wait after a wake-up, or after a preemption in the
    middle of a burst it finished later, delayed its work without making it
    more (a lottery would have run the burst sooner and given the rest
    away).  Each preemption says it wanted more at that moment: it is
    credited one more run of its average length, never more than its wait
    after preemptions (the wait split by the share of switch-outs that were
    involuntary).  Switch counts not known: all of the wait counts.  See
    docs/ANALYSIS.md for the measurements and the limits."""
    ran_ns, wait = ran(row), waited(row)
    forced, switches = row.involuntary_delta, row.switches_delta
    if forced is None or switches is None or switches - forced <= 0:
        return ran_ns + wait
    forced = max(0, forced)
    per_run = ran_ns / max(1, row.runs_delta or 0)
    return ran_ns + round(min(wait * forced / switches, forced * per_run))


def contended(row: TaskRow, tickets: int | None) -> bool:
    """Did the task take part in the interval's lottery: hold tickets, and run
    or wait to run?"""
    return (tickets is not None and row.runtime_delta_ns is not None
            and not row.unseen_exits and (ran(row) > 0 or waited(row) > 0))


@dataclass(frozen=True, slots=True)
class Share:
    """One task's share of its group's CPU time in one interval."""

    group: str
    ticket_share: float  # its tickets' worth in the base currency, as a share of the group's
    expected: float      # what an ideal lottery gives it, given what it asked for
    observed: float      # runtime / runtime of the group: what Linux gave
    capacity_ns: int = 0  # what its contention group ran in all: the whole the shares divide
    # what a lottery would give it had it asked for all it could (no demand
    # cap of its own, no quota): the share it can be said to fall short of
    entitled: float = 0.0
    demand_ns: int = 0  # what it asked for (`demand`), before the cap at the interval

    @property
    def error(self) -> float:
        """Observed minus expected, as a fraction of the group's CPU time."""
        return self.observed - self.expected


def fill(tickets: Sequence[float], demand: Sequence[float], capacity: float) -> list[float]:
    """Weighted max-min fair split of `capacity` (water-filling): each holder
    gets capacity in proportion to its tickets, but never more than it
    demanded; what a holder leaves is split among the others the same way.
    This is what a lottery among runnable tasks gives in the long run: a task
    cannot win while it sleeps."""
    return water(tickets, demand, capacity)[0]


def water(tickets: Sequence[float], demand: Sequence[float], capacity: float
          ) -> tuple[list[float], list[float]]:
    """`fill`, and what each holder would get had it alone asked for all: a
    holder that wanted more than it got has that already; one that got all
    it asked would take its tickets' part of what it held and what the
    others left, beside those that wanted more (exact unless that raises
    another holder into wanting more than it gets: then an upper bound)."""
    out = [0.0] * len(tickets)
    left = capacity
    pending = sorted(range(len(tickets)), key=lambda i: demand[i] / tickets[i])
    weight = sum(tickets)
    cut = len(pending)
    for n, i in enumerate(pending):
        fair = left * tickets[i] / weight
        if demand[i] >= fair:  # this one and all after it want more than their share
            for j in pending[n:]:
                out[j] = left * tickets[j] / weight
            cut = n
            break
        out[i] = demand[i]
        left -= demand[i]
        weight -= tickets[i]
    if cut == len(pending):
        weight = 0.0  # every holder got all it asked
    asked = list(out)
    for i in pending[:cut]:
        asked[i] = max(out[i], tickets[i] * (left + out[i]) / (weight + tickets[i]))
    return out, asked


@dataclass
class _Currency:
    """A task group inside one contention set: its weight in its parent's
    currency, and what it funds (groups below it and tasks)."""

    weight: float = 1.0
    ceiling_ns: float | None = None  # its CPU bandwidth in the interval (quota), if limited
    groups: dict[int, _Currency] = field(default_factory=dict)
    tasks: list[tuple[TaskRow, int, float]] = field(default_factory=list)  # (row, tickets, demand)
    _demand: float | None = None

    def demand(self, cap_ns: int) -> float:
        """What it asked for in all, at most the interval on one CPU and at
        most its quota (computed once: the tree is built first)."""
        if self._demand is None:
            total = sum(d for _, _, d in self.tasks) + sum(g.demand(cap_ns)
                                                        for g in self.groups.values())
            if cap_ns:
                total = min(total, cap_ns)
            if self.ceiling_ns is not None:
                total = min(total, self.ceiling_ns)
            self._demand = total
        return self._demand

    def allocate(self, capacity: float, worth: float, entitled: float, cap_ns: int,
                 out: dict[tuple[int, int], tuple[float, float, float]]) -> None:
        """Split `capacity` among what it funds, by weight, capped by demand;
        `worth` is this currency's share of the base currency, `entitled`
        what it would have got had it asked for all (at least `capacity`).
        Fills `out` with each task's (ticket share, grant, entitlement)."""
        funded: list[tuple[float, float, object]] = [
            (g.weight, g.demand(cap_ns), g) for g in self.groups.values()]
        funded += [(tickets, d, row) for row, tickets, d in self.tasks]
        total = sum(w for w, _, _ in funded)
        grants, asked = water([w for w, _, _ in funded], [d for _, d, _ in funded], capacity)
        # what the currency would have had beyond its grant, shared the same way
        scale = entitled / capacity if capacity > 0 else None
        for (w, _, item), grant, own in zip(funded, grants, asked, strict=True):
            share = max(grant, own * scale if scale is not None else entitled * w / total)
            if isinstance(item, _Currency):
                item.allocate(grant, worth * w / total, share, cap_ns, out)
            else:
                out[item.task.key] = (worth * w / total, grant, share)


def _tree(members: Iterable[tuple[TaskRow, int, float]],
          groups: Mapping[int, Group] | None, interval_ns: int) -> _Currency:
    base = _Currency()
    root = currencies.root_of(groups) if groups else None
    for row, tickets, wanted in members:
        node = base
        for g in currencies.chain(groups, row.task.group) if groups else ():
            if g.kind != "root":
                node = node.groups.get(g.id) or node.groups.setdefault(
                    g.id, _Currency(currencies.weight(g, root), _ceiling(g, interval_ns)))
        node.tasks.append((row, tickets, wanted))
    return base


def _ceiling(group: Group, interval_ns: int) -> float | None:
    """The CPU time a group's quota lets it run in the interval: a currency
    whose funding has a ceiling.  (The kernel enforces it per period; over
    an interval of many periods the two agree.)"""
    cpus = group.quota_cpus
    return cpus * interval_ns if cpus is not None and interval_ns > 0 else None


def _fraction(part: float, whole: float) -> float:
    """part / whole, kept in 0..1 against a rounding error's last bit."""
    return min(1.0, max(0.0, part / whole)) if whole > 0 else 0.0


def shares(rows: Iterable[TaskRow], tickets_of: TicketsOf, interval_ns: int = 0,
           groups: Mapping[int, Group] | None = None) -> dict[Key, Share]:
    """Return the share of every contending task, by task key.

    A task's demand is what it ran plus the wait that followed its
    preemptions (`demand`), at most the interval; the group's capacity is
    what its members ran in all.  With `groups`, tickets are funded through
    the task-group hierarchy: at each level a group's weight is split among
    the groups and tasks in it that contend in this set, each capped at what
    it asked for, and a group with a CPU quota at what the quota allows.
    Every share lies in 0..1: time that went back is no time."""
    sets: dict[str, list[tuple[TaskRow, int]]] = {}
    for row in rows:
        tickets = tickets_of(row)
        if contended(row, tickets):
            sets.setdefault(contention_group(row.task), []).append((row, tickets))
    out: dict[Key, Share] = {}
    for name, members in sets.items():
        runtime = sum(ran(r) for r, _ in members)
        asked = [demand(r) for r, _ in members]
        wanted = [min(d, interval_ns) for d in asked] if interval_ns > 0 else asked
        # One CPU runs one thing at a time: a group there wants at most the
        # interval (or what ran, when timing skew makes that a little more).
        cap_ns = max(interval_ns, runtime) if name != SYSTEM and interval_ns > 0 else 0
        given: dict[Key, tuple[float, float, float]] = {}
        _tree(((r, t, d) for (r, t), d in zip(members, wanted, strict=True)),
              groups, interval_ns).allocate(runtime, 1.0, runtime, cap_ns, given)
        for (r, _), d in zip(members, asked, strict=True):
            ticket_share, grant, entitled = given[r.task.key]
            out[r.task.key] = Share(name, min(1.0, ticket_share), _fraction(grant, runtime),
                                    _fraction(ran(r), runtime), runtime,
                                    _fraction(entitled, runtime), d)
    return out


def jain_index(values: Sequence[float]) -> float | None:
    """Jain's fairness index (sum x)^2 / (n * sum x^2): 1 when all are equal,
    1/n when one takes everything; None when there is nothing to judge."""
    squares = sum(v * v for v in values)
    if not values or squares == 0:
        return None
    return sum(values) ** 2 / (len(values) * squares)


@dataclass(frozen=True, slots=True)
class Fairness:
    group: str
    tasks: int
    index: float | None  # Jain's index over observed / expected share


def fairness(by_task: Iterable[Share]) -> list[Fairness]:
    """Jain's index of observed/expected per group, busiest group first."""
    ratios: dict[str, list[float]] = {}
    for share in by_task:
        if share.expected > 0:
            ratios.setdefault(share.group, []).append(share.observed / share.expected)
    out = [Fairness(g, len(r), jain_index(r)) for g, r in ratios.items()]
    return sorted(out, key=lambda f: (f.group != SYSTEM, f.group))
