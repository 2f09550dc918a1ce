"""Ticket models: how many lottery tickets a task holds, from its nice value."""

from __future__ import annotations

from collections.abc import Callable

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

MODELS = ("weight", "linear")

TicketModel = Callable[[int, int], int | None]


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


def model(name: str) -> TicketModel:
    """Return the ticket function named on the command line."""
    return {"weight": weight_tickets, "linear": linear_tickets}[name]
