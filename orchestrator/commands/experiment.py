"""lottery experiment: the lottery paper's ratio experiment on this kernel."""

from __future__ import annotations

import os
import random
from pathlib import Path

from tabulate import tabulate

from orchestrator import bounds, files, units
from orchestrator.analysis import experiment as exp
from orchestrator.commands import workload as workload_cmd
from orchestrator.commands.simulate import validate_replays
from orchestrator.constants import EXIT_OK
from orchestrator.kernel import snapshot
from orchestrator.paths import Pins
from orchestrator.sinks import plot

COLUMNS = ("allocated_ratio", "nice_a", "nice_b", "weight_ratio", "observed_ratio",
           "runtime_a_ns", "runtime_b_ns", "lottery_mean_ratio", "lottery_sd_ratio")


def experiment(pins: Pins, ratios_text: str, duration_s: float, cpu: int | None,
               quantum_ms: float, replays: int, seed: int | None, csv_path: Path | None,
               png_path: Path | None) -> int:
    ratios = exp.parse_ratios(ratios_text)
    cpu = max(os.sched_getaffinity(0)) if cpu is None else cpu
    bounds.check("--experiment-duration", duration_s, "--duration")
    # the tasks it starts are workloads at nice 0 and above: the same checks apply
    workload_cmd.validate(0, duration_s, cpu, 1)
    validate_replays(quantum_ms, replays)
    # each ratio's tasks share one CPU for the duration: that many quanta
    bounds.check_draws(round(duration_s * 1000 / quantum_ms), replays,
                       "pass a larger --quantum, fewer --replays or a shorter --duration")
    snapshot.require_loaded(pins)
    rng = random.Random(seed)
    results = []
    for ratio in ratios:
        result = exp.run_ratio(pins, ratio, duration_s, cpu, units.ns_from_ms(quantum_ms), replays,
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
        files.write_atomically(csv_path, files.csv_text(COLUMNS, (
            [r.allocated, r.nice[0], r.nice[1], f"{r.weight_ratio:.6f}", f"{r.observed:.6f}",
             *r.runtime_ns, f"{r.lottery_mean:.6f}", f"{r.lottery_sd:.6f}"] for r in results)))
        print(f"wrote {csv_path}")
    if png_path:
        plot.ratio_plot(results, png_path, f"two CPU-bound tasks on CPU {cpu}, {duration_s:g} s "
                        f"each ratio; lottery: {quantum_ms:g} ms quanta, {replays} replays")
        print(f"wrote {png_path}")
    return EXIT_OK
