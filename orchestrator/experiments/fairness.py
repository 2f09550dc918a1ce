"""Fairness over time (the lottery paper's figure 5): two tasks with a 2:1
allocation, their observed ratio in successive windows (8 s over 200 s in
the paper, 2.01:1 on average).  Here the allocation is two cgroups whose
weights are in the ratio, both tasks pinned to one CPU; for the same
quanta, a simulated lottery and a simulated stride scheduler hand them out
too."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass

from orchestrator.analysis import schedulers
from orchestrator.experiments import runner
from orchestrator.paths import Pins
from orchestrator.sinks.results import column


@dataclass(frozen=True)
class Window:
    window: int
    start_s: float
    expected_ratio: float
    linux_ratio: float
    lottery_ratio: float
    stride_ratio: float
    quanta: int


# The results file: a row per window.
COLUMNS = (column("window"), column("start_s"), column("expected_ratio", digits=6),
           column("linux_ratio", digits=6), column("lottery_ratio", digits=6),
           column("stride_ratio", digits=6), column("quanta"))


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def run(pins: Pins, ratio: tuple[int, int], duration_s: float, window_s: float, cpu: int,
        quantum_ns: int, seed: int | None) -> list[Window]:
    """One row per window."""
    a, b = ratio
    timeline = runner.weighted_pair(pins, "fairness", ratio, cpu, duration_s, window_s)
    rng = random.Random(seed)
    stride = schedulers.Stride()
    out = []
    for n, ((t0, r0), (_, r1)) in enumerate(zip(timeline, timeline[1:], strict=False), 1):
        ran_a, ran_b = r1["A"] - r0["A"], r1["B"] - r0["B"]
        quanta = round((ran_a + ran_b) / quantum_ns)
        won = schedulers.draw([a, b], quanta, rng)
        strode = stride.run([("A", a), ("B", b)], quanta)
        out.append(Window(n, round(t0, 3), a / b, _ratio(ran_a, ran_b), _ratio(*won),
                          _ratio(*strode), quanta))
    return out


def spread(values: list[float]) -> float:
    """Standard deviation of the finite values."""
    kept = [v for v in values if v == v and v != float("inf")]
    return statistics.stdev(kept) if len(kept) > 1 else 0.0
