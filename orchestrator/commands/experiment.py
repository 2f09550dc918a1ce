"""lottery experiment: the lottery paper's experiments on this kernel
(ratio, insulation, fairness, error)."""

from __future__ import annotations

import os
import random
import statistics
from pathlib import Path

from tabulate import tabulate

from orchestrator import bounds, files, units
from orchestrator.commands import workload as workload_cmd
from orchestrator.commands.simulate import validate_replays
from orchestrator.constants import EXIT_OK, EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.experiments import error as error_exp
from orchestrator.experiments import fairness as fairness_exp
from orchestrator.experiments import insulation as insulation_exp
from orchestrator.experiments import ratio as exp
from orchestrator.kernel import cgroups, snapshot
from orchestrator.paths import Pins
from orchestrator.sinks import plot
from orchestrator.sinks import results as results_file


def _distinct(csv_path: Path | None, png_path: Path | None) -> None:
    """The two results are two files (the PNG would replace the CSV)."""
    files.distinct((), [files.Named("--output", csv_path), files.Named("--png", png_path)])


def _check_duration(duration_s: float) -> None:
    """Before any arithmetic on it: nan and inf must not reach round()."""
    bounds.check("--experiment-duration", duration_s, "--duration")


def _quanta(duration_s: float, quantum_ms: float) -> int:
    """Quanta of two tasks sharing one CPU for the duration."""
    return round(duration_s * 1000 / quantum_ms)


def _prepare(pins: Pins, duration_s: float, cpu: int | None, cgroup: bool) -> int:
    """Checks every experiment makes before it starts a task, after its own
    (the duration first of all); the CPU."""
    cpu = max(os.sched_getaffinity(0)) if cpu is None else cpu
    # the tasks it starts are workloads at nice 0 and above: the same checks apply
    workload_cmd.validate(0, duration_s, cpu, 1)
    if cgroup and cgroups.controller() is None:
        raise cgroups.no_controller()
    snapshot.require_loaded(pins)
    return cpu


def via_default(via: str | None) -> str:
    if via is None:
        return "cgroup" if cgroups.controller() is not None else "nice"
    if via not in exp.VIA:
        raise LotteryError(f"--via {via!r} is not known", "pass cgroup or nice",
                           code=EXIT_USAGE)
    return via


def ratio(pins: Pins, ratios_text: str, duration_s: float, cpu: int | None,
          quantum_ms: float, replays: int, seed: int | None, csv_path: Path | None,
          png_path: Path | None, via: str | None = None) -> int:
    _distinct(csv_path, png_path)
    _check_duration(duration_s)
    via = via_default(via)
    ratios = exp.parse_ratios(ratios_text, via)
    validate_replays(quantum_ms, replays)
    # each ratio's tasks share one CPU for the duration: that many quanta
    bounds.check_draws(_quanta(duration_s, quantum_ms), replays,
                       "pass a larger --quantum, fewer --replays or a shorter --duration")
    cpu = _prepare(pins, duration_s, cpu, via == "cgroup")
    rng = random.Random(seed)
    results = []
    for allocated in ratios:
        result = exp.run_ratio(pins, allocated, duration_s, cpu, units.ns_from_ms(quantum_ms),
                               replays, rng, via)
        results.append(result)
        print(f"{allocated:g}:1 done: {_how(result)}, observed {result.observed:.3f}",
              flush=True)
    body = [[f"{r.allocated:g}:1", _how(r), f"{r.weight_ratio:.3f}", f"{r.observed:.3f}",
             f"{100 * (r.observed / r.weight_ratio - 1):+.2f}",
             f"{r.lottery_mean:.3f} ± {r.lottery_sd:.3f}"] for r in results]
    print(tabulate(body, headers=["ALLOCATED", "VIA", "WEIGHT RATIO", "OBSERVED (LINUX)",
                                  "VS WEIGHTS %", "LOTTERY (SIMULATED)"],
                   tablefmt="simple", disable_numparse=True))
    if csv_path:
        results_file.write_csv(csv_path, exp.COLUMNS, results)
        print(f"wrote {csv_path}")
    if png_path:
        plot.ratio_plot(results, png_path, f"two CPU-bound tasks on CPU {cpu}, {duration_s:g} s "
                        f"each ratio, via {via}; lottery: {quantum_ms:g} ms quanta, "
                        f"{replays} replays")
        print(f"wrote {png_path}")
    return EXIT_OK


def _how(r: exp.RatioResult) -> str:
    return "cgroup weights" if r.via == "cgroup" else f"nice {r.nice[0]} vs {r.nice[1]}"


def insulation(pins: Pins, duration_s: float, cpu: int | None, csv_path: Path | None,
               png_path: Path | None) -> int:
    _distinct(csv_path, png_path)
    _check_duration(duration_s)
    cpu = _prepare(pins, duration_s, cpu, True)
    rows, timeline = insulation_exp.run(pins, duration_s, cpu)
    body = [[r.phase, r.currency, r.task, r.tickets, f"{100 * r.cpu_share:.1f}",
             f"{100 * insulation_exp.task_share(rows, r.phase, r.task):.1f}"] for r in rows]
    print(tabulate(body, headers=["PHASE", "CURRENCY", "TASK", "TICKETS", "CPU %",
                                  "OF THE TASKS' %"], tablefmt="simple", disable_numparse=True))
    for phase in ("before", "after"):
        a = insulation_exp.currency_share(rows, phase, "A")
        print(f"{phase}: A:B = {a / (1 - a):.3f}:1")
    if csv_path:
        results_file.write_csv(csv_path, insulation_exp.COLUMNS, rows)
        print(f"wrote {csv_path}")
    if png_path:
        plot.insulation_plot(timeline, duration_s / 2, png_path,
                             f"currencies A and B (equal cgroups) on CPU {cpu}: A1=100.A, "
                             "A2=200.A, B1=100.B, B2=200.B; B3=300.B from halfway")
        print(f"wrote {png_path}")
    return EXIT_OK


def parse_ratio(text: str) -> tuple[int, int]:
    """'2:1' -> (2, 1): whole tickets each, the ratio within cgroup weights' reach."""
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise LotteryError(f"--ratio {text!r} is not A:B in whole tickets",
                           "pass e.g. --ratio 2:1", code=EXIT_USAGE) from None
    if not (a > 0 and b > 0) or max(a, b) / min(a, b) > exp.MAX_CGROUP_RATIO:
        raise LotteryError(f"--ratio {text!r} is out of range",
                           f"pass two positive numbers at most {exp.MAX_CGROUP_RATIO:g}:1 "
                           "apart, e.g. --ratio 2:1", code=EXIT_USAGE)
    return a, b


def fairness(pins: Pins, ratio_text: str, duration_s: float, window_s: float,
             cpu: int | None, quantum_ms: float, seed: int | None, csv_path: Path | None,
             png_path: Path | None) -> int:
    _distinct(csv_path, png_path)
    _check_duration(duration_s)
    pair = parse_ratio(ratio_text)
    bounds.check("--window", window_s)
    bounds.check("--quantum", quantum_ms)
    if window_s * 2 > duration_s:
        raise LotteryError(f"--window {window_s:g} leaves fewer than two windows in "
                           f"--duration {duration_s:g}", "pass a longer --duration",
                           code=EXIT_USAGE)
    bounds.check_draws(_quanta(duration_s, quantum_ms), 2, "pass a larger --quantum")
    cpu = _prepare(pins, duration_s, cpu, True)
    windows = fairness_exp.run(pins, pair, duration_s, window_s, cpu,
                               units.ns_from_ms(quantum_ms), seed)
    print(tabulate([[w.window, f"{w.start_s:.1f}", f"{w.expected_ratio:.3f}",
                     f"{w.linux_ratio:.3f}", f"{w.lottery_ratio:.3f}", f"{w.stride_ratio:.3f}"]
                    for w in windows],
                   headers=["WINDOW", "START S", "ALLOCATED", "LINUX", "LOTTERY", "STRIDE"],
                   tablefmt="simple", disable_numparse=True))
    for name in ("linux", "lottery", "stride"):
        values = [getattr(w, f"{name}_ratio") for w in windows]
        print(f"{name}: mean {statistics.fmean(values):.3f}:1, "
              f"sd {fairness_exp.spread(values):.3f}")
    if csv_path:
        results_file.write_csv(csv_path, fairness_exp.COLUMNS, windows)
        print(f"wrote {csv_path}")
    if png_path:
        plot.fairness_plot(windows, png_path, f"{ratio_text} allocation (cgroup weights) on "
                           f"CPU {cpu}, {window_s:g} s windows; simulated: {quantum_ms:g} ms "
                           "quanta")
        print(f"wrote {png_path}")
    return EXIT_OK


def error(pins: Pins, ratio_text: str, duration_s: float, cpu: int | None, quantum_ms: float,
          replays: int, seed: int | None, csv_path: Path | None, png_path: Path | None) -> int:
    _distinct(csv_path, png_path)
    _check_duration(duration_s)
    pair = parse_ratio(ratio_text)
    validate_replays(quantum_ms, replays)
    bounds.check_draws(_quanta(duration_s, quantum_ms), replays + 1,
                       "pass a larger --quantum, fewer --replays or a shorter --duration")
    cpu = _prepare(pins, duration_s, cpu, True)
    points = error_exp.run(pins, pair, duration_s, cpu, units.ns_from_ms(quantum_ms), replays,
                           seed)
    shown = points[:: max(1, len(points) // 12)]
    print(tabulate([[p.quanta, f"{p.linux_error:.2f}", f"{p.lottery_error:.2f}",
                     f"{p.stride_error:.2f}", f"{p.lottery_theory:.2f}"] for p in shown],
                   headers=["QUANTA", "LINUX", "LOTTERY (MEAN)", "STRIDE", "LOTTERY THEORY"],
                   tablefmt="simple", disable_numparse=True))
    print(f"largest error over {points[-1].quanta} quanta: Linux "
          f"{max(p.linux_error for p in points):.2f}, stride "
          f"{max(p.stride_error for p in points):.2f}, lottery (mean) "
          f"{max(p.lottery_error for p in points):.2f} quanta")
    if csv_path:
        results_file.write_csv(csv_path, error_exp.COLUMNS, points)
        print(f"wrote {csv_path}")
    if png_path:
        plot.error_plot(points, png_path, f"{ratio_text} allocation (cgroup weights) on CPU "
                        f"{cpu}; {quantum_ms:g} ms quanta; lottery: mean of {replays} replays")
        print(f"wrote {png_path}")
    return EXIT_OK
