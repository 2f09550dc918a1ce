"""make bench: cost of the program and of the dump path, side by side in one
run, written to docs/PERFORMANCE.md as ratios.  Not a test: nothing here fails
on a number."""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from benchmarks import parking
from orchestrator import paths
from orchestrator.analysis import frames, tickets
from orchestrator.commands import build as build_cmd
from orchestrator.commands import load as load_cmd
from orchestrator.commands import unload as unload_cmd
from orchestrator.exporter.collector import Collector
from orchestrator.kernel import snapshot, tools
from orchestrator.sinks.csv_file import CsvSink

HERE = Path(__file__).parent
CPU = max(os.sched_getaffinity(0))
PIPE_LOOPS = 200_000
REPEATS = 5  # best of, for the dump path


def _pipe_usecs() -> float:
    out = subprocess.run(["taskset", "-c", str(CPU), "perf", "bench", "sched", "pipe", "-l",
                          str(PIPE_LOOPS)], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"([\d.]+) usecs/op", out).group(1))


def _median_pipe(runs: int) -> float:
    return statistics.median(_pipe_usecs() for _ in range(runs))


def _runqlat_pipe_usecs() -> float:
    """The pipe benchmark with libbpf-tools' runqlat -P tracing (its three
    hooks and its map of enqueue times), started and ended around it."""
    # line-buffered: into a pipe, its "Tracing" line would wait in its stdio
    tracer = subprocess.Popen([tools.require("stdbuf"), "-oL", tools.require("runqlat"), "-P",
                               "3600"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    try:
        if "Tracing" not in tracer.stdout.readline():
            raise RuntimeError("runqlat did not start tracing")
        return _pipe_usecs()
    finally:
        tracer.terminate()
        tracer.communicate(timeout=60)


def _prog_stats(prog_id: int) -> tuple[int, int]:
    info = tools.bpftool(["prog", "show", "id", str(prog_id)])
    return info.get("run_cnt", 0), info.get("run_time_ns", 0)


def _prog_id(link_pin: Path) -> int:
    return tools.bpftool(["link", "show", "pinned", str(link_pin)])["prog_id"]


def _load_reference(build: Path, name: str, pin_dir: Path) -> Path:
    """Load benchmarks/NAME.bpf.c, attached; return its link pin."""
    obj = build / f"{name}.bpf.o"
    if not obj.exists():
        tools.run(["clang", "-target", "bpf", "-g", "-O2", f"-I{build}", "-c",
                   str(HERE / f"{name}.bpf.c"), "-o", str(obj)])
    pin_dir.mkdir(mode=0o700)
    tools.run(["bpftool", "prog", "loadall", str(obj), str(pin_dir), "autoattach"])
    return next(p for p in pin_dir.iterdir() if p.name.endswith("_switch"))


def _children_cpu_s() -> float:
    """CPU seconds of this process's children that have ended."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def _cpu_s() -> float:
    """CPU seconds of this process and of its children that have ended."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime + _children_cpu_s()


def _best(fn, repeats: int) -> tuple[float, float]:
    """Best-of wall seconds and best-of CPU seconds (this process and the
    programs it ran) of fn."""
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), _cpu_s()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(_cpu_s() - start_cpu)
    return min(times), min(cpu)


def _time_sample(pins, repeats: int) -> tuple[float, float, int, int]:
    """Best-of wall and CPU seconds of one sample of a reader that has
    sampled before (the walk, /proc/stat, the dumps of its slot's map and
    of the groups, the parse), the live tasks it holds and the rows its last
    walk wrote."""
    with snapshot.session(pins) as reader:
        for _ in range(3):  # the first walk writes every task, the second what it found
            reader.take()
        wall, cpu = _best(reader.take, repeats)
        snap = reader.take()
    return wall, cpu, len(snap.tasks), snap.info.rows


def _time_pipeline(pins, out_dir: Path, repeats: int) -> tuple[float, float]:
    """Best-of seconds (wall and CPU) for one whole sample as dump takes it
    with a CSV, in a series as dump takes them: the snapshot, the deltas
    against the previous one, the analysis, the records and the CSV rows
    written.  The series starts three samples before the ones timed, as the
    first samples of a reader write every task."""
    pipeline = frames.Pipeline(tickets.WEIGHT)
    source = frames.bpftool_source(pins)
    pipeline.frame(source.take())
    sink = CsvSink(out_dir / f"bench-{os.getpid()}.csv")

    def one() -> None:
        sink.write(pipeline.frame(source.take()))

    try:
        _best(one, 3)
        return _best(one, repeats)
    finally:
        sink.close()
        source.close()


def _command(pins, out: Path, samples: int) -> tuple[float, float, float]:
    """Wall and CPU seconds (its own and its children's) of `lottery dump`
    taking `samples` samples into a CSV, table printed, as a user runs it;
    and its peak RSS in MB (or a program's it ran, if larger: ru_maxrss)."""
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "orchestrator", "dump", "0.01", str(samples), "-o", str(out),
            "--pin-dir", str(pins.dir)]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=HERE.parent)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, argv)
    return (time.perf_counter() - start, usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024)


def _time_command(pins, out_dir: Path, samples: int = 11) -> tuple[float, float, float]:
    """Per sample, wall and CPU seconds of the `lottery dump -o FILE` command
    (the table printed too): a run of `samples` samples less a run of one,
    so the start (Python, the baseline) is not counted; median of 3 pairs.
    The interval is shorter than a sample, so samples follow one another.
    And the largest peak RSS (MB) of the runs of `samples`."""
    out = out_dir / f"bench-command-{os.getpid()}.csv"
    wall, cpu, rss = [], [], []
    try:
        for _ in range(3):
            many, one = _command(pins, out, samples), _command(pins, out, 1)
            wall.append((many[0] - one[0]) / (samples - 1))
            cpu.append((many[1] - one[1]) / (samples - 1))
            rss.append(many[2])
    finally:
        out.unlink(missing_ok=True)
    return statistics.median(wall), statistics.median(cpu), max(rss)


def _time_scrape(pins, repeats: int) -> tuple[float, float]:
    """Best-of seconds for one scrape of lottery serve's collector, read in
    this process (as root: no sudo), to the exposition text; and its CPU."""
    registry = CollectorRegistry(auto_describe=False)
    collector = Collector(pins, "comm")
    collector.read_once()  # the exporter's baseline at its start
    registry.register(collector)
    generate_latest(registry)  # the first scrapes decode every row
    generate_latest(registry)
    try:
        return _best(lambda: generate_latest(registry), repeats)
    finally:
        collector.close()


def _sample_hwm_mb(pins) -> float:
    """Peak RSS of a fresh process that takes one sample.  VmHWM, not
    ru_maxrss: the latter keeps the high-water mark of the forking parent."""
    code = ("from orchestrator import paths; from orchestrator.kernel import snapshot;"
            f"snapshot.take(paths.pins('{pins.dir}'));"
            "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=HERE.parent).stdout
    return int(out.strip()) / 1024


def _pid_max() -> int:
    return int(Path("/proc/sys/kernel/pid_max").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("docs/PERFORMANCE.md"))
    parser.add_argument("--tasks", default="1000,10000,20000,100000",
                        help="parked threads for the sample timing")
    parser.add_argument("--pipe-runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("make bench needs root (it loads BPF programs)")
    build = Path(tempfile.mkdtemp(prefix="lottery-bench-"))
    build_cmd.build(str(build))
    pins = paths.pins(f"/sys/fs/bpf/lottery-bench-{os.getpid()}")
    refs = {name: Path(f"/sys/fs/bpf/lottery-bench-{name}-{os.getpid()}")
            for name in ("empty", "seed_style")}
    obj = str(build / "sched_lottery.bpf.o")

    def drop_refs() -> None:
        for ref in refs.values():
            subprocess.run(["rm", "-rf", str(ref)], check=False)

    lines = []
    try:
        # Rounds of none / empty / seed-style / lottery, one tracer at a time,
        # so that drift in the machine's speed hits every column alike.
        pipe: dict[str, list[float]] = {"none": [], "empty": [], "seed_style": [], "lottery": [],
                                        "runqlat": []}
        for _ in range(args.pipe_runs):
            pipe["runqlat"].append(_runqlat_pipe_usecs())
            pipe["none"].append(_pipe_usecs())
            for name, ref in refs.items():
                _load_reference(build, name, ref)
                pipe[name].append(_pipe_usecs())
                drop_refs()
            load_cmd.load(pins, obj=obj)
            pipe["lottery"].append(_pipe_usecs())
            unload_cmd.remove(pins)
        usecs = {name: statistics.median(runs) for name, runs in pipe.items()}
        # Each program alone, timed by the kernel (kernel.bpf_stats_enabled=1):
        # attached together, the later ones would find the task's cache lines
        # warm from the earlier ones.
        ns = {}
        subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=1"], check=True)
        try:
            for name in (*refs, "lottery"):
                if name == "lottery":
                    load_cmd.load(pins, obj=obj)
                    prog = _prog_id(pins.switch_link)
                else:
                    prog = _prog_id(_load_reference(build, name, refs[name]))
                before = _prog_stats(prog)
                _median_pipe(args.pipe_runs)
                after = _prog_stats(prog)
                ns[name] = (after[1] - before[1]) / max(1, after[0] - before[0])
                if name == "lottery":
                    unload_cmd.remove(pins)
                else:
                    drop_refs()
        finally:
            subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=0"], check=True)
        base = usecs["none"]
        lines += [
            "## Cost on the scheduler",
            "",
            f"`taskset -c {CPU} perf bench sched pipe -l {PIPE_LOOPS}`: {args.pipe_runs} "
            "rounds of runqlat -P / none / empty / seed-style / lottery, one tracer attached "
            "at a time; median per tracer.",
            "",
            "| tracer on sched_switch | usecs/op | vs none |",
            "|---|---|---|",
            f"| none | {base:.3f} | 1.000 |",
            f"| empty tp_btf program | {usecs['empty']:.3f} | {usecs['empty'] / base:.3f} |",
            f"| seed-style hash map | {usecs['seed_style']:.3f} | "
            f"{usecs['seed_style'] / base:.3f} |",
            f"| lottery | {usecs['lottery']:.3f} | {usecs['lottery'] / base:.3f} |",
            f"| libbpf-tools runqlat -P | {usecs['runqlat']:.3f} | "
            f"{usecs['runqlat'] / base:.3f} |",
            "",
            "What lottery adds beyond the empty program, against what runqlat -P adds "
            "beyond it too: "
            f"{usecs['lottery'] - usecs['empty']:+.3f} against "
            f"{usecs['runqlat'] - usecs['empty']:+.3f} usecs/op (issue 22 asks at most a "
            "quarter).",
            "",
            "Per event: each program attached alone and timed by the kernel "
            "(`kernel.bpf_stats_enabled=1`) over the same pipe benchmark (together, the "
            "later ones would find the task's cache lines warm):",
            "",
            "| program | ns/event | vs empty |",
            "|---|---|---|",
            f"| empty | {ns['empty']:.1f} | 1.00 |",
            f"| seed-style hash map (benchmarks/seed_style.bpf.c) | {ns['seed_style']:.1f} | "
            f"{ns['seed_style'] / ns['empty']:.2f} |",
            f"| lottery on_switch | {ns['lottery']:.1f} | {ns['lottery'] / ns['empty']:.2f} |",
            "",
            "## What a sample costs",
            "",
            "Each reader walks a slot of its own, and its walk writes only the tasks "
            "that changed since its walk before (docs/ARCHITECTURE.md, Several readers): a "
            f"sample costs what changed, not what exists. Best of {REPEATS} each, on real "
            "tasks: sleeping threads parked in child processes, beside what the machine "
            "runs. `sample`: one sample of a reader that has sampled before (the walk, "
            "/proc/stat, the dumps, the parse); `dump -o`: one sample of a series as dump "
            "takes it with a CSV (also the deltas, the analysis, the records and the CSV "
            "lines); CPU seconds are this process's and the programs it ran (bpftool). "
            "`vs 1k`: the CPU of `dump -o` against the same at the first size. Peak RSS "
            "(VmHWM) of a fresh Python process taking one sample (its first walk writes "
            "every task).",
            "",
            "| parked threads | tasks held | rows its walk wrote | sample s | its CPU s "
            "| `dump -o` sample s | its CPU s | vs 1k | peak RSS MB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        load_cmd.load(pins, obj=obj)  # the instance the samples read
        old_pid_max = _pid_max()
        scrapes: list[tuple[int, float, float]] = []
        commands: list[str] = []
        base_cpu = None
        try:
            for count in (int(n) for n in args.tasks.split(",")):
                if count + 10_000 > _pid_max():  # room for the threads' pids
                    Path("/proc/sys/kernel/pid_max").write_text(str(4 * count))
                procs = parking.park_threads(count)
                try:
                    sample, sample_cpu, tasks, written = _time_sample(pins, REPEATS)
                    whole, whole_cpu = _time_pipeline(pins, build, REPEATS)
                    command, command_cpu, command_rss = _time_command(pins, build)
                    rss = _sample_hwm_mb(pins)
                    scrapes.append((tasks, *_time_scrape(pins, REPEATS)))
                finally:
                    parking.release(procs)
                base_cpu = base_cpu or whole_cpu
                lines.append(f"| {count} | {tasks} | {written} | {sample:.4f} | "
                             f"{sample_cpu:.4f} | {whole:.4f} | {whole_cpu:.4f} | "
                             f"{whole_cpu / base_cpu:.2f} | {rss:.0f} |")
                commands.append(f"| {count} | {tasks} | {command:.4f} | {command_cpu:.4f} | "
                                f"{command_rss:.0f} |")
        finally:
            Path("/proc/sys/kernel/pid_max").write_text(str(old_pid_max))
        lines += [
            "",
            "The command as a user runs it: `lottery dump 0.01 N -o FILE` with its table "
            "printed, in a process of its own, per sample (a run of 11 samples less a run of "
            "1, median of 3 pairs): wall-clock and CPU seconds (the command and the programs "
            "it ran). Its peak RSS over 11 samples (ru_maxrss of the command, or of a "
            "program it ran if larger): a sampler keeps the memory a sample frees for the "
            "next (orchestrator/heap.py), so it stays at the size of its largest sample, "
            "its first.",
            "",
            "| parked threads | tasks held | `lottery dump -o` per sample s | its CPU s "
            "| peak RSS MB |",
            "|---|---|---|---|---|",
            *commands,
            "",
            "## Exporter",
            "",
            f"One scrape of `lottery serve` (groups by command name), best of {REPEATS}: the "
            "collector reads the instance and builds the exposition text, in this process "
            "as root, as `sudo lottery serve`'s reading process does (its HTTP child then "
            "serves the reading; tests/test_serve_privsep.py). Run as a user instead, its "
            "walks go through lottery's root helper (`sudo lottery reader`).",
            "",
            "| tasks | scrape s | its CPU s |",
            "|---|---|---|",
            *(f"| {rows} | {wall:.4f} | {cpu:.4f} |" for rows, wall, cpu in scrapes),
        ]
    finally:
        unload_cmd.remove(pins)
        drop_refs()
    machine = (f"{platform.node()}: {os.cpu_count()} CPUs, kernel {platform.release()}, "
               f"bpftool {tools.bpftool_version()}")
    header = ["# Performance", "", "Written by `make bench` (benchmarks/run.py); numbers from "
              "one run, side by side. Readers on a busy host, for minutes: docs/SOAK.md "
              "(`make soak`).", "", f"Machine: {machine}.", ""]
    args.output.write_text("\n".join(header + lines) + "\n")
    print("\n".join(header + lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
