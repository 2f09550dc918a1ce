"""Table sink: the busiest tasks of a sample, and a one-line conservation check."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from tabulate import tabulate

from orchestrator import currencies
from orchestrator.analysis import Analysis, RowAnalysis
from orchestrator.metrics import Conservation, Sample, TaskRow

SORT_KEYS = ("delta", "runtime", "wait", "switches", "pid")
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
    expected: float | None = None   # summed ticket shares of its threads
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


def group(rows: Iterable[TaskRow], by: str, analysis: Analysis | None = None,
          path: currencies.Paths | None = None) -> list[_Group]:
    """Sum task rows per thread, process (tgid), command name or task group."""
    path = path or currencies.Paths({})
    groups: dict[object, _Group] = {}
    for row in rows:
        t = row.task
        where = path(t.group)
        key = {"thread": t.key, "process": t.tgid, "comm": t.comm, "group": where}[by]
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
        a = analysis.rows.get(t.key, RowAnalysis()) if analysis else RowAnalysis()
        if a.share:
            g.contention.add(a.share.group)
            g.expected = _add(g.expected, a.share.expected)
            g.observed = _add(g.observed, a.share.observed)
        g.wins = _add(g.wins, a.wins)
        g.ewma_ns = _add(g.ewma_ns, a.ewma_delta_ns)
    for g in groups.values():
        if len(g.contention) > 1:
            g.expected = g.observed = g.wins = None
        if len(g.paths) > 1:
            g.group = f"({len(g.paths)} groups)"
        if len(g.nices) > 1:
            g.nice = None
        if len(g.tickets_held) > 1:
            g.tickets = None
    return list(groups.values())


def _sort_key(name: str):
    return {
        # per-interval keys never fall back to lifetime totals (units would mix)
        "delta": lambda g: g.runtime_delta_ns or 0,
        "runtime": lambda g: g.runtime_ns,
        "wait": lambda g: g.wait_delta_ns or 0,
        "switches": lambda g: g.switches_delta or 0,
        "pid": lambda g: -g.pid,
    }[name]


def _ms(ns: int | None) -> str:
    return "" if ns is None else f"{ns / 1e6:.1f}"


def conservation_line(check: Conservation | None) -> str:
    if check is None:
        return "conservation: needs two samples"
    return (f"conservation: tasks {check.busy_ns / 1e9:.3f} s + idle {check.idle_ns / 1e9:.3f} s"
            f" over {check.cpus} CPUs x {check.interval_ns / 1e9:.3f} s"
            f" = {100 * (1 + check.error):.2f}% (error {100 * check.error:+.2f}%)")


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def fairness_line(analysis: Analysis) -> str:
    parts = [f"{f.group} {f.index:.3f} over {f.tasks} tasks" for f in analysis.fairness
             if f.index is not None]
    if not parts:
        return "fairness: needs two samples"
    return "fairness (Jain's index of observed/expected share): " + "; ".join(parts)


def render(sample: Sample, top: int, sort: str = "delta", by: str = "thread",
           analysis: Analysis | None = None) -> str:
    """Return the table of one sample, its header line and its summary lines."""
    path = currencies.Paths(sample.snapshot.groups)
    groups = sorted(group(sample.tasks, by, analysis, path), key=_sort_key(sort), reverse=True)
    interval = sample.conservation.interval_ns if sample.conservation else None
    summed = by in ("comm", "group")
    headers = ["THREADS" if summed else "PID", "COMM", "GROUP", "NICE", "TICKETS", "RUNTIME ms",
               "DELTA ms", "CPU %", "WAIT DELTA ms", "MAX WAIT ms", "SWITCHES", "DELTA SW"]
    if analysis:
        headers += ["EXPECTED %", "OBSERVED %", "ERROR pp", "EWMA ms"]
        if analysis.draws:
            headers += ["WON", "WIN %"]
    body = []
    for g in groups[:top]:
        cpu = "" if interval is None or g.runtime_delta_ns is None else \
            f"{100 * g.runtime_delta_ns / interval:.1f}"
        line = [
            g.threads if summed else g.pid,
            "" if by == "group" else g.comm + (" (exited)" if g.exited else ""),
            g.group, "" if g.nice is None else g.nice, "" if g.tickets is None else g.tickets,
            _ms(g.runtime_ns), _ms(g.runtime_delta_ns), cpu, _ms(g.wait_delta_ns),
            _ms(g.wait_max_ns), g.switches, "" if g.switches_delta is None else g.switches_delta,
        ]
        if analysis:
            error = None if g.expected is None else g.observed - g.expected
            line += [_pct(g.expected), _pct(g.observed), _pct(error),
                     "" if g.ewma_ns is None else f"{g.ewma_ns / 1e6:.1f}"]
            if analysis.draws:
                line += ["" if g.wins is None else g.wins,
                         _pct(None if g.wins is None else g.wins / analysis.draws)]
        body.append(line)
    info = sample.snapshot.info
    when = datetime.fromtimestamp(sample.snapshot.timestamp_s).strftime("%H:%M:%S.%f")[:-3]
    span = f", {interval / 1e9:.3f} s" if interval else ""
    title = (f"{when}{span}: {len(sample.tasks)} tasks,"
             f" map {info.live_rows} live + {info.exit_rows} exited rows")
    if info.dropped or sample.exits_missed:
        title += f"; not seen: {info.dropped} live tasks, {sample.exits_missed} exits"
    table = tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True)
    out = f"{title}\n{table}\n{conservation_line(sample.conservation)}"
    if analysis:
        out += "\n" + fairness_line(analysis)
    return out


def render_edf(sample: Sample, analysis: Analysis, top: int) -> str:
    """The EDF view: the tasks with the highest utilisation, read as periodic."""
    rows = [(r, analysis.rows[r.task.key].edf) for r in sample.tasks
            if r.task.key in analysis.rows and analysis.rows[r.task.key].edf]
    rows.sort(key=lambda pair: pair[1].utilisation, reverse=True)
    body = [[r.task.pid, r.task.comm, e.activations, f"{e.period_ns / 1e6:.2f}",
             f"{e.budget_ns / 1e6:.2f}", f"{100 * e.utilisation:.1f}",
             f"{e.response_ns / 1e6:.2f}", f"{e.lateness_ns / 1e6:+.2f}"] for r, e in rows[:top]]
    headers = ["PID", "COMM", "RUNS", "PERIOD ms", "BUDGET ms", "UTIL %", "RESPONSE ms",
               "LATENESS ms"]
    util = "; ".join(f"{g} {u:.3f}" for g, u in sorted(analysis.utilisation.items()))
    return (f"EDF view (period = interval / runs; deadline = period)\n"
            f"{tabulate(body, headers=headers, tablefmt='simple', disable_numparse=True)}\n"
            f"total utilisation per group (EDF meets all deadlines on one CPU iff <= 1): "
            f"{util or 'needs two samples'}")
