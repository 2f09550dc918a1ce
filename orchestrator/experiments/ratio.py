"""The ratio experiment of Waldspurger and Weihl (OSDI 1994, figure 4) on
Linux: two CPU-bound tasks on one CPU with a chosen ratio of tickets (here,
of nice weights); how close does the observed runtime ratio come?"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass

from orchestrator.analysis import schedulers
from orchestrator.analysis.tickets import NICE_TO_WEIGHT, weight_tickets
from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.experiments import runner
from orchestrator.kernel.cgroups import BASE_SHARES
from orchestrator.paths import Pins
from orchestrator.sinks.results import Column, column

WARMUP_S = 0.3
# The largest ratio nice values give two tasks that may run at nice 0.
MAX_RATIO = weight_tickets(0) / weight_tickets(19)
# cgroup v2's cpu.weight is 1..10000 with 100 for a nice-0 task (v1 reaches 256).
MAX_CGROUP_RATIO = 100.0
VIA = ("cgroup", "nice")


def parse_ratios(text: str, via: str = "nice") -> list[float]:
    """'1:1,3:1' -> [1.0, 3.0]; each ratio at least 1 (the larger share first),
    and at most what `via` (nice values, or cgroup weights) reaches."""
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
        # nice: 68.3:1, as the message shows it, is the reachable 68.27:1
        reach = MAX_RATIO * 1.001 if via == "nice" else MAX_CGROUP_RATIO
        if not ratio <= reach:  # also inf, and nan from inf:inf
            how = "nice values reach: the nearest is 68.3:1 (nice 0 against 19)" \
                if via == "nice" else f"cgroup weights reach: the nearest is {reach:g}:1"
            raise LotteryError(f"--ratios part {part!r} is beyond what {how}",
                               f"pass ratios up to {int(reach)}:1", code=EXIT_USAGE)
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
    via: str = "nice"       # how the ratio was allocated: nice values or cgroup weights


# The results file: a row per ratio.
COLUMNS = (
    column("allocated_ratio", "allocated"), column("via"),
    Column("nice_a", lambda r: r.nice[0]), Column("nice_b", lambda r: r.nice[1]),
    column("weight_ratio", digits=6), column("observed_ratio", "observed", 6),
    Column("runtime_a_ns", lambda r: r.runtime_ns[0]),
    Column("runtime_b_ns", lambda r: r.runtime_ns[1]),
    column("lottery_mean_ratio", "lottery_mean", 6), column("lottery_sd_ratio", "lottery_sd", 6),
)


def simulate_ratio(tickets: tuple[int, int], quanta: int, replays: int,
                   rng: random.Random) -> tuple[float, float]:
    """Mean and sd of the win ratio of two ticket holders over `quanta` draws."""
    ratios = []
    for _ in range(replays):
        a, b = schedulers.draw(list(tickets), quanta, rng)
        ratios.append(a / max(b, 1))
    return statistics.fmean(ratios), statistics.stdev(ratios) if replays > 1 else 0.0


def run_ratio(pins: Pins, ratio: float, duration_s: float, cpu: int, quantum_ns: int,
              replays: int, rng: random.Random, via: str = "nice") -> RatioResult:
    """Start the pair pinned to `cpu` (each in a cgroup weighted by its share
    of the ratio, or at the nice values closest to it), read at the start and
    the end."""
    span_s = duration_s + WARMUP_S
    if via == "cgroup":
        nice = (0, 0)
        weights = (round(BASE_SHARES * ratio), BASE_SHARES)
        timeline = runner.weighted_pair(pins, "ratio", weights, cpu, span_s, WARMUP_S)
    else:
        nice = nice_pair(ratio)
        weights = (weight_tickets(nice[0]), weight_tickets(nice[1]))
        tasks = [runner.Task(name, nice=n) for name, n in zip(("A", "B"), nice, strict=True)]
        timeline = runner.run(pins, tasks, cpu, span_s, WARMUP_S)
    _, ran = runner.between(timeline, WARMUP_S, duration_s + WARMUP_S)
    runtime = (ran["A"], ran["B"])
    mean, sd = simulate_ratio(weights, round(sum(runtime) / quantum_ns), replays, rng)
    return RatioResult(ratio, nice, weights[0] / weights[1], runtime[0] / max(runtime[1], 1),
                       runtime, mean, sd, via)
