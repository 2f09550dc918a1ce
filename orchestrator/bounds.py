"""The one table of what each number lottery is given may be, with the
check every command runs before it touches anything.

Every bound is finite, so inf, nan and the like are out of range by the
same comparison.  Upper bounds keep each run within minutes and memory the
machine has: a million draws, an hour of sampling between two ticks."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.constants import EXIT_USAGE, TASKS_CAPACITY
from orchestrator.errors import LotteryError


@dataclass(frozen=True, slots=True)
class Bound:
    low: float
    high: float
    what: str             # the unit, as the fix names it
    example: str          # a value to suggest
    low_open: bool = False  # low itself is out of range

    def holds(self, value: float) -> bool:
        above = self.low < value if self.low_open else self.low <= value
        return above and value <= self.high  # False for nan

    def range_text(self) -> str:
        if self.low_open:
            return f"above {_shown(self.low)} and at most {_shown(self.high)}"
        return f"from {_shown(self.low)} to {_shown(self.high)}"


def _shown(number: float) -> str:
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


# Simulated draws a command may make in all (quanta x replays, or draws x
# groups x samples): about 15 s of this Python.
MAX_DRAWS = 20_000_000

OPTIONS: dict[str, Bound] = {
    "--interval": Bound(0.01, 86400, "seconds", "0.5"),
    "--iterations": Bound(1, 10**9, "samples", "5"),
    "--top": Bound(1, 100_000, "rows", "10"),
    "--plot-top": Bound(1, 50, "tasks", "6"),
    "--simulate-draws": Bound(0, 1_000_000, "draws per sample", "10000"),
    "--alpha": Bound(0, 1, "a weight", "0.3", low_open=True),
    "--deadline-warn": Bound(0, 3_600_000, "milliseconds", "20", low_open=True),
    "--quantum": Bound(0.01, 10_000, "milliseconds", "4"),
    "--replays": Bound(2, 10_000, "replays", "20"),
    "--live": Bound(1, 86400, "intervals", "5"),
    "--duration": Bound(0, 86400, "seconds", "10", low_open=True),
    "--experiment-duration": Bound(0.5, 3600, "seconds", "8"),
    "--window": Bound(0.1, 600, "seconds", "8"),
    "--procs": Bound(1, 1024, "processes", "2"),
    "--nice": Bound(-20, 19, "a nice value", "5"),
    "--max-tasks": Bound(1, TASKS_CAPACITY, "rows", "4096"),
    "--exit-retention": Bound(0.1, 3600, "seconds", "10"),
    "--listed-exits": Bound(1, 100_000, "exits a second", "500"),
    "--max-groups": Bound(1, 10_000, "groups", "100"),
    "--pid": Bound(1, 4_194_304, "a PID (at most the kernel's PID_MAX_LIMIT)", "1234"),
}


def check(option: str, value: float | None, name: str | None = None) -> None:
    """Raise a one-line usage error unless `value` (None: not given) is in
    the range OPTIONS holds for `option`.  `name` is the option as the user
    typed it, when the table keys it otherwise (--plot-top is plot's --top)."""
    if value is None:
        return
    bound = OPTIONS[option]
    if not bound.holds(value):
        shown = name or option
        raise LotteryError(f"{shown} {value:g} is out of range" if isinstance(value, float)
                           else f"{shown} {value} is out of range",
                           f"pass {bound.what} {bound.range_text()}, e.g. {shown} "
                           f"{bound.example}", code=EXIT_USAGE)


def check_draws(quanta: int, replays: int, fix: str) -> None:
    """Refuse a simulation of more than MAX_DRAWS draws in all; `fix` says
    which option brings it down."""
    total = quanta * replays
    if total > MAX_DRAWS:
        raise LotteryError(f"the simulation would make {total:.3g} draws ({quanta:.3g} quanta "
                           f"x {replays} replays), more than {MAX_DRAWS:.0e}", fix,
                           code=EXIT_USAGE)
