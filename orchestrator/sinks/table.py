"""Table sink: the busiest tasks of a sample, and a one-line conservation check."""

from __future__ import annotations

import heapq
import os
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress
from operator import attrgetter, not_
from typing import TypeVar

import tabulate as _tabulate
from tabulate import tabulate

from orchestrator import units
from orchestrator.analysis import currencies
from orchestrator.analysis.analyser import Analysis, RowAnalysis
from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.kernel.records import TaskSample
from orchestrator.sampling.deltas import Conservation, Sample, TaskRow

GROUPINGS = ("thread", "process", "comm", "group")


@dataclass
class _Group:
    label: str
    pid: int
    comm: str
    group: str
    nice: int | None
    tickets: int | None
    threads: int = 0
    runtime_ns: int = 0
    runtime_delta_ns: int | None = None
    wait_delta_ns: int | None = None
    wait_max_ns: int = 0
    switches: int = 0
    switches_delta: int | None = None
    exited: bool = False
    ticket_share: float | None = None  # summed funded ticket shares of its threads
    expected: float | None = None   # summed expected shares of its threads
    observed: float | None = None
    wins: int | None = None
    ewma_ns: float | None = None
    # what its members differ in: shares of different contention groups do
    # not add up, and one GROUP, NICE or TICKETS value would misstate the rest
    contention: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    nices: set[int] = field(default_factory=set)
    tickets_held: set[int | None] = field(default_factory=set)


N = TypeVar("N", int, float)


def _add(a: N | None, b: N | None) -> N | None:
    """Sum where None means "not known": unknown plus known is the known one."""
    return b if a is None else a if b is None else a + b


_NO_ANALYSIS = RowAnalysis()
_GROUP_KEYS: dict[str, Callable[[TaskSample, str], object]] = {
    "thread": lambda t, where: t.key,
    "process": lambda t, where: t.tgid,
    "comm": lambda t, where: t.comm,
    "group": lambda t, where: where,
}


def group(rows: Iterable[TaskRow], by: str, analysis: Analysis | None = None,
          path: currencies.Paths | None = None) -> list[_Group]:
    """Sum task rows per thread, process (tgid), command name or task group."""
    path = currencies.Paths({}) if path is None else path  # an empty Paths is falsy
    key_of = _GROUP_KEYS[by]
    found = analysis.rows if analysis else {}
    groups: dict[object, _Group] = {}
    for row in rows:
        t = row.task
        where = path[t.group]
        key = key_of(t, where)
        g = groups.get(key)
        if g is None:
            pid = t.pid if by == "thread" else t.tgid if by == "process" else 0
            g = groups[key] = _Group(t.comm, pid, t.comm, where, t.nice, row.tickets)
        g.threads += 0 if row.unseen_exits else 1
        g.paths.add(where)
        g.nices.add(t.nice)
        g.tickets_held.add(row.tickets)
        g.runtime_ns += t.runtime_ns
        g.runtime_delta_ns = _add(g.runtime_delta_ns, row.runtime_delta_ns)
        g.wait_delta_ns = _add(g.wait_delta_ns, row.wait_delta_ns)
        g.wait_max_ns = max(g.wait_max_ns, t.wait_max_ns)
        g.switches += t.switches
        g.switches_delta = _add(g.switches_delta, row.switches_delta)
        g.exited = g.exited or (by == "thread" and t.exited and not row.unseen_exits)
        a = found.get(t.key, _NO_ANALYSIS)
        if a.share:
            g.contention.add(a.share.group)
            g.ticket_share = _add(g.ticket_share, a.share.ticket_share)
            g.expected = _add(g.expected, a.share.expected)
            g.observed = _add(g.observed, a.share.observed)
        g.wins = _add(g.wins, a.wins)
        g.ewma_ns = _add(g.ewma_ns, a.ewma_delta_ns)
    for g in groups.values():
        if len(g.contention) > 1:
            g.ticket_share = g.expected = g.observed = g.wins = None
        if len(g.paths) > 1:
            g.group = f"({len(g.paths)} groups)"
        if len(g.nices) > 1:
            g.nice = None
        if len(g.tickets_held) > 1:
            g.tickets = None
    return list(groups.values())


def top_groups(rows: Iterable[TaskRow], by: str, analysis: Analysis | None,
               path: currencies.Paths, top: int, group_key: Callable[[_Group], object],
               row_key: Callable[[TaskRow], object]) -> list[_Group]:
    """The `top` groups of `rows` highest by `group_key`, in that order.  By
    thread, each row is a group of its own and `row_key` orders rows as
    `group_key` orders their groups: the rows are chosen first, and only
    those become groups (a host may run 100,000 threads)."""
    if by == "thread":
        return group(heapq.nlargest(top, rows, key=row_key), by, analysis, path)
    return heapq.nlargest(top, group(rows, by, analysis, path), key=group_key)


_TASK = attrgetter("task")
_TGID = attrgetter("tgid")
_PPID = attrgetter("ppid")


def _own_tgids(tasks: list[TaskSample], tgids: list[int]) -> set[int]:
    """This process and what it started (sudo, then bpftool or cat below it),
    of `tasks` whose tgids are `tgids`."""
    own = {os.getpid()}
    parents = list(map(_PPID, tasks))
    for _ in range(3):  # lottery -> sudo -> bpftool: parents before children
        more = set(compress(tgids, map(own.__contains__, parents))) - own
        if not more:  # as root there is no sudo: one level less to look through
            break
        own |= more
    return own


def without_self(sample: Sample) -> Sample:
    """The sample less lottery's own processes: a view should show the
    machine, not the tool watching it (files keep every task).  In passes
    over the rows in C: a host may run 100,000 threads."""
    tasks = list(map(_TASK, sample.tasks))
    tgids = list(map(_TGID, tasks))
    own = _own_tgids(tasks, tgids)
    return sample.with_tasks(list(compress(sample.tasks,
                                           map(not_, map(own.__contains__, tgids)))))


# Each sort key: the field of a group, the same field of a row (by thread a
# row is a group of its own), and whether higher comes first.  Per-interval
# keys never fall back to lifetime totals (units would mix).
_SORTS = {
    "delta": ("runtime_delta_ns", "runtime_delta_ns", 1),
    "runtime": ("runtime_ns", "task.runtime_ns", 1),
    "wait": ("wait_delta_ns", "wait_delta_ns", 1),
    "switches": ("switches_delta", "switches_delta", 1),
    "pid": ("pid", "task.pid", -1),
}
SORT_KEYS = tuple(_SORTS)


def _by(field: str, sign: int) -> Callable[[object], int]:
    get = attrgetter(field)
    return lambda item: sign * (get(item) or 0)


def _sort_key(name: str) -> Callable[[_Group], int]:
    group_field, _, sign = _SORTS[name]
    return _by(group_field, sign)


def _row_key(name: str) -> Callable[[TaskRow], int]:
    """_sort_key for a row, which by thread is a group of its own."""
    _, row_field, sign = _SORTS[name]
    return _by(row_field, sign)


def _ms(ns: int | None) -> str:
    return "" if ns is None else f"{units.ms(ns):.1f}"


def conservation_line(check: Conservation | None) -> str:
    if check is None:
        return "conservation: needs two samples"
    return (f"conservation: tasks {units.s(check.busy_ns):.3f} s"
            f" + idle {units.s(check.idle_ns):.3f} s"
            f" over {check.cpus} CPUs x {units.s(check.interval_ns):.3f} s"
            f" = {100 * (1 + check.error):.2f}% (error {100 * check.error:+.2f}%)")


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def fairness_line(analysis: Analysis) -> str:
    parts = [f"{f.group} {f.index:.3f} over {f.tasks} tasks" for f in analysis.fairness
             if f.index is not None]
    if not parts:
        return "fairness: needs two samples"
    return "fairness (Jain's index of observed/expected share): " + "; ".join(parts)


@dataclass(frozen=True)
class _View:
    interval_ns: int | None
    by: str
    draws: int
    wide: bool


def _cpu(g: _Group, v: _View) -> str:
    if not v.interval_ns or g.runtime_delta_ns is None:
        return ""
    return f"{100 * g.runtime_delta_ns / v.interval_ns:.1f}"


def _group_cell(g: _Group, v: _View) -> str:
    if v.wide or len(g.group) <= GROUP_WIDTH:
        return g.group
    return "…" + g.group[-(GROUP_WIDTH - 1):]  # the end of a path tells groups apart


def _set(g: _Group, v: _View) -> str:
    return next(iter(g.contention)) if len(g.contention) == 1 else ""


def _blank(value: object) -> object:
    return "" if value is None else value


# name -> (header, cell); per-interval columns say so in the help, not the header
COLUMNS: dict[str, tuple[str, Callable[[_Group, _View], object]]] = {
    "pid": ("PID", lambda g, v: g.threads if v.by in ("comm", "group") else g.pid),
    "comm": ("COMM", lambda g, v: "" if v.by == "group"
             else g.comm + (" (exited)" if g.exited else "")),
    "group": ("GROUP", _group_cell),
    "nice": ("NICE", lambda g, v: _blank(g.nice)),
    "tickets": ("TICKETS", lambda g, v: _blank(g.tickets)),
    "set": ("SET", _set),
    "cpu": ("CPU %", _cpu),
    "runtime": ("RUNTIME ms", lambda g, v: _ms(g.runtime_ns)),
    "delta": ("DELTA ms", lambda g, v: _ms(g.runtime_delta_ns)),
    "wait": ("WAIT ms", lambda g, v: _ms(g.wait_delta_ns)),
    "maxwait": ("MAX WAIT ms", lambda g, v: _ms(g.wait_max_ns)),
    "switches": ("SWITCHES", lambda g, v: g.switches),
    "swdelta": ("DELTA SW", lambda g, v: _blank(g.switches_delta)),
    "share": ("TKT %", lambda g, v: _pct(g.ticket_share)),
    "expected": ("EXP %", lambda g, v: _pct(g.expected)),
    "observed": ("OBS %", lambda g, v: _pct(g.observed)),
    "error": ("ERR pp", lambda g, v: _pct(None if g.expected is None
                                           else g.observed - g.expected)),
    "ewma": ("EWMA ms", lambda g, v: "" if g.ewma_ns is None else f"{units.ms(g.ewma_ns):.1f}"),
    "won": ("WON", lambda g, v: _blank(g.wins)),
    "winrate": ("WIN %", lambda g, v: _pct(None if g.wins is None or not v.draws
                                           else g.wins / v.draws)),
}
# What fits 120 characters: who, its tickets and where they compete, what it got.
DEFAULT_COLUMNS = ("pid", "comm", "group", "nice", "tickets", "set", "cpu", "wait", "share",
                   "expected", "observed", "error")
_DRAWS = ("won", "winrate")
GROUP_WIDTH = 20
WIDTH = 120
# tabulate widens every column by 2 beyond its header; the two spaces between
# columns are gap enough, and they are what lets the default fit WIDTH.
_tabulate.MIN_PADDING = 0


def columns(names: str | None, wide: bool, draws: int) -> tuple[str, ...]:
    """The columns to show: those named (comma-separated), all with wide, or
    the default (with the draws' when there are draws)."""
    if wide:
        return tuple(c for c in COLUMNS if draws or c not in _DRAWS)
    if names:
        picked = tuple(n.strip() for n in names.split(",") if n.strip())
        unknown = [n for n in picked if n not in COLUMNS]
        if unknown or not picked:
            what = f"has no column {unknown[0]!r}" if unknown else "names no column"
            raise LotteryError(f"--columns {names!r} {what}",
                               f"pick from {','.join(COLUMNS)}", code=EXIT_USAGE)
        return picked
    return DEFAULT_COLUMNS + (_DRAWS if draws else ())


def render(sample: Sample, top: int, sort: str = "delta", by: str = "thread",
           analysis: Analysis | None = None, shown: tuple[str, ...] = DEFAULT_COLUMNS,
           wide: bool = False) -> str:
    """Return the table of one sample, its header line and its summary lines."""
    path = currencies.Paths(sample.snapshot.groups)
    groups = top_groups(sample.tasks, by, analysis, path, top, _sort_key(sort), _row_key(sort))
    interval = sample.conservation.interval_ns if sample.conservation else None
    view = _View(interval, by, analysis.draws if analysis else 0, wide)
    headers = [COLUMNS[c][0] for c in shown]
    if "pid" in shown and by in ("comm", "group"):
        headers[shown.index("pid")] = "THREADS"
    body = [[COLUMNS[c][1](g, view) for c in shown] for g in groups]
    info = sample.snapshot.info
    when = datetime.fromtimestamp(sample.snapshot.timestamp_s).strftime("%H:%M:%S.%f")[:-3]
    span = f", {units.s(interval):.3f} s" if interval else ""
    title = (f"{when}{span}: {len(sample.tasks)} tasks,"
             f" map {info.live_rows} live + {info.exit_rows} exited rows")
    if info.dropped or sample.exits_missed:
        title += f"; not seen: {info.dropped} live tasks, {sample.exits_missed} exits"
    table = tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True)
    out = f"{title}\n{table}\n{conservation_line(sample.conservation)}"
    if analysis:
        out += "\n" + textwrap.fill(fairness_line(analysis), WIDTH, subsequent_indent="  ")
    return out


def render_edf(sample: Sample, analysis: Analysis, top: int) -> str:
    """The EDF view: the tasks with the highest utilisation, read as periodic."""
    rows = [(r, analysis.rows[r.task.key].edf) for r in sample.tasks
            if r.task.key in analysis.rows and analysis.rows[r.task.key].edf]
    rows.sort(key=lambda pair: pair[1].utilisation, reverse=True)
    body = [[r.task.pid, r.task.comm, e.activations, f"{units.ms(e.period_ns):.2f}",
             f"{units.ms(e.budget_ns):.2f}", f"{100 * e.utilisation:.1f}",
             f"{units.ms(e.response_ns):.2f}", f"{units.ms(e.lateness_ns):+.2f}"]
            for r, e in rows[:top]]
    headers = ["PID", "COMM", "RUNS", "PERIOD ms", "BUDGET ms", "UTIL %", "RESPONSE ms",
               "LATENESS ms"]
    util = "; ".join(f"{g} {u:.3f}" for g, u in sorted(analysis.utilisation.items()))
    return (f"EDF view (period = interval / runs; deadline = period)\n"
            f"{tabulate(body, headers=headers, tablefmt='simple', disable_numparse=True)}\n"
            f"total utilisation per group (EDF meets all deadlines on one CPU iff <= 1): "
            f"{util or 'needs two samples'}")
