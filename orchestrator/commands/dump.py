"""lottery dump: sample the task map every interval; print tables, append CSV."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from orchestrator import bounds, files, groupings, signals, units
from orchestrator.analysis import analyser, tickets
from orchestrator.analysis.analyser import AnalysisOptions, Late
from orchestrator.analysis.frames import Frame, Seen, live_frames, recorded, replay_frames
from orchestrator.constants import (
    EXIT_LIST_RATE_DEFAULT,
    EXIT_OK,
    EXIT_RETAIN_S_DEFAULT,
    EXIT_RING,
    EXIT_USAGE,
    FILL_WARN_FRACTION,
    TASKS_CAPACITY,
)
from orchestrator.errors import LotteryError
from orchestrator.kernel import names, snapshot
from orchestrator.paths import Pins
from orchestrator.sinks import Sink, latency, rows, table
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
    latency: str | None = None  # print run-queue wait histograms: by "group" or "cpu"


def _warn(text: str) -> None:
    print(f"lottery: warning: {text}", file=sys.stderr)


@dataclass
class _Capacity:
    """Say when tasks stop fitting in the map and when they fit again, not
    every sample; say every sample that lost sight of exits."""

    limit: int
    retention_s: float = EXIT_RETAIN_S_DEFAULT
    listed_exits: int = EXIT_LIST_RATE_DEFAULT  # a second (load --listed-exits)
    dropping: bool = False
    full_said: bool = False
    groups_lost: int | None = None
    passed_said: bool = False

    def check(self, info: Seen, interval_s: float) -> None:
        if self.groups_lost is not None and info.groups_lost > self.groups_lost:
            _warn(f"{info.groups_lost - self.groups_lost} task groups did not fit in the "
                  "groups map: their tasks show group ? and count as the root's")
        self.groups_lost = info.groups_lost
        exits_missed = info.exits_missed
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
        if info.exits_passed and not self.passed_said:
            self.passed_said = True
            _warn(f"{info.exits} exits came in one {interval_s:.1f} s interval; "
                  f"{info.exits_passed} of them, of tasks no sample saw alive, were beyond "
                  f"the {self.listed_exits} a second listed one by one: they come summed per "
                  "task group, in rows of state 'summed' (CPU time kept, names not); to list "
                  "more, reload with sudo lottery load --force --listed-exits N")
        if exits_missed:
            _warn(f"{exits_missed} exits of this {interval_s:.1f} s interval were not seen "
                  f"(their CPU time is in the 'unseen' row): {self._why_missed(info, interval_s)}")

    def _why_missed(self, info: Seen, interval_s: float) -> str:
        """The cause of exits missed, and the fix that works for it."""
        if info.exits > EXIT_RING:
            return (f"{info.exits} exits came in the interval and the ring keeps the last "
                    f"{EXIT_RING}: sample more often (a shorter interval)")
        if interval_s > self.retention_s:
            return (f"the interval is longer than the {self.retention_s:g} s exits are kept: "
                    "sample more often, or reload with sudo lottery load --force "
                    "--exit-retention SECONDS")
        return ("a thread's exec ended under its leader's key, and the later exit replaced "
                "the leader's row, or a row could not be written (lottery status shows "
                "exits lost); no fix is needed")


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


def validate(opts: DumpOptions) -> None:
    """Refuse options that cannot work, before anything is read or written."""
    bounds.check("--interval", opts.interval_s)
    bounds.check("--iterations", opts.iterations)
    bounds.check("--top", opts.top)
    analyser.validate(opts.analysis)
    table.columns(opts.columns, opts.wide, opts.analysis.draws)
    groupings.get(opts.by)
    if opts.latency is not None and opts.latency not in latency.MODES:
        raise LotteryError(f"--latency {opts.latency!r} is not known",
                           f"pass one of {', '.join(latency.MODES)}, or --latency alone "
                           "(by group)", code=EXIT_USAGE)
    if opts.sort not in rows.SORT_KEYS:
        raise LotteryError(f"--sort {opts.sort!r} is not known",
                           f"pass one of {', '.join(rows.SORT_KEYS)}", code=EXIT_USAGE)
    files.distinct(
        [files.Named("--replay", opts.replay),
         files.Named("--tickets", tickets.mapping_file(opts.ticket_model))],
        [files.Named("--output", opts.output, dash=True),
         files.Named("--json-output", opts.json_output, dash=True),
         files.Named("--trace-output", opts.trace_output)])


def _late_line(late: list[Late], limit_ms: float) -> str:
    worst = sorted(late, key=lambda item: item.response_ms, reverse=True)
    shown = ", ".join(f"{w.comm} ({w.pid}) {w.response_ms:.1f} ms" for w in worst[:5])
    more = f" and {len(worst) - 5} more" if len(worst) > 5 else ""
    return (f"lottery: deadline: {len(worst)} tasks responded slower than "
            f"--deadline-warn {limit_ms:g} ms per activation: {shown}{more}")


def _filter(frame: Frame, opts: DumpOptions, named: Callable[[str], bool] | None) -> Frame:
    """The frame less the tasks -p and --comm (`named`, made once) leave out,
    and then less its idle records: they are no task of those."""
    if not opts.pids and named is None:
        return frame
    keep = [r for r in frame.tasks
            if (not opts.pids or r.pid in opts.pids or r.tgid in opts.pids)
            and (named is None or named(r.comm))]
    return frame.only(keep, idle=())


def _long_line(frame: Frame) -> str:
    skipped = f"; {frame.skipped} ticks skipped" if frame.skipped else ""
    return (f"lottery: note: this sample covers {frame.interval_s:.3f} s, not "
            f"{frame.asked_s:g} s: sampling took longer than the interval{skipped}")


def _shown(frame: Frame, opts: DumpOptions) -> Frame:
    """What the table shows: without lottery's own processes unless asked."""
    return frame if opts.include_self else frame.without_self()


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


def _warn_one_sample(path: Path) -> None:
    # its rows carry their deltas, but how long the interval was is known
    # only from the timestamp of a sample before it
    print(f"lottery: note: {path} holds one sample: how long its interval was is not "
          "recorded, so CPU % and the conservation check stay blank", file=sys.stderr)


def _frames(pins: Pins, opts: DumpOptions) -> tuple[Iterator[Frame], _Capacity]:
    """The frames to show, from the instance or the replayed recording, and
    what the instance's bounds are (to warn when a sample meets them)."""
    if opts.replay:
        samples = recorded(opts.replay)
        if len(samples) == 1:
            _warn_one_sample(opts.replay)
        return replay_frames(samples, count=opts.iterations), _Capacity(TASKS_CAPACITY)
    model = tickets.model(opts.ticket_model)
    snapshot.require_loaded(pins)
    given = snapshot.settings(pins)
    limits = _Capacity(given["max_tasks"] or TASKS_CAPACITY,
                       units.s(given["exit_retain_ns"]) or EXIT_RETAIN_S_DEFAULT,
                       given.get("exit_list_rate") or EXIT_LIST_RATE_DEFAULT)
    return live_frames(pins, model, opts.interval_s, opts.iterations, opts.analysis), limits


def dump(pins: Pins, opts: DumpOptions) -> int:
    """Sample until the iterations are done or Ctrl-C; return the exit code."""
    validate(opts)
    frames, warn = _frames(pins, opts)  # a bad recording fails here, before any file is touched
    sinks = _open_sinks(opts)
    grouping = groupings.get(opts.by)
    shown_columns = table.columns(opts.columns, opts.wide, opts.analysis.draws, grouping)
    named = names.matcher(opts.comm)  # its regexes compiled once, not per sample
    done = 0
    try:
        for whole in frames:
            if whole.reloaded:
                # a sample across two instances would mix their counters
                print("lottery: note: the instance was loaded again since the sample before "
                      "(load --force): this sample is a new baseline, not written",
                      file=sys.stderr)
                continue
            frame = _filter(whole, opts, named)
            warn.check(whole.seen, whole.interval_s)
            # the table's tasks, also the ones a deadline warning may name
            shown = _shown(frame, opts) if not opts.quiet or whole.late else frame
            if not opts.quiet:
                out = table.render(shown, opts.top, opts.sort, grouping, shown_columns,
                                   opts.wide)
                if opts.edf:
                    out += "\n\n" + table.render_edf(shown, opts.top)
                print(out, end="\n\n", flush=True)
            if opts.latency:  # -q too: the bars without the table
                print(latency.render(frame, opts.latency, opts.top), end="\n\n", flush=True)
            if whole.ran_long and not opts.replay:
                print(_long_line(whole), file=sys.stderr)
            late = whole.late
            if late:  # only the tasks this dump shows (looked up only when there are any)
                pids = {r.pid for r in shown.tasks}
                late = tuple(item for item in late if item.pid in pids)
            if late:
                print(_late_line(late, opts.analysis.deadline_warn_ms), file=sys.stderr)
            for sink in sinks.values():
                sink.write(replace(frame, late=late))
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
