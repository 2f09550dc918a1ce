"""lottery dump: sample the task map every interval; print tables, append CSV."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator import bounds, files, signals
from orchestrator.analysis import analyser, tickets
from orchestrator.analysis.analyser import AnalysisOptions
from orchestrator.constants import (
    EXIT_OK,
    EXIT_USAGE,
    FILL_WARN_FRACTION,
    TASKS_CAPACITY,
)
from orchestrator.errors import LotteryError
from orchestrator.kernel import names, snapshot
from orchestrator.kernel.records import SnapshotInfo
from orchestrator.paths import Pins
from orchestrator.sampling import deltas
from orchestrator.sampling.replay import replay_frames
from orchestrator.sampling.sampler import Frame, live_frames
from orchestrator.sinks import Output, Sink, record, table
from orchestrator.sinks.append import STDOUT
from orchestrator.sinks.csv_file import CsvSink
from orchestrator.sinks.ndjson import NdjsonSink
from orchestrator.sinks.trace import TraceSink


@dataclass(frozen=True)
class DumpOptions:
    interval_s: float = 1.0
    iterations: int | None = None  # None: until Ctrl-C
    output: Path | None = None
    json_output: Path | None = None
    trace_output: Path | None = None
    replay: Path | None = None  # a recording to show instead of a loaded instance
    top: int = 10
    pids: tuple[int, ...] = ()
    comm: tuple[str, ...] = ()  # names or regular expressions: a task matching any is kept
    sort: str = "delta"
    by: str = "thread"
    ticket_model: str = "weight"
    quiet: bool = False  # no tables, CSV only
    include_self: bool = False  # show lottery's own processes in the table
    columns: str | None = None  # comma-separated table columns; None: the default
    wide: bool = False  # every column, groups in full
    analysis: AnalysisOptions = field(default_factory=AnalysisOptions)
    edf: bool = False  # print the EDF view under each table


def _warn(text: str) -> None:
    print(f"lottery: warning: {text}", file=sys.stderr)


@dataclass
class _Capacity:
    """Say when tasks stop fitting in the map and when they fit again, not
    every sample; say every sample that lost sight of exits."""

    limit: int
    dropping: bool = False
    full_said: bool = False
    groups_lost: int | None = None

    def check(self, info: SnapshotInfo, exits_missed: int, interval_s: float) -> None:
        if self.groups_lost is not None and info.groups_lost > self.groups_lost:
            _warn(f"{info.groups_lost - self.groups_lost} task groups did not fit in the "
                  "groups map: their tasks show group ? and count as the root's")
        self.groups_lost = info.groups_lost
        if info.dropped and not self.dropping:
            _warn(f"{info.dropped} live tasks did not fit in the task map ({self.limit} rows): "
                  "reload with sudo lottery load --force --max-tasks N")
        elif not info.dropped and self.dropping:
            _warn("every live task fits in the task map again")
        self.dropping = bool(info.dropped)
        if not self.full_said and info.live_rows >= FILL_WARN_FRACTION * self.limit:
            self.full_said = True
            _warn(f"the task map is {100 * info.live_rows / self.limit:.0f}% full "
                  f"({info.live_rows} of {self.limit} live rows): reload with a larger "
                  "--max-tasks")
        if exits_missed:
            _warn(f"{exits_missed} exits of this {interval_s:.1f} s interval had left the map "
                  "before this sample (their CPU time is in the 'unseen' row): sample more "
                  "often, or reload with a longer --exit-retention")


def timing(interval_arg: float | None, count_arg: int | None, interval: float | None,
           iterations: int | None) -> tuple[float, int | None]:
    """Interval and count from `dump [INTERVAL [COUNT]]` or their options,
    each given at most once."""
    for name, positional, option in (("interval", interval_arg, interval),
                                     ("count", count_arg, iterations)):
        if positional is not None and option is not None and positional != option:
            flag = "--interval" if name == "interval" else "--iterations"
            raise LotteryError(f"the {name} is given twice ({positional:g} and {flag} "
                               f"{option:g})", "give it once", code=EXIT_USAGE)
    chosen = interval_arg if interval_arg is not None else interval
    return (1.0 if chosen is None else chosen,
            count_arg if count_arg is not None else iterations)


def parse_pids(values: Iterable[str]) -> tuple[int, ...]:
    """`-p 12,34 -p 56` -> (12, 34, 56)."""
    pids = []
    for value in values:
        for part in value.split(","):
            digits = part.strip()
            if not (digits.isascii() and digits.isdigit()) or len(digits) > 7:
                raise LotteryError(f"--pid {value!r} is not a list of PIDs",
                                   "pass numbers, e.g. -p 1234,1240", code=EXIT_USAGE)
            bounds.check("--pid", int(digits))
            pids.append(int(digits))
    return tuple(pids)


def ticket_file(model: str | None) -> Path | None:
    """The mapping file --tickets names, if it names no built-in model."""
    return None if model is None or model in tickets.MODELS else Path(model)


def validate(opts: DumpOptions) -> None:
    """Refuse options that cannot work, before anything is read or written."""
    bounds.check("--interval", opts.interval_s)
    bounds.check("--iterations", opts.iterations)
    bounds.check("--top", opts.top)
    analyser.validate(opts.analysis)
    table.columns(opts.columns, opts.wide, opts.analysis.draws)
    files.distinct(
        [files.Named("--replay", opts.replay),
         files.Named("--tickets", ticket_file(opts.ticket_model))],
        [files.Named("--output", opts.output, dash=True),
         files.Named("--json-output", opts.json_output, dash=True),
         files.Named("--trace-output", opts.trace_output)])


def _late_line(late: list[tuple[str, int, float]], limit_ms: float) -> str:
    worst = sorted(late, key=lambda item: item[2], reverse=True)
    shown = ", ".join(f"{comm} ({pid}) {ms:.1f} ms" for comm, pid, ms in worst[:5])
    more = f" and {len(worst) - 5} more" if len(worst) > 5 else ""
    return (f"lottery: deadline: {len(worst)} tasks responded slower than "
            f"--deadline-warn {limit_ms:g} ms per activation: {shown}{more}")


def _filter(sample: deltas.Sample, opts: DumpOptions,
            named: Callable[[str], bool] | None) -> deltas.Sample:
    """The sample less the tasks -p and --comm (`named`, made once) leave out."""
    if not opts.pids and named is None:
        return sample
    keep = [r for r in sample.tasks
            if (not opts.pids or r.task.pid in opts.pids or r.task.tgid in opts.pids)
            and (named is None or named(r.task.comm))]
    return sample.with_tasks(keep)


def _long_line(frame: Frame) -> str:
    skipped = f"; {frame.skipped} ticks skipped" if frame.skipped else ""
    return (f"lottery: note: this sample covers {frame.interval_s:.3f} s, not "
            f"{frame.asked_s:g} s: sampling took longer than the interval{skipped}")


def _shown(sample: deltas.Sample, opts: DumpOptions) -> deltas.Sample:
    """What the table shows: without lottery's own processes unless asked."""
    return sample if opts.include_self else table.without_self(sample)


def _open_sinks(opts: DumpOptions) -> dict[Path, Sink]:
    """The files asked for, opened (and checked) before any sampling."""
    asked = [(opts.output, CsvSink), (opts.json_output, NdjsonSink),
             (opts.trace_output, TraceSink)]
    sinks: dict[Path, Sink] = {}
    try:
        for path, kind in asked:
            if path:
                sinks[path] = kind(path)
    except LotteryError:
        for sink in sinks.values():
            sink.close()
        raise
    return sinks


def replay_samples(path: Path) -> int:
    """How many samples a recording holds, read before any file is touched:
    a bad recording fails here in one line, and so does one with none."""
    stamps = {row["timestamp_s"] for row in record.read(path)}
    if not stamps:
        raise LotteryError(f"{path} holds no sample to replay",
                           "pass a recording dump wrote samples to, e.g. lottery dump 1 5 -o "
                           "FILE", code=EXIT_USAGE)
    return len(stamps)


def _warn_one_sample(path: Path) -> None:
    # its rows carry their deltas, but how long the interval was is known
    # only from the timestamp of a sample before it
    print(f"lottery: note: {path} holds one sample: how long its interval was is not "
          "recorded, so CPU % and the conservation check stay blank", file=sys.stderr)


def _frames(pins: Pins, opts: DumpOptions) -> tuple[Iterator[Frame], int]:
    """The frames to show, from the instance or the replayed recording, and
    the task map's row limit."""
    if opts.replay:
        return replay_frames(opts.replay, count=opts.iterations), TASKS_CAPACITY
    model = tickets.model(opts.ticket_model)
    snapshot.require_loaded(pins)
    limit = snapshot.capacity(pins)
    return live_frames(pins, model, opts.interval_s, opts.iterations, opts.analysis), limit


def dump(pins: Pins, opts: DumpOptions) -> int:
    """Sample until the iterations are done or Ctrl-C; return the exit code."""
    validate(opts)
    if opts.replay and replay_samples(opts.replay) == 1:
        _warn_one_sample(opts.replay)
    frames, limit = _frames(pins, opts)
    sinks = _open_sinks(opts)
    shown_columns = table.columns(opts.columns, opts.wide, opts.analysis.draws)
    warn = _Capacity(limit)
    make_records = record.Records()
    named = names.matcher(opts.comm)  # its regexes compiled once, not per sample
    done = 0
    try:
        for frame in frames:
            whole, found = frame.sample, frame.analysis
            sample = _filter(whole, opts, named)
            warn.check(whole.snapshot.info, whole.exits_missed, frame.interval_s)
            # the table's tasks, also the ones a deadline warning may name
            shown = _shown(sample, opts) if not opts.quiet or found.late else sample
            if not opts.quiet:
                out = table.render(shown, opts.top, opts.sort, opts.by, found, shown_columns,
                                   opts.wide)
                if opts.edf:
                    out += "\n\n" + table.render_edf(shown, found, opts.top)
                print(out, end="\n\n", flush=True)
            if frame.ran_long and not opts.replay:
                print(_long_line(frame), file=sys.stderr)
            late = found.late
            if late:  # only the tasks this dump shows (looked up only when there are any)
                pids = {r.task.pid for r in shown.tasks}
                late = [item for item in late if item[1] in pids]
            if late:
                print(_late_line(late, opts.analysis.deadline_warn_ms), file=sys.stderr)
            if sinks:
                rows, repeats = make_records(sample, found,
                                             with_idle=not (opts.pids or opts.comm))
                out = Output(sample, found, rows, late, repeats)
                for sink in sinks.values():
                    sink.write(out)
            done += 1
    except KeyboardInterrupt as err:  # Ctrl-C, SIGTERM, SIGHUP (signals.py)
        # A sample is either in a file whole or not at all (sinks.append).
        print(f"lottery: interrupted after {done} samples", file=sys.stderr)
        return signals.exit_code(err)
    finally:
        for sink in sinks.values():
            sink.close()
    for path in sinks:  # a file on stdout must hold nothing else
        print(f"wrote {done} samples to {path}",
              file=sys.stderr if str(path) == STDOUT else sys.stdout)
    return EXIT_OK
