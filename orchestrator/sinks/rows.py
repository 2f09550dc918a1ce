"""Rows of a frame as the table and `lottery top` show them: task records
summed per group of a grouping (groupings/), the sort keys, and the
columns, each a header and a cell made from the same entry, so that no view
can show a header without its cells or cells without their header."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from orchestrator import units, waits
from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.groupings import Grouping
from orchestrator.records import NOT_TASKS, TaskRecord


@dataclass
class GroupRow:
    """The records of one group summed, where a sum means something."""

    name: str          # the grouping's name of the group (a comm, comm/tgid, a path)
    pid: int           # a thread's pid, a process's tgid; 0 for other groupings
    comm: str
    group: str         # the task group's path; "(N groups)" when its tasks are in several
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
    expected: float | None = None      # summed expected shares of its threads
    observed: float | None = None
    wins: int | None = None
    ewma_ns: float | None = None
    # the tightest CPU quota over its members' task groups, and the most its
    # binding group was throttled in the interval (a group's, not a sum)
    quota_cpus: float | None = None
    throttled_ms: float | None = None
    # why it ran less than its tickets are worth (analysis/deficit.py), summed
    demand_ms: float | None = None
    deficit_ms: float | None = None
    deficit_cpus_ms: float | None = None
    deficit_throttled_ms: float | None = None
    deficit_waited_ms: float | None = None
    deficit_unasked_ms: float | None = None
    labels: tuple[str, ...] = ()  # the values of its grouping's labels (Grouping.labels)
    # its run-queue waits in the interval by slot (orchestrator/waits.py)
    waits: list[int] = field(default_factory=list)
    # what its members differ in: shares of different contention groups do
    # not add up, and one GROUP, NICE or TICKETS value would misstate the rest
    contention: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    nices: set[int | None] = field(default_factory=set)
    tickets_held: set[int | None] = field(default_factory=set)

    @property
    def error(self) -> float | None:
        return None if self.expected is None or self.observed is None \
            else self.observed - self.expected

    @property
    def contention_group(self) -> str:
        return next(iter(self.contention)) if len(self.contention) == 1 else ""


N = TypeVar("N", int, float)


def _add(a: N | None, b: N | None) -> N | None:
    """Sum where None means "not known": unknown plus known is the known one."""
    return b if a is None else a if b is None else a + b


def aggregate(records: Iterable[TaskRecord], grouping: Grouping,
              context: Sequence[TaskRecord] = ()) -> list[GroupRow]:
    """Sum records per group of `grouping`; `context` (the frame's tasks)
    names the groups (a process by its leader, which may be filtered out)."""
    records = list(records)
    key_of, name_of = grouping.key, grouping.namer(context or records)
    per_task = grouping.per_task
    groups: dict[object, GroupRow] = {}
    for r in records:
        key = key_of(r)
        g = groups.get(key)
        path = r.group or ""
        if g is None:
            name = name_of(r)
            pid = r.pid if per_task else r.tgid if grouping.name == "process" else 0
            comm = name.rsplit("/", 1)[0] if grouping.name == "process" else r.comm
            g = groups[key] = GroupRow(name, pid, comm, path, r.nice, r.tickets,
                                       labels=grouping.label_values(key))
        g.threads += 0 if r.state in NOT_TASKS else 1
        g.paths.add(path)
        g.nices.add(r.nice)
        g.tickets_held.add(r.tickets)
        g.runtime_ns += r.runtime_ns
        g.runtime_delta_ns = _add(g.runtime_delta_ns, r.runtime_delta_ns)
        g.wait_delta_ns = _add(g.wait_delta_ns, r.wait_delta_ns)
        g.wait_max_ns = max(g.wait_max_ns, r.wait_max_ns or 0)
        g.switches += r.switches or 0
        g.switches_delta = _add(g.switches_delta, r.switches_delta)
        g.exited = g.exited or (per_task and r.state == "exited")
        if r.contention_group is not None:
            g.contention.add(r.contention_group)
            g.ticket_share = _add(g.ticket_share, r.ticket_share)
            g.expected = _add(g.expected, r.expected_share)
            g.observed = _add(g.observed, r.observed_share)
        g.wins = _add(g.wins, r.lottery_wins)
        g.ewma_ns = _add(g.ewma_ns, r.ewma_runtime_delta_ns)
        if r.quota_cpus is not None:
            g.quota_cpus = min(g.quota_cpus or r.quota_cpus, r.quota_cpus)
        if r.throttled_ms is not None:
            g.throttled_ms = max(g.throttled_ms or 0.0, r.throttled_ms)
        g.demand_ms = _add(g.demand_ms, r.demand_ms)
        g.deficit_ms = _add(g.deficit_ms, r.deficit_ms)
        g.deficit_cpus_ms = _add(g.deficit_cpus_ms, r.deficit_cpus_ms)
        g.deficit_throttled_ms = _add(g.deficit_throttled_ms, r.deficit_throttled_ms)
        g.deficit_waited_ms = _add(g.deficit_waited_ms, r.deficit_waited_ms)
        g.deficit_unasked_ms = _add(g.deficit_unasked_ms, r.deficit_unasked_ms)
        if r.wait_slots:
            waits.add(g.waits, waits.decode(r.wait_slots))
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


def _abs_error(item) -> float:
    error = item.error if isinstance(item, GroupRow) else (
        None if item.expected_share is None or item.observed_share is None
        else item.observed_share - item.expected_share)
    return -1.0 if error is None else abs(error)


def _by(group_field: str, record_field: str, sign: int) -> tuple[Callable, Callable]:
    def of_group(g: GroupRow) -> float:
        return sign * (getattr(g, group_field) or 0)

    def of_record(r: TaskRecord) -> float:
        return sign * (getattr(r, record_field) or 0)
    return of_group, of_record


# Each sort key: how it orders groups, and how it orders records in the same
# order (by thread a record is a group of its own); higher comes first.
# Per-interval keys never fall back to lifetime totals (units would mix).
SORTS: dict[str, tuple[Callable[[GroupRow], float], Callable[[TaskRecord], float]]] = {
    "delta": _by("runtime_delta_ns", "runtime_delta_ns", 1),
    "runtime": _by("runtime_ns", "runtime_ns", 1),
    "wait": _by("wait_delta_ns", "wait_delta_ns", 1),
    "switches": _by("switches_delta", "switches_delta", 1),
    "error": (_abs_error, _abs_error),
    "deficit": _by("deficit_ms", "deficit_ms", 1),
    "pid": _by("pid", "pid", -1),
}
SORT_KEYS = tuple(SORTS)


def top_groups(records: Sequence[TaskRecord], grouping: Grouping, sort: str,
               top: int) -> list[GroupRow]:
    """The `top` groups highest by `sort`, in that order.  By thread, the
    records are chosen first, and only those become groups (a host may run
    100,000 threads)."""
    of_group, of_record = SORTS[sort]
    if grouping.per_task:
        return aggregate(heapq.nlargest(top, records, key=of_record), grouping, records)
    return heapq.nlargest(top, aggregate(records, grouping), key=of_group)


@dataclass(frozen=True)
class View:
    """What a cell needs beyond its row."""

    grouping: Grouping
    interval_ns: int | None = None
    draws: int = 0
    wide: bool = False
    group_width: int = 20
    history: Callable[[GroupRow], str] = lambda g: ""


def _ms(ns: float | None) -> str:
    return "" if ns is None else f"{units.ms(ns):.1f}"


def _us(us: float | None) -> str:
    return "" if us is None else f"{us:.0f}"


def _ms_value(ms: float | None) -> str:
    return "" if ms is None else f"{ms:.1f}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def _blank(value: object) -> object:
    return "" if value is None else value


def _cpu(g: GroupRow, v: View) -> str:
    if not v.interval_ns or g.runtime_delta_ns is None:
        return ""
    return f"{100 * g.runtime_delta_ns / v.interval_ns:.1f}"


THROTTLED = "*"  # after a group's path: its CPU quota held it off in the interval


def throttled(g: GroupRow) -> bool:
    return bool(g.throttled_ms)


def _path_cell(g: GroupRow, v: View) -> str:
    mark = THROTTLED if throttled(g) else ""
    width = v.group_width - len(mark)
    if v.wide or len(g.group) <= width:
        return g.group + mark
    return "…" + g.group[-(width - 1):] + mark  # the end of a path tells groups apart


# The parts of a deficit, as `why` names them, in the order they are taken.
WHY = (("cpus", "deficit_cpus_ms"), ("throttled", "deficit_throttled_ms"),
       ("waited", "deficit_waited_ms"), ("unasked", "deficit_unasked_ms"))


def why(g: GroupRow, least_ms: float = 0.05) -> str:
    """The parts of its deficit, largest first: "throttled 380.2 waited 12.0"."""
    parts = [(getattr(g, name) or 0.0, label) for label, name in WHY]
    return " ".join(f"{label} {ms:.1f}" for ms, label in sorted(parts, reverse=True)
                    if ms >= least_ms)


def _own_name(g: GroupRow, v: View) -> str:
    """The name of a group named otherwise than by command or path: whole
    in a wide view, else as a tight column shows it (a container's id)."""
    return g.name if v.wide else v.grouping.short(g.name)


def _name(g: GroupRow, v: View) -> str:
    """A group by task group is named by its path, one with a name of its
    own by that; any other by its command."""
    if v.grouping.by_path:
        return _path_cell(g, v)
    if v.grouping.title:
        return _own_name(g, v)
    return g.comm + (" (exited)" if g.exited else "")


def _label(label: str) -> Callable[[GroupRow, View], str]:
    """A cell showing the group's value of `label`, where its grouping has it."""
    def cell(g: GroupRow, v: View) -> str:
        names = v.grouping.labels
        return g.labels[names.index(label)] if label in names else ""
    return cell


TICKS = "▁▂▃▄▅▆▇█"


def spark(values: Sequence[float]) -> str:
    """Shares (0..1) as one character each, low to high."""
    return "".join(TICKS[min(len(TICKS) - 1, max(0, int(v * len(TICKS))))] for v in values)


def bar(observed: float | None, expected: float | None, width: int = 10) -> str:
    """The observed share as a filled bar, the expected share as a mark: │."""
    if observed is None:
        return ""
    cells = ["█" if i < round(observed * width) else " " for i in range(width)]
    if expected is not None:
        cells[max(0, min(width - 1, int(expected * width)))] = "│"
    return "".join(cells)


@dataclass(frozen=True)
class Column:
    header: Callable[[View], str]
    cell: Callable[[GroupRow, View], object]


def _fixed(text: str) -> Callable[[View], str]:
    return lambda v: text


# name -> its column; per-interval columns say so in the help, not the header
COLUMNS: dict[str, Column] = {
    "pid": Column(lambda v: "THREADS" if v.grouping.counts else "PID",
                  lambda g, v: g.threads if v.grouping.counts else g.pid),
    "comm": Column(lambda v: v.grouping.title or "COMM",
                   lambda g, v: "" if v.grouping.by_path else _name(g, v)),
    "name": Column(lambda v: "GROUP" if v.grouping.by_path else v.grouping.title or "COMM",
                   _name),
    "group": Column(_fixed("GROUP"), _path_cell),
    "pod": Column(_fixed("POD UID"), _label("pod_uid")),
    "nice": Column(_fixed("NICE"), lambda g, v: _blank(g.nice)),
    "tickets": Column(_fixed("TICKETS"), lambda g, v: _blank(g.tickets)),
    "set": Column(_fixed("SET"), lambda g, v: g.contention_group),
    "cpu": Column(_fixed("CPU %"), _cpu),
    "runtime": Column(_fixed("RUNTIME ms"), lambda g, v: _ms(g.runtime_ns)),
    "delta": Column(_fixed("DELTA ms"), lambda g, v: _ms(g.runtime_delta_ns)),
    "wait": Column(_fixed("WAIT ms"), lambda g, v: _ms(g.wait_delta_ns)),
    "maxwait": Column(_fixed("MAX WAIT ms"), lambda g, v: _ms(g.wait_max_ns)),
    "p99": Column(_fixed("P99 WAIT us"), lambda g, v: _us(waits.quantile(g.waits, 0.99))),
    "switches": Column(_fixed("SWITCHES"), lambda g, v: g.switches),
    "swdelta": Column(_fixed("DELTA SW"), lambda g, v: _blank(g.switches_delta)),
    "share": Column(_fixed("TKT %"), lambda g, v: _pct(g.ticket_share)),
    "expected": Column(_fixed("EXP %"), lambda g, v: _pct(g.expected)),
    "observed": Column(_fixed("OBS %"), lambda g, v: _pct(g.observed)),
    "error": Column(_fixed("ERR pp"), lambda g, v: _pct(g.error)),
    "ewma": Column(_fixed("EWMA ms"), lambda g, v: _ms(g.ewma_ns)),
    "demand": Column(_fixed("DEMAND ms"), lambda g, v: _ms_value(g.demand_ms)),
    "quota": Column(_fixed("QUOTA cpus"), lambda g, v: "" if g.quota_cpus is None
                    else f"{g.quota_cpus:.2f}"),
    "throttled": Column(_fixed("THROTTLED ms"), lambda g, v: _ms_value(g.throttled_ms)),
    "deficit": Column(_fixed("SHORT ms"), lambda g, v: _ms_value(g.deficit_ms)),
    "why": Column(_fixed("WHY SHORT (ms)"), lambda g, v: why(g)),
    "won": Column(_fixed("WON"), lambda g, v: _blank(g.wins)),
    "winrate": Column(_fixed("WIN %"), lambda g, v: _pct(
        None if g.wins is None or not v.draws else g.wins / v.draws)),
    "bar": Column(_fixed("OBSERVED│EXPECTED"), lambda g, v: bar(g.observed, g.expected)),
    "history": Column(_fixed("HISTORY"), lambda g, v: v.history(g)),
}
# Columns of `lottery top` only: they need a history, and a terminal.
TOP_ONLY = ("name", "bar", "history")
TABLE_COLUMNS = tuple(name for name in COLUMNS if name not in TOP_ONLY)
# Columns of a grouping's label: blank in any grouping without it.
LABEL_COLUMNS = {"pod": "pod_uid"}


def choose(names: str | None, wide: bool, draws: int, defaults: tuple[str, ...],
           labels: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The table columns to show: those named (comma-separated), all with
    wide (those of the grouping's `labels` only), or the defaults (with the
    draws' when there are draws)."""
    draw_columns = ("won", "winrate")
    if wide:
        return tuple(c for c in TABLE_COLUMNS if (draws or c not in draw_columns)
                     and (c not in LABEL_COLUMNS or LABEL_COLUMNS[c] in labels))
    if names:
        picked = tuple(n.strip() for n in names.split(",") if n.strip())
        unknown = [n for n in picked if n not in TABLE_COLUMNS]
        if unknown or not picked:
            what = f"has no column {unknown[0]!r}" if unknown else "names no column"
            raise LotteryError(f"--columns {names!r} {what}",
                               f"pick from {','.join(TABLE_COLUMNS)}", code=EXIT_USAGE)
        return picked
    return defaults + (draw_columns if draws else ())


def headers(names: Sequence[str], view: View) -> list[str]:
    return [COLUMNS[n].header(view) for n in names]


def cells(g: GroupRow, names: Sequence[str], view: View) -> list[object]:
    return [COLUMNS[n].cell(g, view) for n in names]
