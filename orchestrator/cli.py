"""The `lottery` command line: parse arguments, call a command, print errors.

Nothing here computes anything; each command lives in orchestrator/commands/."""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core

from orchestrator import __version__, constants, signals
from orchestrator.constants import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
)
from orchestrator.errors import LotteryError

if TYPE_CHECKING:
    from orchestrator.paths import Pins

# The commands' modules are imported in the commands' bodies, and the few of
# their names an option's help shows through the functions below, which the
# option annotations call: Typer evaluates a command's annotations when it
# builds that command, and run() builds only the command that runs. So
# `lottery --version` or `--help` imports none of them (most of lottery,
# plumbum, tabulate, and the optional dependencies).

# Commands that need an optional dependency: its module, its name for
# people, and the extra of the package that installs it.
_EXTRAS = {
    "top": ("textual", "Textual", "top"),
    "plot": ("matplotlib", "matplotlib", "plot"),
    "experiment": ("matplotlib", "matplotlib", "plot"),
    "serve": ("prometheus_client", "prometheus_client", "serve"),
}


def _require(command: str) -> None:
    """Import the optional dependency of a command, or say in one line
    which extra installs it (before the command starts anything)."""
    module, name, extra = _EXTRAS[command]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        part = "" if (err.name or module).partition(".")[0] == module else \
            f" (its module {err.name} is missing)"
        raise LotteryError(f"lottery {command} needs {name}{part}",
                           f"pip install 'lottery[{extra}]'") from None


def _pins(pin_dir: str | None, map_pin: str | None = None) -> Pins:
    from orchestrator import paths

    return paths.pins(pin_dir, map_pin)


def _table() -> Any:
    """The table sink: dump's choice of columns."""
    from orchestrator.sinks import table

    return table


def _rows() -> Any:
    """The rows of the table and of top: their columns and their orders."""
    from orchestrator.sinks import rows

    return rows


def _groupings(labels: bool = False) -> tuple[str, ...]:
    """What rows group tasks by (dump --by, top --by); with `labels`, what a
    label may (serve --group-by: not a thread, too many series)."""
    from orchestrator import groupings

    return groupings.LABELS if labels else groupings.NAMES


def _serve() -> Any:
    _require("serve")
    from orchestrator.commands import serve

    return serve


def _experiment() -> Any:
    """The experiments, which draw their PNGs with matplotlib."""
    _require("experiment")
    from orchestrator.commands import experiment

    return experiment


app = typer.Typer(
    name="lottery",
    help="Watch how Linux shares CPU between tasks, through eBPF, and compare it with a "
    "lottery scheduler whose tickets come from each task's weight, funded through the "
    "kernel's task groups (sessions, cgroups) as the lottery paper funds currencies.\n\n"
    "Typical session: lottery build; sudo lottery load; lottery dump 1 5; lottery unload.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

TicketsOption = Annotated[str, typer.Option(
    "--tickets", metavar="weight|flat|linear|FILE",
    help="Ticket model: weight (the kernel's nice-to-weight table, funded through the "
    "task groups: autogroups, cgroups), flat (the same weights, groups ignored), linear "
    "(max(10, 100 - 10*nice)), or a file of `NICE TICKETS` lines (`LOW..HIGH "
    "TICKETS` for a range) covering nice -20..19.")]

# Options of the simulated schedulers, shared by simulate and experiment.
QuantumOption = Annotated[float, typer.Option(
    "--quantum", metavar="MS", help="Quantum of the simulated schedulers.")]
ReplaysOption = Annotated[int, typer.Option(
    "--replays", help="Simulated lottery replays, for the mean and its spread.")]
SeedOption = Annotated[int | None, typer.Option(
    "--seed", help="Seed of the random draws, to repeat them exactly.")]

TopOption = Annotated[int, typer.Option("--top", help="Rows in each table.")]

PinDir = Annotated[str | None, typer.Option(
    "--pin-dir", envvar="LOTTERY_PIN_DIR", show_default="/sys/fs/bpf/lottery",
    help="bpffs directory of this instance; another directory runs a separate instance.")]


def _version(shown: bool) -> None:
    if shown:
        print(f"lottery {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_version, help="Print the version and exit.")]
        = False) -> None:
    pass  # the options of `lottery` itself; the help is the app's


@app.command()
def build(
    build_dir: Annotated[str | None, typer.Option(
        "--build-dir", envvar="LOTTERY_BUILD_DIR", show_default="./build",
        help="Where vmlinux.h and the object go.")] = None,
    btf: Annotated[str | None, typer.Option(
        "--btf", envvar="BTF_PATH", show_default="/sys/kernel/btf/vmlinux",
        help="Kernel BTF to generate vmlinux.h from.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if up to date.")] = False,
) -> int:
    """Generate vmlinux.h from the kernel's BTF and compile the BPF object.

    Runs as a normal user and skips what is up to date. `sudo lottery load`
    run from the same directory finds the object in ./build.

    Examples:

      lottery build

      lottery build --force --build-dir /tmp/lottery-build
    """
    from orchestrator.commands import build as build_cmd

    return build_cmd.build(build_dir, btf, force)


@app.command()
def load(
    pin_dir: PinDir = None,
    obj: Annotated[str | None, typer.Option(
        "--obj", show_default="./build/sched_lottery.bpf.o",
        help="BPF object to load.")] = None,
    max_tasks: Annotated[int | None, typer.Option(
        "--max-tasks", show_default=str(constants.TASKS_CAPACITY),
        help="Rows the task map may hold; dump warns near it.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an instance already loaded at the pin directory.")] = False,
    exit_retention: Annotated[float | None, typer.Option(
        "--exit-retention", metavar="SECONDS", show_default=f"{constants.EXIT_RETAIN_S_DEFAULT:g}",
        help=f"How long an exited task's row stays for readers, 0.1 to 3600 (at most the "
        f"newest {constants.EXIT_RING} exits). A reader that samples less often sees older "
        "exits only in their groups' totals, as one 'unseen' row.")] = None,
    listed_exits: Annotated[int | None, typer.Option(
        "--listed-exits", metavar="N", show_default=str(constants.EXIT_LIST_RATE_DEFAULT),
        help="Exits of short-lived tasks (gone before any reader's sample saw them) each reader is "
        "given one by one, per second of its interval, 1 to 100000; the others come summed "
        "per task group (state 'summed': CPU time kept, names not). Each listed exit costs a "
        "reader about 0.1 ms of CPU.")] = None,
) -> int:
    """Load the BPF program, attach it to sched_switch and pin it (needs root).

    Mounts bpffs if needed. Pins are root-only. MAP_PIN, LINK_PIN and PROG_PIN
    move the task map, the sched_switch link and an extra program pin.

    Examples:

      sudo lottery load

      sudo lottery load --pin-dir /sys/fs/bpf/lottery-test --max-tasks 4096

      sudo lottery load --force

      sudo lottery load --force --listed-exits 5000
    """
    from orchestrator.commands import load as load_cmd

    return load_cmd.load(_pins(pin_dir), obj, max_tasks, force,
                         constants.EXIT_RETAIN_S_DEFAULT if exit_retention is None
                         else exit_retention,
                         listed_exits=constants.EXIT_LIST_RATE_DEFAULT if listed_exits is None
                         else listed_exits)


@app.command()
def dump(
    interval_arg: Annotated[float | None, typer.Argument(
        metavar="INTERVAL", show_default=False,
        help="Seconds between samples, as --interval.")] = None,
    count_arg: Annotated[int | None, typer.Argument(
        metavar="COUNT", show_default=False, help="Samples to take, as --iterations.")] = None,
    interval: Annotated[float | None, typer.Option(
        "--interval", "-i", show_default="1",
        help="Seconds between samples, 0.01 to 86400.")] = None,
    iterations: Annotated[int | None, typer.Option(
        "--iterations", "-n", show_default="until Ctrl-C", help="Samples to take.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="CSV file to append every task of every sample to.")] = None,
    json_output: Annotated[Path | None, typer.Option(
        "--json-output", metavar="PATH", help="NDJSON file to append to: one object per "
        "CSV row, the same fields under the same names, then one per task group that "
        "waited in the interval (\"record\": \"group_waits\": its histogram and "
        "quantiles).")] = None,
    replay: Annotated[Path | None, typer.Option(
        "--replay", metavar="FILE", help="Show a dump's CSV or NDJSON recording instead of "
        "sampling a loaded instance (no root needed); its recorded shares are shown.")] =
        None,
    trace_output: Annotated[Path | None, typer.Option(
        "--trace-output", metavar="PATH", help="Chrome trace-event JSON (replaced): counter "
        "tracks of runtime, wait and shares per task, idle per CPU, deadline warnings. Open "
        "it at ui.perfetto.dev.")] = None,
    top: TopOption = 10,
    pid: Annotated[list[str] | None, typer.Option(
        "--pid", "-p", metavar="PID[,PID...]",
        help="Only these PIDs or TGIDs (repeatable); filters the files too.")] = None,
    comm: Annotated[list[str] | None, typer.Option(
        "--comm", metavar="NAME|REGEX", help="Only tasks whose command name contains NAME "
        "or matches REGEX (repeatable: any of them); filters the files too.")] = None,
    sort: Annotated[str, typer.Option(
        "--sort", metavar="|".join(_rows().SORT_KEYS),
        help="Table order, largest first; delta, wait and switches are per interval, "
        "runtime is the lifetime total.")] = "delta",
    by: Annotated[str, typer.Option(
        "--by", metavar="|".join(_groupings()), help="One table row per thread, "
        "process, command name, task group or container (its id and pod uid, read from "
        "its task group's path; `host` for tasks in none).")] = "thread",
    tickets: TicketsOption = "weight",
    draws: Annotated[int, typer.Option(
        "--simulate-draws", help="Lottery draws per sample among each group's tickets; "
        "shows wins and win rate beside the expected share.")] = 0,
    seed: SeedOption = None,
    alpha: Annotated[float, typer.Option(
        "--alpha", help="EWMA weight of the newest runtime delta, in (0, 1].")] = 0.5,
    edf: Annotated[bool, typer.Option(
        "--edf", help="Also print the EDF view: period, budget, utilisation, "
        "response and lateness per task.")] = False,
    deadline_warn: Annotated[float | None, typer.Option(
        "--deadline-warn", metavar="MS", help="Warn on stderr when a task's response per "
        "activation (wait + run) exceeds MS milliseconds.")] = None,
    map_pin: Annotated[str | None, typer.Option(
        "--map", envvar="MAP_PIN", help="Pinned task map to read.")] = None,
    pin_dir: PinDir = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No tables, CSV only.")] = False,
    columns: Annotated[str | None, typer.Option(
        "--columns", metavar="NAME,...", help="Table columns, from: "
        f"{','.join(_rows().TABLE_COLUMNS)}. Default: {','.join(_table().DEFAULT_COLUMNS)} "
        "(fits 120 characters). cpu, delta, wait, p99 (of its waits, in microseconds), "
        "swdelta, share, expected, observed and error are per interval; runtime, maxwait and "
        "switches since the task started.")] = None,
    wide: Annotated[bool, typer.Option(
        "--wide", help="Every column, task groups in full.")] = False,
    include_self: Annotated[bool, typer.Option(
        "--include-self", help="Show lottery's own processes (this dump, its bpftool and "
        "sudo) in the table and its warnings; files always hold every task.")] = False,
    latency: Annotated[str | None, typer.Option(
        "--latency", metavar="[group|cpu]",
        help="Also print each task group's run-queue waits of the interval as runqlat does "
        "(log2 bars of microseconds, p50 and p99), the --top busiest; `--latency cpu`: each "
        "CPU's. Alone, as `--latency group`.")] = None,
) -> int:
    """Sample the pinned task map: a table per sample, CSV rows appended.

    Not as root, only the bpftool calls go through sudo; the CSV is yours.
    A silent first sample is the baseline: every sample printed covers one
    interval. CSV columns begin timestamp_s,pid,runtime_ns,runtime_ms,switches,
    nice,tickets; each CPU's idle time is a row with pid 0 and its cpu column.
    Each task that ran or waited gets its expected share (its tickets, funded
    through its task groups: autogroup per session, cgroups) and observed share
    of the CPU it is pinned to, or of "all". Other readers of the same instance
    (another dump, simulate --live) see every exit too.

    Examples:

      lottery dump 1 5              (every second, five samples)

      lottery dump --iterations 5

      lottery dump -n 10 --simulate-draws 10000 --seed 1 --alpha 0.3

      lottery dump -n 5 --edf --deadline-warn 20 --tickets my-tickets.txt

      lottery dump -i 0.5 -n 20 --output assets/stats.csv --comm lottery-work

      lottery dump -n 10 -q --json-output run.ndjson

      lottery dump 0.5 20 -q --trace-output run.json --deadline-warn 20

      lottery dump --replay run.ndjson --by group

      lottery dump --by process --sort runtime --top 20

      lottery dump 0.5 -p 1234,1240 --comm '^postgres'

      lottery dump -n 3 --by group --tickets flat

      lottery dump 2 5 --by container --sort delta

      lottery dump 1 3 --columns pid,comm,cpu,wait,maxwait --wide

      lottery dump 2 --sort deficit --columns pid,comm,group,quota,deficit,why

      lottery dump 1 5 --latency --top 3

      lottery dump 1 5 -q --latency cpu
    """
    from orchestrator.analysis.analyser import AnalysisOptions
    from orchestrator.commands import dump as dump_cmd

    interval_s, count = dump_cmd.timing(interval_arg, count_arg, interval, iterations)
    opts = dump_cmd.DumpOptions(
        interval_s=interval_s, iterations=count, output=output, json_output=json_output,
        trace_output=trace_output, replay=replay,
        top=top, pids=dump_cmd.parse_pids(pid or ()), comm=tuple(comm or ()), sort=sort, by=by,
        ticket_model=tickets, quiet=quiet, include_self=include_self, columns=columns,
        wide=wide,
        analysis=AnalysisOptions(draws, seed, alpha, deadline_warn), edf=edf, latency=latency)
    return dump_cmd.dump(_pins(pin_dir, map_pin), opts)


@app.command()
def simulate(
    csv_file: Annotated[Path | None, typer.Argument(
        metavar="[CSV]", help="A CSV written by lottery dump --output.")] = None,
    live: Annotated[int | None, typer.Option(
        "--live", metavar="N", help="Instead of a CSV, sample the loaded program for N "
        "intervals and replay those.")] = None,
    interval: Annotated[float, typer.Option(
        "--interval", "-i", help="Seconds per live interval.")] = 1.0,
    quantum: QuantumOption = 4.0,
    replays: ReplaysOption = 20,
    seed: SeedOption = None,
    tickets: Annotated[str | None, typer.Option(
        "--tickets", metavar="weight|flat|linear|FILE",
        help="Recompute tickets with this model instead of the CSV's.")] = None,
    top: TopOption = 10,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="CSV file for the per-task results (replaced).")] = None,
    pin_dir: PinDir = None,
) -> int:
    """Replay a dump CSV, or live samples, under lottery and stride scheduling.

    Every interval and contention group of the CSV is cut into quanta: as many
    as its tasks ran in all. A lottery (R replays) and a stride scheduler hand
    them out by tickets; a task never gets more than it was runnable for.
    Prints per task what Linux gave, the lottery's mean ± sd, and stride's.

    Examples:

      lottery dump -n 10 -q -o run.csv; lottery simulate run.csv

      lottery simulate assets/stats.csv --quantum 10 --replays 100 --seed 1

      lottery simulate run.csv --tickets linear -o replay.csv

      lottery simulate --live 5 --interval 1 --seed 1
    """
    from orchestrator.commands import simulate as simulate_cmd

    return simulate_cmd.simulate(csv_file, quantum, replays, seed, tickets, top, output,
                                 live, interval, _pins(pin_dir))


experiment_app = typer.Typer(
    no_args_is_help=False, rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]})

RatiosOption = Annotated[str, typer.Option(
    "--ratios", help="Ticket ratios to try, A:B comma-separated.")]
ExperimentCpu = Annotated[int | None, typer.Option(
    "--cpu", show_default="the last CPU", help="CPU the tasks are pinned to.")]
ViaOption = Annotated[str | None, typer.Option(
    "--via", metavar="cgroup|nice", show_default="cgroup where a cpu controller is",
    help="Allocate the ratios through cgroup weights (exact) or nice values (nearest).")]
PairOption = Annotated[str, typer.Option(
    "--ratio", metavar="A:B", help="The two tasks' tickets, as cgroup weights.")]

CsvOut = Annotated[Path | None, typer.Option(
    "--output", "-o", "--csv", help="CSV of the results (replaced).")]
PngOut = Annotated[Path | None, typer.Option(
    "--png", help="The figure (replaced); each subcommand's help says what it draws.")]


_EXPERIMENT_HELP = """Run the lottery paper's experiments on this kernel; alone, the ratio one.

    Subcommands: ratio (figure 4, the default), insulation (figure 9: load
    insulation with currencies), fairness (figure 5: the ratio over time),
    error (absolute error against quanta, beside lottery and stride). Each
    writes a CSV and a PNG, and removes its tasks and cgroups when it ends,
    also on Ctrl-C. docs/EXPERIMENTS.md has the paper's numbers beside ours.

    Examples:

      sudo lottery load; lottery experiment

      lottery experiment --ratios 1:1,3:1 --duration 3 --png assets/experiment.png

      lottery experiment insulation --duration 60

      lottery experiment fairness --ratio 2:1 --duration 200 --window 8
    """
# The help again here, so that the list of commands shows it without
# building the group (run()).
app.add_typer(experiment_app, name="experiment", help=_EXPERIMENT_HELP)


# One function for `experiment` alone and `experiment ratio`: alone, it runs
# when no subcommand is named; before a subcommand, it does nothing.
@experiment_app.callback(invoke_without_command=True, help=_EXPERIMENT_HELP)
@experiment_app.command("ratio")
def experiment_ratio(
    ctx: typer.Context,
    ratios: RatiosOption = "1:1,2:1,3:1,5:1,10:1",
    duration: Annotated[float, typer.Option(
        "--duration", help="Seconds each ratio runs.")] = 8.0,
    cpu: ExperimentCpu = None,
    quantum: QuantumOption = 4.0,
    replays: ReplaysOption = 50,
    seed: SeedOption = None,
    csv_path: CsvOut = Path("experiment.csv"),
    png: PngOut = Path("experiment.png"),
    via: ViaOption = None,
    pin_dir: PinDir = None,
) -> int:
    """The ratio experiment (the paper's figure 4): observed against allocated ratio.

    For each ratio, two CPU-bound tasks pinned to one CPU, each in a cgroup
    whose weight is its share of the ratio (or at the nice values whose
    weights come closest, --via nice); prints the ratio Linux gave and a
    simulated lottery's. Defaults take about 45 s.

    Examples:

      lottery experiment ratio --ratios 1:1,2:1,3:1,5:1,10:1,20:1

      lottery experiment ratio --via nice --cpu 0 --replays 200 --seed 1
    """
    if ctx.invoked_subcommand is not None:
        return EXIT_OK
    return _experiment().ratio(_pins(pin_dir), ratios, duration, cpu, quantum, replays,
                               seed, csv_path, png, via)


@experiment_app.command("insulation")
def experiment_insulation(
    duration: Annotated[float, typer.Option(
        "--duration", help="Seconds in all; B3 starts halfway.")] = 60.0,
    cpu: ExperimentCpu = None,
    csv_path: CsvOut = Path("insulation.csv"),
    png: PngOut = Path("insulation.png"),
    pin_dir: PinDir = None,
) -> int:
    """Load insulation with currencies (the paper's figure 9).

    Currencies A and B are two cgroups of equal weight; A1 = 100.A,
    A2 = 200.A, B1 = 100.B, B2 = 200.B each in a child cgroup weighted by
    its tickets, all pinned to one CPU; halfway, B3 = 300.B starts and
    inflates B. Prints each task's CPU share before and after, and A:B.

    Examples:

      lottery experiment insulation

      lottery experiment insulation --duration 200 -o assets/insulation.csv
    """
    return _experiment().insulation(_pins(pin_dir), duration, cpu, csv_path, png)


@experiment_app.command("fairness")
def experiment_fairness(
    ratio: PairOption = "2:1",
    duration: Annotated[float, typer.Option("--duration", help="Seconds in all.")] = 200.0,
    window: Annotated[float, typer.Option(
        "--window", help="Seconds per window.")] = 8.0,
    cpu: ExperimentCpu = None,
    quantum: QuantumOption = 4.0,
    seed: SeedOption = None,
    csv_path: CsvOut = Path("fairness.csv"),
    png: PngOut = Path("fairness.png"),
    pin_dir: PinDir = None,
) -> int:
    """Fairness over time (the paper's figure 5): the ratio in each window.

    Two tasks pinned to one CPU in cgroups weighted A:B; per window, the
    ratio Linux gave, and for the same quanta a simulated lottery's and a
    simulated stride scheduler's.

    Examples:

      lottery experiment fairness

      lottery experiment fairness --ratio 3:1 --duration 60 --window 2 --seed 1
    """
    return _experiment().fairness(_pins(pin_dir), ratio, duration, window, cpu, quantum,
                                  seed, csv_path, png)


@experiment_app.command("error")
def experiment_error(
    ratio: PairOption = "2:1",
    duration: Annotated[float, typer.Option("--duration", help="Seconds in all.")] = 30.0,
    cpu: ExperimentCpu = None,
    quantum: QuantumOption = 4.0,
    replays: ReplaysOption = 50,
    seed: SeedOption = None,
    csv_path: CsvOut = Path("error.csv"),
    png: PngOut = Path("error.png"),
    pin_dir: PinDir = None,
) -> int:
    """Absolute allocation error against quanta handed out: Linux, lottery, stride.

    Two tasks pinned to one CPU in cgroups weighted A:B; after n quanta of
    their CPU time, the first's error is |its quanta - n A/(A+B)|. A lottery's
    grows as sqrt(n); stride keeps it within one quantum.

    Examples:

      lottery experiment error

      lottery experiment error --ratio 3:1 --duration 60 --quantum 1 --seed 1
    """
    return _experiment().error(_pins(pin_dir), ratio, duration, cpu, quantum, replays,
                               seed, csv_path, png)


@app.command()
def top(
    interval: Annotated[float, typer.Option(
        "--interval", "-i", help="Seconds between samples, 0.01 to 86400.")] = 1.0,
    by: Annotated[str, typer.Option(
        "--by", metavar="|".join(_groupings()), help="Rows per thread, process, "
        "command name, task group or container (g cycles).")] = "thread",
    tickets: TicketsOption = "weight",
    pin_dir: PinDir = None,
    replay: Annotated[Path | None, typer.Option(
        "--replay", metavar="FILE", help="Show a dump's CSV or NDJSON recording instead of "
        "a loaded instance, one sample per --interval.")] = None,
) -> int:
    """A live dashboard of a loaded instance: each task's (or group's) observed
    share against its expected share, as a bar and a sparkline of its history;
    Jain's index per contention set; sparklines of conservation and fairness.
    Fits 80x24, shows more columns from 110 wide.

    Keys: q quit, s sort (delta, error, deficit, wait, pid), g group by, p pause,
    / filter by name or regular expression.

    Examples:

      sudo lottery load; lottery top

      lottery top -i 0.5 --by group

      lottery top --replay run.ndjson
    """
    _require("top")
    from orchestrator.commands import top as top_cmd

    return top_cmd.top(_pins(pin_dir), interval, tickets, by, replay)


@app.command()
def plot(
    recording: Annotated[Path, typer.Argument(
        metavar="FILE", help="A CSV (--output) or NDJSON (--json-output) written by dump.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", show_default="FILE with .png", help="The PNG (replaced).")] = None,
    top: Annotated[int, typer.Option("--top", help="Tasks to draw, the busiest.")] = 6,
) -> int:
    """Draw a dump's recording: each busy task's observed share against its
    expected share over time, its run-queue wait, and each sample's
    conservation error.

    Examples:

      lottery dump 1 30 -q -o run.csv; lottery plot run.csv

      lottery plot run.ndjson -o assets/plot.png --top 4
    """
    _require("plot")
    from orchestrator.commands import plot as plot_cmd

    return plot_cmd.plot(recording, output, top)


@app.command()
def unload(pin_dir: PinDir = None) -> int:
    """Detach the program and remove every pin of the instance.

    Idempotent: with nothing loaded it says so and succeeds.

    Examples:

      lottery unload

      lottery unload --pin-dir /sys/fs/bpf/lottery-test
    """
    from orchestrator.commands import unload as unload_cmd

    return unload_cmd.unload(_pins(pin_dir))


@app.command()
def serve(
    pin_dir: PinDir = None,
    listen: Annotated[str | None, typer.Option(
        "--listen", metavar="ADDR:PORT", help="Address to serve /metrics on; loopback by "
        "default, [::1]:PORT for IPv6.", show_default=_serve().DEFAULT_LISTEN)] = None,
    group_by: Annotated[str, typer.Option(
        "--group-by", metavar="|".join(_groupings(labels=True)), help="What the `group` label "
        "names: the command name, the process (name/tgid), the task group "
        "(/autogroup-41, /A/B) or the container (its id; with `container_id` and "
        "`pod_uid` labels).")] = "comm",
    pid: Annotated[list[str] | None, typer.Option(
        "--pid", "-p", metavar="PID[,PID...]", help="Also series per process for these "
        "TGIDs (repeatable): lottery_pid_* with a `pid` label.")] = None,
    max_groups: Annotated[int, typer.Option(
        "--max-groups", help="Series of their own for at most this many groups; tasks of "
        "later ones count under group=\"other\".")] = 100,
    user: Annotated[str | None, typer.Option(
        "--user", metavar="NAME", show_default="nobody", help="As root: the unprivileged "
        "user the HTTP process runs as.")] = None,
) -> int:
    """Serve the instance's numbers to Prometheus (/metrics).

    Every scrape reads the instance once: per group, CPU and run-queue wait
    seconds and context switches (counters that exited tasks never take
    back), the tasks, the tickets of those that ran, and the CPU a lottery
    would have given them; idle per CPU; the exporter's own health.

    Run as root (sudo lottery serve), it separates privileges: the root
    process only reads the instance, and a child it forks, running as
    --user (nobody by default) with no way back to root, accepts the
    connections and parses HTTP. Run as a user, it reads the instance
    through the rules of `lottery doctor --sudoers USER` and nothing runs
    as root but those reads. docs/FLEET.md has both ways, the service
    unit, the scrape configuration, the recording rules and the dashboard.

    Examples:

      sudo lottery serve

      sudo lottery serve --user lottery --listen 0.0.0.0:19941 --group-by group

      sudo lottery serve --group-by container --max-groups 200

      lottery serve              (as a user with the doctor's sudo rules)

      lottery serve --pid 1234,5678 --max-groups 50
    """
    from orchestrator.commands import dump as dump_cmd

    serve_cmd = _serve()
    return serve_cmd.serve(_pins(pin_dir), serve_cmd.DEFAULT_LISTEN if listen is None else listen,
                           group_by, dump_cmd.parse_pids(pid or ()), max_groups, user)


@app.command()
def workload(
    nice: Annotated[int, typer.Option("--nice", help="Nice value, -20 to 19.")] = 0,
    duration: Annotated[float, typer.Option("--duration", help="Seconds to run.")] = 10.0,
    cpu: Annotated[int | None, typer.Option(
        "--cpu", help="Pin to this CPU, so that tasks really compete.")] = None,
    procs: Annotated[int, typer.Option("--procs", help="Processes to start.")] = 1,
) -> int:
    """Start CPU-bound processes, print their PIDs, exit when they are done.

    Examples:

      lottery workload --nice 5 --duration 10 --cpu 1

      lottery workload --nice 0 --duration 30 --procs 2 &
    """
    from orchestrator.commands import workload as workload_cmd

    return workload_cmd.workload(nice, duration, cpu, procs)


@app.command()
def status(pin_dir: PinDir = None) -> int:
    """Show whether the instance is loaded: pins, program, link, map fill.

    Examples:

      lottery status

      lottery status --pin-dir /sys/fs/bpf/lottery-test
    """
    from orchestrator.commands import status as status_cmd

    return status_cmd.status(_pins(pin_dir))


@app.command()
def doctor(
    sudoers: Annotated[str | None, typer.Option(
        "--sudoers", metavar="USER", help="Print the sudoers rules that let USER read the "
        "instance (dump, top) and run nothing else as root, instead of the checks.")] = None,
    pin_dir: PinDir = None,
) -> int:
    """Check every prerequisite and print the fix for each that fails.

    With --sudoers USER, print the exact sudoers lines for a user who is not
    root to read one instance: each names one command with its exact
    arguments (see docs/USAGE.md, Without root).

    Examples:

      lottery doctor

      lottery doctor --sudoers alice | sudo tee /etc/sudoers.d/lottery-alice
    """
    from orchestrator.commands import doctor as doctor_cmd

    if sudoers is not None:
        return doctor_cmd.sudoers(sudoers, _pins(pin_dir))
    return doctor_cmd.doctor()


@app.command(hidden=True)
def reader(pin_dir: PinDir = None) -> int:
    """The root helper a reader who is not root runs through sudo (one slot
    of the instance, one walk per request on stdin); lottery runs it itself.

    Examples:

      sudo lottery reader --pin-dir /sys/fs/bpf/lottery   (by lottery, not by hand)
    """
    from orchestrator.kernel import helper

    return helper.main(_pins(pin_dir))


def _fail(err: LotteryError) -> int:
    print(err.line(), file=sys.stderr)
    if err.detail:
        print(err.detail, file=sys.stderr)
    return err.code


def _usage_line(err: Exception) -> str:
    """One line for a parsing error, naming the --help to read."""
    ctx = getattr(err, "ctx", None)
    where = f"lottery {ctx.info_name} --help" if ctx is not None and ctx.parent else \
        "lottery --help"
    return f"lottery: {err.format_message()}: see {where}"


class _Deferred(typer.core.TyperCommand):
    """A command as the list of commands shows it, its name and its help,
    built from its definition only when it is parsed."""

    def __init__(self, name: str, help_text: str, build: Callable[[], Any]):
        super().__init__(name, help=help_text)
        self._build = build

    def make_context(self, info_name, args, parent=None, **extra):
        return self._build().make_context(info_name, args, parent=parent, **extra)


def _only(commands: list | None = None, groups: list | None = None) -> typer.Typer:
    """`app` with its own options, help and settings but only these of its
    commands and groups: what Typer builds of it is all they need."""
    one = copy.copy(app)
    one.registered_commands = commands or []
    one.registered_groups = groups or []
    return one


def _built(name: str, **registered: list) -> Any:
    return typer.main.get_command(_only(**registered)).commands[name]


def _summary(info: Any) -> str:
    """The help Typer gives a command or a group, from its definition."""
    if isinstance(info.help, str):
        return inspect.cleandoc(info.help)
    return inspect.getdoc(info.callback) or ""


def command_line() -> Any:
    """The command line of `app`, each command built only when it is parsed:
    building one evaluates its options, which import what its help names."""
    group = typer.main.get_command(_only())
    for info in app.registered_commands:
        name = info.name or typer.main.get_command_name(info.callback.__name__)
        group.add_command(_Deferred(name, _summary(info),
                                    functools.partial(_built, name, commands=[info])), name)
    for info in app.registered_groups:
        group.add_command(_Deferred(info.name, _summary(info),
                                    functools.partial(_built, info.name, groups=[info])),
                          info.name)
    return group


# Options whose value may be left out (by command), and the value they then
# have: click has no such option of its own that Typer still supports.
_OPTIONAL_VALUES = {"dump": {"--latency": "group"}}


def _is_value(word: str) -> bool:
    """Could `word` be an option's value, not an option or a number (dump's
    INTERVAL and COUNT)?"""
    try:
        float(word)
        return False
    except ValueError:
        return not word.startswith("-")


def _with_values(command, argv: list[str]) -> list[str]:
    """argv with each option of _OPTIONAL_VALUES given its value where it
    was left out (what follows is an option, a number, or nothing), unless
    the word is itself the value of the option before it (`--comm
    --latency` names a task)."""
    name = next((word for word in argv if not word.startswith("-")), None)
    optional = _OPTIONAL_VALUES.get(name or "", {})
    if not any(word in optional for word in argv):
        return argv
    sub = getattr(command, "commands", {}).get(name)
    if isinstance(sub, _Deferred):
        sub = sub._build()  # as parsing it would
    if sub is None:
        return argv
    taking = {decl for p in sub.params if getattr(p, "param_type_name", "") == "option"
              and not p.is_flag and not p.count for decl in p.opts}
    out: list[str] = []
    for i, word in enumerate(argv):
        out.append(word)
        if word == "--":
            return out + argv[i + 1:]
        if word in optional and not (i and argv[i - 1] in taking) and (
                i + 1 >= len(argv) or not _is_value(argv[i + 1])):
            out[-1] = f"{word}={optional[word]}"
    return out


def run(argv: list[str]) -> int:
    """Run the command argv names and return its exit status. Usage errors
    and known failures are one line on stderr; a stop (Ctrl-C, SIGTERM,
    SIGHUP) goes on to the caller (entry.main) as KeyboardInterrupt."""
    command = command_line()
    try:
        with command.make_context("lottery", _with_values(command, list(argv))) as ctx:
            code = command.invoke(ctx)
    except typer.Exit as err:  # --help, --version
        code = err.exit_code
    except LotteryError as err:
        code = _fail(err)
    except typer.Abort as err:
        print("lottery: interrupted", file=sys.stderr)
        code = signals.exit_code(err)
    except BrokenPipeError:
        code = EXIT_ERROR  # e.g. `lottery dump | head`
    except Exception as err:
        # Typer vendors click in recent releases; its exceptions are known by shape.
        if not (hasattr(err, "format_message") and hasattr(err, "exit_code")):
            raise
        if type(err).__name__ == "NoArgsIsHelpError":
            print(err.ctx.get_help(), file=sys.stderr)
            code = EXIT_USAGE
        else:
            print(_usage_line(err), file=sys.stderr)
            code = err.exit_code if err.exit_code else EXIT_USAGE
    return code if isinstance(code, int) else EXIT_OK
