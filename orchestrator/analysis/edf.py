"""The EDF view: each task read as if it were a periodic real-time task.

Linux does not tell us periods or deadlines; this estimates them from what
it does count (docs/ANALYSIS.md has the formulas and their limits)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from orchestrator.analysis import shares
from orchestrator.sampling.deltas import TaskRow


@dataclass(frozen=True, slots=True)
class EdfEstimate:
    """One task over one interval, with its implicit deadline = its period."""

    activations: int      # times switched in
    period_ns: float      # interval / activations
    budget_ns: float      # runtime per activation (C)
    utilisation: float    # runtime / interval (C / T)
    response_ns: float    # (wait + runtime) per activation: release to switch-out

    @property
    def lateness_ns(self) -> float:
        """Response minus period: above 0, an activation ran past its deadline."""
        return self.response_ns - self.period_ns


def estimate(row: TaskRow, interval_ns: int) -> EdfEstimate | None:
    """The task's estimate, or None if it did not run in the interval.  A
    counter that went back (a thread that exec'd) is no time at all."""
    runs = row.runs_delta
    if not runs or runs <= 0 or interval_ns <= 0 or row.runtime_delta_ns is None:
        return None
    ran, wait = shares.ran(row), shares.waited(row)
    return EdfEstimate(
        activations=runs,
        period_ns=interval_ns / runs,
        budget_ns=ran / runs,
        utilisation=ran / interval_ns,
        response_ns=(wait + ran) / runs,
    )


def total_utilisation(estimates: Iterable[EdfEstimate]) -> float:
    """Sum of C/T; EDF can meet every implicit deadline on one CPU iff <= 1
    (Liu and Layland, 1973)."""
    return sum(e.utilisation for e in estimates)
