"""Ticket models: how many lottery tickets a task holds, from its nice value."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator import files
from orchestrator.constants import EXIT_USAGE, MAX_TICKETS
from orchestrator.errors import LotteryError
from orchestrator.records import TaskSample

# kernel/sched/core.c, sched_prio_to_weight[]: nice -20 .. 19.  Each step is
# about 1.25x, so one nice level is about 10% of CPU between two tasks.
NICE_TO_WEIGHT = (
    88761, 71755, 56483, 46273, 36291,
    29154, 23254, 18705, 14949, 11916,
    9548, 7620, 6100, 4904, 3906,
    3121, 2501, 1991, 1586, 1277,
    1024, 820, 655, 526, 423,
    335, 272, 215, 172, 137,
    110, 87, 70, 56, 45,
    36, 29, 23, 18, 15,
)
WEIGHT_IDLEPRIO = 3  # SCHED_IDLE tasks, kernel/sched/sched.h

# include/uapi/linux/sched.h
SCHED_NORMAL, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE = 0, 1, 2, 3, 5, 6
_OUTSIDE_LOTTERY = {SCHED_FIFO, SCHED_RR, SCHED_DEADLINE}

MODELS = ("weight", "flat", "linear")

PerTask = Callable[[int, int], int | None]


@dataclass(frozen=True)
class TicketModel:
    """Tickets of a task from its nice value and policy; `hierarchical` models
    fund them through the task groups (currencies) the task belongs to."""

    name: str
    per_task: PerTask
    hierarchical: bool = False

    def __call__(self, nice: int, policy: int = 0) -> int | None:
        return self.per_task(nice, policy)

    def of(self, task: TaskSample) -> int | None:
        """The tickets a task holds."""
        return self.per_task(task.nice, task.policy)


def _clamp_nice(nice: int) -> int:
    return max(-20, min(19, nice))


def weight_tickets(nice: int, policy: int = SCHED_NORMAL) -> int | None:
    """The kernel's own weight for a nice value; None for real-time tasks."""
    if policy in _OUTSIDE_LOTTERY:
        return None
    if policy == SCHED_IDLE:
        return WEIGHT_IDLEPRIO
    return NICE_TO_WEIGHT[_clamp_nice(nice) + 20]


def linear_tickets(nice: int, policy: int = SCHED_NORMAL) -> int | None:
    """The seed project's max(10, 100 - 10*nice); None for real-time tasks."""
    if policy in _OUTSIDE_LOTTERY:
        return None
    return max(10, 100 - 10 * nice)


# 40 nice values need a few lines; a mapping file is never big.
MAX_MAPPING_BYTES = 64 << 10


def parse_mapping(text: str, source: str = "mapping") -> dict[int, int]:
    """Read a nice -> tickets mapping: one `NICE TICKETS` or `LOW..HIGH TICKETS`
    per line, `#` comments.  Every nice value -20..19 must be covered, so that
    no task silently gets tickets nobody chose."""
    table: dict[int, int] = {}
    line_re = re.compile(r"^(-?\d{1,3})(?:\s*\.\.\s*(-?\d{1,3}))?\s*[\s,=:]\s*(\d+)$")
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        found = line_re.match(line)
        if not found:
            raise LotteryError(f"{source} line {number}: {line[:60]!r} is not `NICE TICKETS`",
                               "write lines like `0 100` or `1..19 50`", code=EXIT_USAGE)
        low = int(found.group(1))
        high = int(found.group(2) or low)
        digits = found.group(3)
        count = int(digits) if len(digits) <= 12 else MAX_TICKETS + 1  # no int() of 400 digits
        if not -20 <= low <= high <= 19 or not 1 <= count <= MAX_TICKETS:
            shown = count if len(digits) <= 12 else f"a {len(digits)}-digit number of"
            raise LotteryError(f"{source} line {number}: nice {low}..{high} with {shown} tickets",
                               f"nice values are -20..19 and tickets 1 to {MAX_TICKETS:,}",
                               code=EXIT_USAGE)
        for nice in range(low, high + 1):
            table[nice] = count
    missing = [n for n in range(-20, 20) if n not in table]
    if missing:
        raise LotteryError(f"{source} gives no tickets for nice {_ranges(missing)}",
                           "cover -20..19, e.g. with a line `-20..19 100` first",
                           code=EXIT_USAGE)
    return table


def _ranges(values: list[int]) -> str:
    spans: list[list[int]] = []
    for v in values:
        if spans and spans[-1][1] == v - 1:
            spans[-1][1] = v
        else:
            spans.append([v, v])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in spans)


def mapping_tickets(table: dict[int, int]) -> PerTask:
    """A ticket model from a user's table; None for real-time tasks."""
    def tickets(nice: int, policy: int = SCHED_NORMAL) -> int | None:
        if policy in _OUTSIDE_LOTTERY:
            return None
        return table[_clamp_nice(nice)]
    return tickets


WEIGHT = TicketModel("weight", weight_tickets, hierarchical=True)
FLAT = TicketModel("flat", weight_tickets)
LINEAR = TicketModel("linear", linear_tickets)


def mapping_file(name: str | None) -> Path | None:
    """The mapping file --tickets names, if it names no built-in model."""
    return None if name is None or name in MODELS else Path(name)


def model(name: str) -> TicketModel:
    """Return the ticket model named on the command line: weight, flat, linear
    or the path of a mapping file."""
    if name in MODELS:
        return {"weight": WEIGHT, "flat": FLAT, "linear": LINEAR}[name]
    path = Path(name)
    fix = "pass weight, flat, linear or a file of `NICE TICKETS` lines"
    try:
        with files.open_input(path, "--tickets mapping", MAX_MAPPING_BYTES, fix,
                              "a mapping needs a line per nice value at most") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not text"
        raise LotteryError(f"--tickets {name!r} is neither weight, flat, linear nor a "
                           f"readable mapping file ({reason})", fix, code=EXIT_USAGE) from None
    return TicketModel(str(path), mapping_tickets(parse_mapping(text, str(path))))
