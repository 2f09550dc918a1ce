"""Table sink: the busiest tasks (or groups) of a frame, a one-line
conservation check and Jain's index per contention set."""

from __future__ import annotations

import textwrap
from datetime import datetime

import tabulate as _tabulate
from tabulate import tabulate

from orchestrator import units
from orchestrator.analysis.frames import Frame
from orchestrator.groupings import Grouping
from orchestrator.sampling.deltas import Conservation
from orchestrator.sinks import rows

# What fits 120 characters: who, its tickets and where they compete, what it got.
DEFAULT_COLUMNS = ("pid", "comm", "group", "nice", "tickets", "set", "cpu", "wait", "share",
                   "expected", "observed", "error")
WIDTH = 120


def default_columns(grouping: Grouping | None = None) -> tuple[str, ...]:
    """DEFAULT_COLUMNS with what tells the grouping's groups apart after the
    name (Grouping.detail: a container's pod uid instead of a task's group
    path and nice)."""
    if grouping is None:
        return DEFAULT_COLUMNS
    found: list[str] = []
    for name in DEFAULT_COLUMNS:
        if name == "group":
            found += grouping.detail
        elif name != "nice":
            found.append(name)
    return tuple(found)


def _tight(body: list, headers: list) -> str:
    """tabulate without its padding: it widens every column by 2 beyond its
    header, and the two spaces between columns are gap enough (what lets the
    default fit WIDTH). Its setting is the module's, so it is set for this
    table alone: once set at import, it changed every other table the
    process drew after (simulate's and experiment's results)."""
    padding, _tabulate.MIN_PADDING = _tabulate.MIN_PADDING, 0
    try:
        return tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True)
    finally:
        _tabulate.MIN_PADDING = padding


def columns(names: str | None, wide: bool, draws: int, grouping: Grouping | None = None
            ) -> tuple[str, ...]:
    return rows.choose(names, wide, draws, default_columns(grouping),
                       grouping.labels if grouping else ())


def conservation_line(check: Conservation | None) -> str:
    if check is None:
        return "conservation: needs two samples"
    return (f"conservation: tasks {units.s(check.busy_ns):.3f} s"
            f" + idle {units.s(check.idle_ns):.3f} s"
            f" over {check.cpus} CPUs x {units.s(check.interval_ns):.3f} s"
            f" = {100 * (1 + check.error):.2f}% (error {100 * check.error:+.2f}%)")


def fairness_line(frame: Frame) -> str:
    parts = [f"{f.group} {f.index:.3f} over {f.tasks} tasks" for f in frame.fairness
             if f.index is not None]
    if not parts:
        return "fairness: needs two samples"
    return "fairness (Jain's index of observed/expected share): " + "; ".join(parts)


def render(frame: Frame, top: int, sort: str, grouping: Grouping,
           shown: tuple[str, ...] = DEFAULT_COLUMNS, wide: bool = False) -> str:
    """Return the table of one frame, its header line and its summary lines."""
    groups = rows.top_groups(frame.tasks, grouping, sort, top)
    check = frame.conservation
    interval = check.interval_ns if check else None
    view = rows.View(grouping, interval, frame.draws, wide)
    body = [rows.cells(g, shown, view) for g in groups]
    seen = frame.seen
    when = datetime.fromtimestamp(frame.timestamp_s).strftime("%H:%M:%S.%f")[:-3]
    span = f", {units.s(interval):.3f} s" if interval else ""
    title = (f"{when}{span}: {len(frame.tasks)} tasks,"
             f" map {seen.live_rows} live + {seen.exit_rows} exited rows")
    if seen.dropped or seen.exits_missed:
        title += f"; not seen: {seen.dropped} live tasks, {seen.exits_missed} exits"
    if seen.exits_passed:
        title += f"; {seen.exits_passed} short exits summed per group"
    table = _tight(body, rows.headers(shown, view))
    out = f"{title}\n{table}\n{conservation_line(check)}"
    if {"group", "name"} & set(shown) or grouping.by_path:
        held = [g for g in groups if rows.throttled(g)]
        if held:
            out += (f"\n{rows.THROTTLED} throttled: {len(held)} of these rows' task groups hit "
                    "their CPU quota in the interval (--columns ...,quota,throttled,why)")
    return out + "\n" + textwrap.fill(fairness_line(frame), WIDTH, subsequent_indent="  ")


def render_edf(frame: Frame, top: int) -> str:
    """The EDF view: the tasks with the highest utilisation, read as periodic."""
    found = sorted((r for r in frame.tasks if r.utilisation is not None and r.runs_delta),
                   key=lambda r: r.utilisation, reverse=True)
    body = [[r.pid, r.comm, r.runs_delta, f"{r.period_ms:.2f}",
             f"{units.ms((r.runtime_delta_ns or 0) / r.runs_delta):.2f}",
             f"{100 * r.utilisation:.1f}", f"{r.response_ms:.2f}", f"{r.lateness_ms:+.2f}"]
            for r in found[:top]]
    headers = ["PID", "COMM", "RUNS", "PERIOD ms", "BUDGET ms", "UTIL %", "RESPONSE ms",
               "LATENESS ms"]
    util = "; ".join(f"{g} {u:.3f}" for g, u in sorted(frame.utilisation.items()))
    return (f"EDF view (period = interval / runs; deadline = period)\n"
            f"{_tight(body, headers)}\n"
            f"total utilisation per group (EDF meets all deadlines on one CPU iff <= 1): "
            f"{util or 'needs two samples'}")
