"""CSV sink: one row per task per sample, plus one idle row per CPU.

The seed's columns come first, in the seed's order; later columns only ever
append.  A sample is written with one write() while SIGINT is held back, so a
Ctrl-C can never leave half a sample in the file."""

from __future__ import annotations

import csv
import io
import os
import signal
from pathlib import Path

from orchestrator import currencies
from orchestrator.analysis import Analysis, RowAnalysis
from orchestrator.constants import EXIT_USAGE, SEED_CSV_COLUMNS
from orchestrator.errors import LotteryError
from orchestrator.metrics import Sample, TaskRow

EXTRA_COLUMNS = (
    "tgid", "comm", "cpu", "policy", "state", "start_ns",
    "runtime_delta_ns", "switches_delta", "voluntary_switches", "involuntary_switches",
    "wait_ns", "wait_ms", "wait_delta_ns", "wait_max_ns", "runs",
    "cpus_allowed", "runs_delta", "contention_group", "ticket_share", "expected_share",
    "observed_share", "share_error", "ewma_runtime_delta_ns", "lottery_wins", "lottery_win_rate",
    "period_ms", "utilisation", "response_ms", "lateness_ms",
    "group", "dropped", "exits_missed",
)
COLUMNS = SEED_CSV_COLUMNS + EXTRA_COLUMNS
HEADER = ",".join(COLUMNS)


def _blank(value: int | None) -> int | str:
    return "" if value is None else value


def _num(value: float | None, digits: int = 6) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _state(row: TaskRow) -> str:
    if row.unseen_exits:
        return "unseen"  # a group's exits that left the map before this sample
    return "exited" if row.task.exited else "alive"


def _analysis_cells(a: RowAnalysis) -> list[object]:
    s, e = a.share, a.edf
    return [
        "" if s is None else s.group, _num(s and s.ticket_share), _num(s and s.expected),
        _num(s and s.observed), _num(s and s.error), _num(a.ewma_delta_ns, 0),
        _blank(a.wins), _num(a.win_rate),
        _num(e and e.period_ns / 1e6, 3), _num(e and e.utilisation),
        _num(e and e.response_ns / 1e6, 3), _num(e and e.lateness_ns / 1e6, 3),
    ]


def sample_rows(sample: Sample, with_idle: bool = True,
                analysis: Analysis | None = None) -> list[list[object]]:
    """Return the CSV rows of one sample, in COLUMNS order."""
    ts = f"{sample.snapshot.timestamp_s:.6f}"
    path = currencies.Paths(sample.snapshot.groups)
    # what the sample could not see, on every row so that a filtered CSV keeps it
    lost = [sample.snapshot.info.dropped, sample.exits_missed]
    rows: list[list[object]] = []
    for row in sample.tasks:
        t = row.task
        a = analysis.rows.get(t.key, RowAnalysis()) if analysis else RowAnalysis()
        rows.append([
            ts, t.pid, t.runtime_ns, f"{t.runtime_ns / 1e6:.3f}", t.switches, t.nice,
            _blank(row.tickets),
            t.tgid, t.comm, t.cpu, t.policy, _state(row), t.start_ns,
            _blank(row.runtime_delta_ns), _blank(row.switches_delta),
            t.voluntary_switches, t.involuntary_switches,
            t.wait_ns, f"{t.wait_ns / 1e6:.3f}", _blank(row.wait_delta_ns), t.wait_max_ns, t.runs,
            t.cpus_allowed, _blank(row.runs_delta), *_analysis_cells(a), path(t.group), *lost,
        ])
    if with_idle:
        for idle in sample.idle:
            i = idle.idle
            row = [ts, 0, i.idle_ns, f"{i.idle_ns / 1e6:.3f}", "", "", "",
                   0, "idle", i.cpu, "", "idle", "", _blank(idle.idle_delta_ns)]
            row += [""] * (len(COLUMNS) - len(row) - len(lost))  # no task columns
            rows.append(row + lost)
    return rows


def conservation(path: Path) -> list[float]:
    """Per-sample (task runtime + idle) / (CPUs x interval) - 1 of a dump CSV,
    from the CSV alone: the interval is the time between two samples'
    timestamps, so the first sample in the file has none."""
    samples: dict[str, list[dict[str, str]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            samples.setdefault(row["timestamp_s"], []).append(row)
    times = sorted(samples, key=float)
    errors = []
    for before, now in zip(times, times[1:], strict=False):
        rows = samples[now]
        cpus = sum(1 for r in rows if r["state"] == "idle")
        used = sum(int(r["runtime_delta_ns"] or 0) for r in rows)
        span_ns = (float(now) - float(before)) * 1e9
        if cpus and span_ns > 0:
            errors.append(used / (cpus * span_ns) - 1)
    return errors


class CsvSink:
    """Appends samples to a CSV file owned by whoever runs dump."""

    def __init__(self, path: Path):
        self.path = path
        self._file = self._open(path)

    @staticmethod
    def _open(path: Path) -> io.TextIOWrapper:
        if path.is_dir():
            raise LotteryError(f"CSV path {path} is a directory", "pass a file to --output",
                               code=EXIT_USAGE)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as err:
            raise LotteryError(f"cannot write CSV {path} ({err.strerror})",
                               "choose a writable --output path", code=EXIT_USAGE) from None
        handle.seek(0)
        first = handle.readline().rstrip("\r\n")
        if first and first != HEADER:
            handle.close()
            raise LotteryError(
                f"{path} already holds CSV with another header",
                "pass a new --output file (one schema per file)", code=EXIT_USAGE)
        if first:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 1))
            if handle.read(1) != "\n":
                handle.close()
                raise LotteryError(f"{path} ends with a half-written row",
                                   "repair or move the file, then run dump again",
                                   code=EXIT_USAGE)
        handle.seek(0, os.SEEK_END)
        if not first:
            handle.truncate(0)
            handle.write(HEADER + "\n")
            handle.flush()
        return handle

    def write(self, sample: Sample, with_idle: bool = True,
              analysis: Analysis | None = None) -> int:
        """Append one sample whole; return the number of rows written."""
        rows = sample_rows(sample, with_idle, analysis)
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._file.write(buf.getvalue())
            self._file.flush()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return len(rows)

    def close(self) -> None:
        self._file.close()
