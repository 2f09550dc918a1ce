"""make bench: cost of the program and of the dump path, side by side in one
run, written to docs/PERFORMANCE.md as ratios.  Not a test: nothing here fails
on a number."""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from orchestrator import paths, snapshot, tools
from orchestrator.commands import build as build_cmd
from orchestrator.commands import load as load_cmd
from orchestrator.commands import unload as unload_cmd

HERE = Path(__file__).parent
CPU = max(os.sched_getaffinity(0))
PIPE_LOOPS = 200_000


def _pipe_usecs() -> float:
    out = subprocess.run(["taskset", "-c", str(CPU), "perf", "bench", "sched", "pipe", "-l",
                          str(PIPE_LOOPS)], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"([\d.]+) usecs/op", out).group(1))


def _median_pipe(runs: int) -> float:
    return statistics.median(_pipe_usecs() for _ in range(runs))


def _prog_stats(prog_id: int) -> tuple[int, int]:
    info = tools.bpftool(["prog", "show", "id", str(prog_id)])
    return info.get("run_cnt", 0), info.get("run_time_ns", 0)


def _prog_id(link_pin: Path) -> int:
    return tools.bpftool(["link", "show", "pinned", str(link_pin)])["prog_id"]


def _load_empty(build: Path, pin_dir: Path) -> Path:
    obj = build / "empty.bpf.o"
    tools.run(["clang", "-target", "bpf", "-g", "-O2", f"-I{build}", "-c",
               str(HERE / "empty.bpf.c"), "-o", str(obj)])
    pin_dir.mkdir(mode=0o700)
    tools.run(["bpftool", "prog", "loadall", str(obj), str(pin_dir), "autoattach"])
    return pin_dir / "empty_switch"


def _hold_threads(count: int) -> tuple[threading.Event, list[threading.Thread]]:
    """Park `count` threads so the task map holds about that many rows."""
    threading.stack_size(64 * 1024)
    release = threading.Event()
    threads = [threading.Thread(target=release.wait, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return release, threads


def _time_dump(pins, repeats: int = 3) -> tuple[float, float, int]:
    """Seconds for bpftool alone to print the map, and for lottery's snapshot
    (trigger + bpftool + parse), best of `repeats` each; and the row count."""
    bpftool_s, ours_s, rows = [], [], 0
    snapshot.take(pins)  # fill the map with the parked threads before timing bpftool
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([tools.require("bpftool"), "-j", "map", "dump", "pinned", str(pins.tasks)],
                       stdout=subprocess.DEVNULL, check=True)
        bpftool_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        snap = snapshot.take(pins)
        ours_s.append(time.perf_counter() - start)
        rows = len(snap.tasks)
    return min(bpftool_s), min(ours_s), rows


def _parse_rss_mb(pins) -> float:
    """Peak RSS of a fresh process that takes one snapshot."""
    code = ("import resource; from orchestrator import snapshot, paths;"
            f"snapshot.take(paths.pins('{pins.dir}'));"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=HERE.parent).stdout
    return int(out.strip()) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("docs/PERFORMANCE.md"))
    parser.add_argument("--tasks", default="1000,10000", help="map sizes for the dump timing")
    parser.add_argument("--pipe-runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("make bench needs root (it loads BPF programs)")
    build = Path(tempfile.mkdtemp(prefix="lottery-bench-"))
    build_cmd.build(str(build))
    pins = paths.pins(f"/sys/fs/bpf/lottery-bench-{os.getpid()}")
    empty_dir = Path(f"/sys/fs/bpf/lottery-bench-empty-{os.getpid()}")
    lines = []
    try:
        baseline = _median_pipe(args.pipe_runs)
        empty_link = _load_empty(build, empty_dir)
        with_empty = _median_pipe(args.pipe_runs)
        load_cmd.load(pins, obj=str(build / "sched_lottery.bpf.o"))
        subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=1"], check=True)
        ids = {"empty": _prog_id(empty_link), "lottery": _prog_id(pins.switch_link)}
        before = {name: _prog_stats(pid) for name, pid in ids.items()}
        both = _median_pipe(args.pipe_runs)  # both programs attached, same events
        after = {name: _prog_stats(pid) for name, pid in ids.items()}
        subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=0"], check=True)
        ns = {name: (after[name][1] - before[name][1]) / max(1, after[name][0] - before[name][0])
              for name in ids}
        subprocess.run(["rm", "-rf", str(empty_dir)], check=True)
        with_ours = _median_pipe(args.pipe_runs)
        lines += [
            "## Cost on the scheduler",
            "",
            f"`taskset -c {CPU} perf bench sched pipe -l {PIPE_LOOPS}`, median of "
            f"{args.pipe_runs} runs each, in this order in one run.",
            "",
            "| tracer on sched_switch | usecs/op | vs none |",
            "|---|---|---|",
            f"| none | {baseline:.3f} | 1.000 |",
            f"| empty tp_btf program | {with_empty:.3f} | {with_empty / baseline:.3f} |",
            f"| lottery | {with_ours:.3f} | {with_ours / baseline:.3f} |",
            "",
            "Per event, both programs attached together and timed by the kernel "
            "(`kernel.bpf_stats_enabled=1`) over the same pipe benchmark "
            f"({both:.3f} usecs/op with both):",
            "",
            "| program | ns/event | vs empty |",
            "|---|---|---|",
            f"| empty | {ns['empty']:.1f} | 1.00 |",
            f"| lottery on_switch | {ns['lottery']:.1f} | {ns['lottery'] / ns['empty']:.2f} |",
            "",
            "## Dump path",
            "",
            "Seconds to read the task map: bpftool printing it alone, and lottery's "
            "whole sample (snapshot iterator, /proc/stat, bpftool, streaming parse); "
            "best of 3. Peak RSS of a fresh process taking one sample.",
            "",
            "| rows | bpftool alone s | lottery sample s | ratio | peak RSS MB |",
            "|---|---|---|---|---|",
        ]
        for count in (int(n) for n in args.tasks.split(",")):
            release, threads = _hold_threads(count)
            try:
                bpftool_s, ours_s, rows = _time_dump(pins)
                rss = _parse_rss_mb(pins)
            finally:
                release.set()
                for thread in threads:
                    thread.join()
            lines.append(f"| {rows} | {bpftool_s:.3f} | {ours_s:.3f} | "
                         f"{ours_s / bpftool_s:.2f} | {rss:.0f} |")
    finally:
        unload_cmd.remove(pins)
        subprocess.run(["rm", "-rf", str(empty_dir)], check=False)
    machine = (f"{platform.node()}: {os.cpu_count()} CPUs, kernel {platform.release()}, "
               f"bpftool {tools.bpftool_version()}")
    header = ["# Performance", "", "Written by `make bench` (benchmarks/run.py); numbers from "
              "one run, side by side.", "", f"Machine: {machine}.", ""]
    args.output.write_text("\n".join(header + lines) + "\n")
    print("\n".join(header + lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
