"""lottery experiment: the lottery paper's ratio experiment on this kernel."""

from __future__ import annotations

import csv
import io
import os
import random
from pathlib import Path

from tabulate import tabulate

from orchestrator import experiment as exp
from orchestrator import snapshot
from orchestrator.commands.simulate import write_atomically
from orchestrator.constants import EXIT_OK, EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.paths import Pins
from orchestrator.sinks import plot

COLUMNS = ("allocated_ratio", "nice_a", "nice_b", "weight_ratio", "observed_ratio",
           "runtime_a_ns", "runtime_b_ns", "lottery_mean_ratio", "lottery_sd_ratio")


def _validate(duration_s: float, cpu: int, quantum_ms: float, replays: int) -> None:
    if not duration_s > 0:
        raise LotteryError(f"--duration {duration_s} must be above 0", "pass seconds",
                           code=EXIT_USAGE)
    allowed = os.sched_getaffinity(0)
    if cpu not in allowed:
        raise LotteryError(f"--cpu {cpu} is not a CPU this process may use",
                           f"pass one of {', '.join(map(str, sorted(allowed)))}", code=EXIT_USAGE)
    if not quantum_ms > 0:
        raise LotteryError(f"--quantum {quantum_ms} must be above 0", "pass milliseconds",
                           code=EXIT_USAGE)
    if replays < 2:
        raise LotteryError(f"--replays {replays} must be at least 2", "pass e.g. --replays 50",
                           code=EXIT_USAGE)


def experiment(pins: Pins, ratios_text: str, duration_s: float, cpu: int | None,
               quantum_ms: float, replays: int, seed: int | None, csv_path: Path | None,
               png_path: Path | None) -> int:
    ratios = exp.parse_ratios(ratios_text)
    cpu = max(os.sched_getaffinity(0)) if cpu is None else cpu
    _validate(duration_s, cpu, quantum_ms, replays)
    snapshot.require_loaded(pins)
    rng = random.Random(seed)
    results = []
    for ratio in ratios:
        result = exp.run_ratio(pins, ratio, duration_s, cpu, round(quantum_ms * 1e6), replays,
                               rng)
        results.append(result)
        print(f"{ratio:g}:1 done: nice {result.nice[0]} vs {result.nice[1]}, "
              f"observed {result.observed:.3f}", flush=True)
    body = [[f"{r.allocated:g}:1", f"{r.nice[0]} vs {r.nice[1]}", f"{r.weight_ratio:.3f}",
             f"{r.observed:.3f}", f"{100 * (r.observed / r.weight_ratio - 1):+.2f}",
             f"{r.lottery_mean:.3f} ± {r.lottery_sd:.3f}"] for r in results]
    print(tabulate(body, headers=["ALLOCATED", "NICE", "WEIGHT RATIO", "OBSERVED (LINUX)",
                                  "VS WEIGHTS %", "LOTTERY (SIMULATED)"],
                   tablefmt="simple", disable_numparse=True))
    if csv_path:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows([r.allocated, r.nice[0], r.nice[1], f"{r.weight_ratio:.6f}",
                          f"{r.observed:.6f}", *r.runtime_ns, f"{r.lottery_mean:.6f}",
                          f"{r.lottery_sd:.6f}"] for r in results)
        write_atomically(csv_path, buf.getvalue())
        print(f"wrote {csv_path}")
    if png_path:
        plot.ratio_plot(results, png_path, f"two CPU-bound tasks on CPU {cpu}, {duration_s:g} s "
                        f"each ratio; lottery: {quantum_ms:g} ms quanta, {replays} replays")
        print(f"wrote {png_path}")
    return EXIT_OK
