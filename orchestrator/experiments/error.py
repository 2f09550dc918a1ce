"""How the absolute allocation error grows with the number of quanta
handed out.  A lottery's error grows as the square root of the number of
allocations; stride scheduling keeps any pair within one quantum
(Waldspurger and Weihl, stride scheduling, 1995).  Where does Linux fall?

Two tasks with a weight ratio a:b (cgroups) share one CPU; after n quanta
of their CPU time in all, the error of the first is |its quanta - n a/(a+b)|.
The simulated lottery's is the mean over its replays."""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

from orchestrator.analysis import schedulers
from orchestrator.experiments import runner
from orchestrator.paths import Pins
from orchestrator.sinks.results import column


@dataclass(frozen=True)
class Point:
    quanta: int
    linux_error: float    # in quanta
    lottery_error: float  # mean over the replays
    stride_error: float
    lottery_theory: float  # E|error| of n draws: sqrt(2 n p (1 - p) / pi)
    stride_bound: float    # one quantum


# The results file: a row per point.
COLUMNS = (column("quanta"), column("linux_error", digits=4), column("lottery_error", digits=4),
           column("stride_error", digits=4), column("lottery_theory", digits=4),
           column("stride_bound"))


def _errors_along(wins_of_first: list[int], points: list[int], p: float) -> list[float]:
    """|wins - n p| at each of `points` (quanta so far), from a run of wins
    (1 when the first holder won that quantum)."""
    out, won, at = [], 0, 0
    for n in points:
        while at < n:
            won += wins_of_first[at]
            at += 1
        out.append(abs(won - n * p))
    return out


def _lottery_sequence(p: float, quanta: int, rng: random.Random) -> list[int]:
    return [1 if rng.random() < p else 0 for _ in range(quanta)]


def _stride_sequence(a: int, b: int, quanta: int) -> list[int]:
    stride = schedulers.Stride()
    return [stride.run([("A", a), ("B", b)], 1)[0] for _ in range(quanta)]


def run(pins: Pins, ratio: tuple[int, int], duration_s: float, cpu: int, quantum_ns: int,
        replays: int, seed: int | None, step_s: float = 0.2) -> list[Point]:
    a, b = ratio
    p = a / (a + b)
    timeline = runner.weighted_pair(pins, "error", ratio, cpu, duration_s, step_s)
    start = timeline[0][1]
    linux = []  # (quanta so far, error of A in quanta)
    for _, ran in timeline[1:]:
        got_a, got_b = ran["A"] - start["A"], ran["B"] - start["B"]
        n = round((got_a + got_b) / quantum_ns)
        if n > 0 and (not linux or n > linux[-1][0]):
            linux.append((n, abs(got_a / quantum_ns - n * p)))
    points = [n for n, _ in linux]
    rng = random.Random(seed)
    lottery = [_errors_along(_lottery_sequence(p, points[-1], rng), points, p)
               for _ in range(replays)]
    strided = _errors_along(_stride_sequence(a, b, points[-1]), points, p)
    return [Point(n, err, statistics.fmean(col), strided[i],
                  math.sqrt(2 * n * p * (1 - p) / math.pi), 1.0)
            for i, ((n, err), col) in enumerate(zip(linux, zip(*lottery, strict=True),
                                                    strict=True))]
