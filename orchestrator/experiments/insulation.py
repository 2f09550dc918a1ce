"""Load insulation with currencies (the lottery paper's figure 9): two
currencies A and B, funded equally; A1 = 100.A, A2 = 200.A, B1 = 100.B,
B2 = 200.B; halfway B3 = 300.B starts and inflates B.  In the paper the
aggregate A:B ratio stayed 1:1, B1 and B2 slowed to about half, and A was
unaffected.  Here the currencies are cgroups of equal weight, and each task
sits in a child group whose weight is its tickets."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.experiments import runner
from orchestrator.kernel.cgroups import Cgroups
from orchestrator.paths import Pins
from orchestrator.sinks.results import column

TICKETS = {"A1": 100, "A2": 200, "B1": 100, "B2": 200, "B3": 300}
# cpu.shares per ticket: 100 tickets are a weight of 1000 (a nice-0 task is 1024)
SHARES_PER_TICKET = 10
# After B3 starts, the scheduler settles the groups' weights before "after" counts.
SETTLE_S = 1.0


@dataclass(frozen=True)
class Row:
    phase: str      # before, after (B3 runs)
    currency: str   # A, B
    task: str       # A1 ... B3
    tickets: int
    cpu_share: float  # the task's fraction of the CPU in the phase
    runtime_ns: int


# The results file: a row per task and phase.
COLUMNS = (column("phase"), column("currency"), column("task"), column("tickets"),
           column("cpu_share", digits=6), column("runtime_ns"))


def run(pins: Pins, duration_s: float, cpu: int, step_s: float = 0.5
        ) -> tuple[list[Row], runner.Timeline]:
    """The experiment: rows per task and phase, and the whole timeline."""
    half = duration_s / 2
    with Cgroups("insulation") as groups:
        currencies = {name: groups.make(name, 1024) for name in ("A", "B")}
        for path in currencies.values():
            groups.nest(path)
        tasks = [runner.Task(name, groups.make(name, tickets * SHARES_PER_TICKET,
                                               currencies[name[0]]),
                             start_s=half if name == "B3" else 0.0)
                 for name, tickets in TICKETS.items()]
        timeline = runner.run(pins, tasks, cpu, duration_s, step_s)
    rows = []
    for phase, (start, end) in (("before", (step_s, half)),
                                ("after", (half + SETTLE_S, duration_s))):
        span_s, ran = runner.between(timeline, start, end)
        for name, tickets in TICKETS.items():
            if name in ran and not (phase == "before" and name == "B3"):
                rows.append(Row(phase, name[0], name, tickets, ran[name] / (span_s * 1e9),
                                ran[name]))
    return rows, timeline


def currency_share(rows: list[Row], phase: str, currency: str) -> float:
    """A currency's share of what the tasks had in a phase."""
    here = [r for r in rows if r.phase == phase]
    return sum(r.runtime_ns for r in here if r.currency == currency) / \
        sum(r.runtime_ns for r in here)


def task_share(rows: list[Row], phase: str, task: str) -> float:
    """A task's share of what the tasks had in a phase."""
    here = [r for r in rows if r.phase == phase]
    return next(r.runtime_ns for r in here if r.task == task) / sum(r.runtime_ns for r in here)
