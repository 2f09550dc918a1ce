"""Table sink: the busiest tasks of a sample, and a one-line conservation check."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tabulate import tabulate

from orchestrator.metrics import Conservation, Sample, TaskRow

SORT_KEYS = ("delta", "runtime", "wait", "switches", "pid")
GROUPINGS = ("thread", "process", "comm")


@dataclass
class _Group:
    label: str
    pid: int
    comm: str
    nice: int
    tickets: int | None
    threads: int = 0
    runtime_ns: int = 0
    runtime_delta_ns: int | None = None
    wait_delta_ns: int | None = None
    wait_max_ns: int = 0
    switches: int = 0
    switches_delta: int | None = None
    exited: bool = False


def _add(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else a + b


def group(rows: Iterable[TaskRow], by: str) -> list[_Group]:
    """Sum task rows per thread, process (tgid) or command name."""
    groups: dict[object, _Group] = {}
    for row in rows:
        t = row.task
        key = {"thread": t.key, "process": t.tgid, "comm": t.comm}[by]
        g = groups.get(key)
        if g is None:
            pid = t.pid if by == "thread" else t.tgid if by == "process" else 0
            g = groups[key] = _Group(t.comm, pid, t.comm, t.nice, row.tickets)
        g.threads += 1
        g.runtime_ns += t.runtime_ns
        g.runtime_delta_ns = _add(g.runtime_delta_ns, row.runtime_delta_ns)
        g.wait_delta_ns = _add(g.wait_delta_ns, row.wait_delta_ns)
        g.wait_max_ns = max(g.wait_max_ns, t.wait_max_ns)
        g.switches += t.switches
        g.switches_delta = _add(g.switches_delta, row.switches_delta)
        g.exited = g.exited or (by == "thread" and t.exited)
    return list(groups.values())


def _sort_key(name: str):
    return {
        "delta": lambda g: (g.runtime_delta_ns or 0, g.runtime_ns),
        "runtime": lambda g: g.runtime_ns,
        "wait": lambda g: g.wait_delta_ns or 0,
        "switches": lambda g: g.switches_delta or g.switches,
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


def render(sample: Sample, top: int, sort: str = "delta", by: str = "thread") -> str:
    """Return the table of one sample, its header line and its summary line."""
    groups = sorted(group(sample.tasks, by), key=_sort_key(sort), reverse=True)
    interval = sample.conservation.interval_ns if sample.conservation else None
    headers = ["PID" if by != "comm" else "THREADS", "COMM", "NICE", "TICKETS", "RUNTIME ms",
               "DELTA ms", "CPU %", "WAIT DELTA ms", "MAX WAIT ms", "SWITCHES", "DELTA SW"]
    body = []
    for g in groups[:top]:
        cpu = "" if interval is None or g.runtime_delta_ns is None else \
            f"{100 * g.runtime_delta_ns / interval:.1f}"
        body.append([
            g.threads if by == "comm" else g.pid,
            g.comm + (" (exited)" if g.exited else ""),
            g.nice, "" if g.tickets is None else g.tickets,
            _ms(g.runtime_ns), _ms(g.runtime_delta_ns), cpu, _ms(g.wait_delta_ns),
            _ms(g.wait_max_ns), g.switches, "" if g.switches_delta is None else g.switches_delta,
        ])
    title = (f"sample {sample.snapshot.info.snapshot}: {len(sample.tasks)} tasks,"
             f" map {sample.snapshot.info.entries} rows")
    table = tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True)
    return f"{title}\n{table}\n{conservation_line(sample.conservation)}"
