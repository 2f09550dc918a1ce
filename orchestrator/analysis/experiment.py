"""The ratio experiment of Waldspurger and Weihl (OSDI 1994, figure 4) on
Linux: two CPU-bound tasks on one CPU with a chosen ratio of tickets (here,
of nice weights); how close does the observed runtime ratio come?"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass

from orchestrator import workload
from orchestrator.analysis import schedulers
from orchestrator.analysis.tickets import NICE_TO_WEIGHT, weight_tickets
from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.kernel import snapshot
from orchestrator.paths import Pins

WARMUP_S = 0.3
# The largest ratio nice values give two tasks that may run at nice 0.
MAX_RATIO = weight_tickets(0) / weight_tickets(19)


def parse_ratios(text: str) -> list[float]:
    """'1:1,3:1' -> [1.0, 3.0]; each ratio at least 1 (the larger share first)."""
    ratios = []
    for part in text.split(","):
        try:
            a, b = (float(x) for x in part.split(":"))
        except ValueError:
            raise LotteryError(f"--ratios part {part!r} is not A:B",
                               "pass e.g. --ratios 1:1,2:1,3:1", code=EXIT_USAGE) from None
        if not (a > 0 and b > 0):
            raise LotteryError(f"--ratios part {part!r} must have both sides above 0",
                               "pass e.g. --ratios 1:1,2:1,3:1", code=EXIT_USAGE)
        ratio = max(a, b) / min(a, b)
        if not ratio <= MAX_RATIO * 1.01:  # also inf, and nan from inf:inf
            raise LotteryError(
                f"--ratios part {part!r} is beyond what nice values reach: the nearest is "
                f"{MAX_RATIO:.1f}:1 (nice 0 against 19)",
                f"pass ratios up to {int(MAX_RATIO)}:1", code=EXIT_USAGE)
        ratios.append(ratio)
    return ratios


def nice_pair(ratio: float) -> tuple[int, int]:
    """Nice 0 and the nice value whose weight ratio to it is closest to `ratio`
    (one nice step is about 1.25x, so not every ratio is reachable)."""
    base = weight_tickets(0)
    best = min(range(0, 20), key=lambda n: abs(base / NICE_TO_WEIGHT[n + 20] - ratio))
    return 0, best


@dataclass(frozen=True)
class RatioResult:
    allocated: float        # the ratio asked for
    nice: tuple[int, int]
    weight_ratio: float     # what the kernel's weights give
    observed: float         # runtime ratio Linux gave
    runtime_ns: tuple[int, int]
    lottery_mean: float     # simulated lottery over the same quanta
    lottery_sd: float


def simulate_ratio(tickets: tuple[int, int], quanta: int, replays: int,
                   rng: random.Random) -> tuple[float, float]:
    """Mean and sd of the win ratio of two ticket holders over `quanta` draws."""
    ratios = []
    for _ in range(replays):
        a, b = schedulers.draw(list(tickets), quanta, rng)
        ratios.append(a / max(b, 1))
    return statistics.fmean(ratios), statistics.stdev(ratios) if replays > 1 else 0.0


def run_ratio(pins: Pins, ratio: float, duration_s: float, cpu: int, quantum_ns: int,
              replays: int, rng: random.Random) -> RatioResult:
    """Start the pair pinned to `cpu`, sample at the start and the end."""
    nice = nice_pair(ratio)
    pids = workload.start(nice[0], duration_s + 2 * WARMUP_S, cpu) + \
        workload.start(nice[1], duration_s + 2 * WARMUP_S, cpu)
    try:
        time.sleep(WARMUP_S)
        first = {t.pid: t.runtime_ns for t in snapshot.take(pins).tasks if t.pid in pids}
        time.sleep(duration_s)
        last = {t.pid: t.runtime_ns for t in snapshot.take(pins).tasks if t.pid in pids}
    finally:
        workload.stop(pids)
        workload.wait(pids)
    runtime = tuple(last[p] - first[p] for p in pids)
    tickets = (weight_tickets(nice[0]), weight_tickets(nice[1]))
    mean, sd = simulate_ratio(tickets, round(sum(runtime) / quantum_ns), replays, rng)
    return RatioResult(ratio, nice, tickets[0] / tickets[1], runtime[0] / max(runtime[1], 1),
                       runtime, mean, sd)
