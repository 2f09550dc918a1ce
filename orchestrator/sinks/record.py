"""One record per task per sample: the joined view every file sink writes.

FIELDS is the one list of what a record holds, in order: each field's name
(the CSV column, the NDJSON key) and, for a number with a fraction, the
decimals it keeps.  The seed's columns come first, in the seed's order; later
fields only ever append.  Values are built once per sample, already rounded,
so every sink writes the same numbers; None means "not known here"."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import and_, not_
from pathlib import Path

from orchestrator import files, units
from orchestrator.analysis import currencies
from orchestrator.analysis.analyser import Analysis, RowAnalysis
from orchestrator.constants import EXIT_USAGE, MAX_TICKETS, SEED_CSV_COLUMNS
from orchestrator.errors import LotteryError
from orchestrator.sampling.deltas import IdleRow, Sample, TaskRow

# What a recording may hold, so that a hostile or broken file is refused in
# one line instead of reaching arithmetic that cannot take it: counters are
# 64-bit, floats finite, names as long as a task-group path can be.
U64_MAX = 2**64 - 1
FLOAT_LIMIT = 1e18
TEXT_LIMIT = 4096
# Recordings are read whole: beyond this, memory runs short.
MAX_RECORDING_BYTES = 512 << 20


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    digits: int | None = None  # a float rounded to this many decimals; None: int or text
    text: bool = False         # a string (names, states); otherwise a number
    low: float = 0             # a number's range (floats within ±FLOAT_LIMIT too)
    high: float = U64_MAX

    def parse(self, cell: str) -> object:
        """The value of a CSV cell: blank is None, as in NDJSON."""
        if cell == "" or self.text:
            return self.check(cell or None)
        if len(cell) > 40:  # no 64-bit number or float needs more
            raise ValueError(f"{self.name} {cell[:20]}… is too long for a number")
        try:
            value = float(cell) if self.digits is not None else int(cell)
        except ValueError:
            kind = "a number" if self.digits is not None else "an integer"
            raise ValueError(f"{self.name} {cell!r} is not {kind}") from None
        return self.check(value)

    def check(self, value: object) -> object:
        """`value` if this field may hold it (a value read back from a file)."""
        if value is None:
            return None
        if self.text:
            if not isinstance(value, str) or len(value) > TEXT_LIMIT:
                raise ValueError(f"{self.name} is not text of at most {TEXT_LIMIT} characters")
            return value
        if self.digits is None:
            if type(value) is not int:
                raise ValueError(f"{self.name} {value!r} is not an integer")
            low, high = self.low, self.high
        else:
            if type(value) not in (int, float):
                raise ValueError(f"{self.name} {value!r} is not a number")
            low, high = max(self.low, -FLOAT_LIMIT), min(self.high, FLOAT_LIMIT)
        if not low <= value <= high:  # nan fails too
            raise ValueError(f"{self.name} {value!r} is outside {_shown(low)}..{_shown(high)}")
        return value


def _reason(err: Exception) -> str:
    if isinstance(err, csv.Error) and "field limit" in str(err):
        return f"a field is longer than {csv.field_size_limit()} characters"
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text (byte {err.start})"
    return str(err)[:200]


def _shown(bound: float) -> str:
    return "2^64-1" if bound == U64_MAX else "-2^63" if bound == -(2**63) else f"{bound:g}"


# A delta is what a counter moved by, and the kernel's idle time can step back.
_DELTA = {"low": -(2**63)}

FIELDS = (
    Field("timestamp_s", 6), Field("pid"), Field("runtime_ns"), Field("runtime_ms", 3),
    Field("switches"), Field("nice", low=-20, high=19), Field("tickets", low=1, high=MAX_TICKETS),
    Field("tgid"), Field("comm", text=True), Field("cpu"), Field("policy"),
    Field("state", text=True),
    Field("start_ns"), Field("runtime_delta_ns", **_DELTA), Field("switches_delta", **_DELTA),
    Field("voluntary_switches"), Field("involuntary_switches"),
    Field("wait_ns"), Field("wait_ms", 3), Field("wait_delta_ns", **_DELTA), Field("wait_max_ns"),
    Field("runs"), Field("cpus_allowed"), Field("runs_delta", **_DELTA),
    Field("contention_group", text=True),
    Field("ticket_share", 6), Field("expected_share", 6), Field("observed_share", 6),
    Field("share_error", 6, low=-1), Field("ewma_runtime_delta_ns", 0), Field("lottery_wins"),
    Field("lottery_win_rate", 6), Field("period_ms", 3), Field("utilisation", 6),
    Field("response_ms", 3), Field("lateness_ms", 3, low=-FLOAT_LIMIT),
    Field("group", text=True), Field("dropped"), Field("exits_missed"),
)
NAMES = tuple(f.name for f in FIELDS)

Record = tuple[object, ...]  # values in FIELDS order


def _known_fields(names: tuple) -> int:
    """How many of FIELDS a recording whose fields are `names` holds.  The
    seed's columns are the least; later fields only ever append, so an older
    recording's are the first of FIELDS, and the rest read as None."""
    if len(names) < len(SEED_CSV_COLUMNS) or names != NAMES[:len(names)]:
        raise ValueError("other fields")
    return len(names)


def _json_record(line: str) -> dict[str, object]:
    row = json.loads(line)
    if not isinstance(row, dict):
        raise ValueError("a line is no JSON object")
    held = _known_fields(tuple(row))
    for f in FIELDS[:held]:
        f.check(row[f.name])
    for f in FIELDS[held:]:
        row[f.name] = None
    return row


def read(path: Path) -> list[dict[str, object]]:
    """The records of a dump's CSV or NDJSON file, as dicts with typed values;
    raises when the file is neither, holds other fields, or values no dump
    writes (Field.check)."""
    where = 1
    try:
        with files.open_input(path, "recording", MAX_RECORDING_BYTES,
                              "pass a CSV or NDJSON file written by lottery dump",
                              "keep its last samples, e.g. (head -1 FILE; tail -n 200000 "
                              "FILE) > part.csv") as handle:
            first = handle.readline(TEXT_LIMIT * 4)
            handle.seek(0)
            if first.lstrip().startswith("{"):
                rows = []
                for where, line in enumerate(handle, 1):  # noqa: B007 (where: in the error)
                    if line.strip():
                        rows.append(_json_record(line))
                return rows
            reader = csv.reader(handle)
            held = FIELDS[:_known_fields(tuple(next(reader, ())))]
            rest = dict.fromkeys(NAMES[len(held):])
            out = []
            while True:
                # the line the row starts on: the reader raises (a field over
                # its limit) before it hands the row over
                where = reader.line_num + 1
                row = next(reader, None)
                if row is None:
                    break
                if len(row) != len(held):
                    raise ValueError(f"a row has {len(row)} fields, the header {len(held)}")
                values = {f.name: f.parse(cell) for f, cell in zip(held, row, strict=True)}
                values.update(rest)
                out.append(values)
            return out
    except OSError as err:
        raise LotteryError(f"cannot read {path} ({err.strerror})",
                           "pass a file written by lottery dump", code=EXIT_USAGE) from None
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError, csv.Error) as err:
        raise LotteryError(f"{path} is not a CSV or NDJSON file of this lottery's dump "
                           f"(line {where}: {_reason(err)})", "write one with lottery dump "
                           "-o FILE or --json-output FILE", code=EXIT_USAGE) from None


def _ms(ns: float | None) -> float | None:
    return None if ns is None else units.ms(ns)


def _state(row: TaskRow) -> str:
    if row.unseen_exits:
        return "unseen"  # exits that left the map before this sample
    return "exited" if row.task.exited else "alive"


def _task(row: TaskRow, a: RowAnalysis, group: str | None, lost: tuple[int, int]) -> list:
    """A task's record less its timestamp."""
    t, s, e = row.task, a.share, a.edf
    return [
        t.pid, t.runtime_ns, _ms(t.runtime_ns), t.switches, t.nice, row.tickets,
        t.tgid, t.comm, t.cpu, t.policy, _state(row), t.start_ns,
        row.runtime_delta_ns, row.switches_delta, t.voluntary_switches, t.involuntary_switches,
        t.wait_ns, _ms(t.wait_ns), row.wait_delta_ns, t.wait_max_ns, t.runs,
        t.cpus_allowed, row.runs_delta, s and s.group, s and s.ticket_share,
        s and s.expected, s and s.observed, s and s.error, a.ewma_delta_ns, a.wins, a.win_rate,
        _ms(e and e.period_ns), e and e.utilisation, _ms(e and e.response_ns),
        _ms(e and e.lateness_ns), group, *lost,
    ]


def _idle(row: IdleRow, lost: tuple[int, int]) -> list:
    """A CPU's idle record less its timestamp."""
    i = row.idle
    head = [0, i.idle_ns, _ms(i.idle_ns), None, None, None, 0, "idle", i.cpu, None,
            "idle", None, row.idle_delta_ns]
    return head + [None] * (len(FIELDS) - 1 - len(head) - len(lost)) + list(lost)


_TS_DIGITS = FIELDS[0].digits
# Only the floats need rounding: touching just them keeps 100k records cheap.
# (Positions in a record less its timestamp.)
_FLOATS = tuple((i - 1, f.digits) for i, f in enumerate(FIELDS) if i and f.digits is not None)


def _rounded(values: list) -> tuple:
    for i, digits in _FLOATS:
        if values[i] is not None:
            values[i] = round(values[i], digits)
    return tuple(values)


@dataclass(frozen=True)
class SampleRecords(Sequence):
    """The records of one sample.  They share its timestamp, so each is kept
    without it (`rest`, FIELDS less the first) and made whole only when a
    sink asks for it; a sink that writes text can write the stamp once."""

    timestamp_s: float
    rest: list[tuple]

    def __len__(self) -> int:
        return len(self.rest)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [(self.timestamp_s, *values) for values in self.rest[index]]
        return (self.timestamp_s, *self.rest[index])

    def __iter__(self) -> Iterator[Record]:
        ts = self.timestamp_s
        return ((ts, *values) for values in self.rest)


_UNKNOWN = RowAnalysis()
_FOUND = (-1).__lt__  # an index of Records.repeats that names a record


class Records:
    """Makes the records of one reader's successive samples.  A record
    depends on the task's row, its analysis, its group's path and what the
    sample lost.  A task that has not run has the very same row as before
    (deltas.Reader), and once its average has faded, the still analysis
    (Analysis.still): while the group paths and the losses stay as they
    were, its record repeats, and the sinks are told (Output.repeats).
    Found in bulk, by the row's id: the rows kept here are held, so their
    ids stay theirs."""

    def __init__(self) -> None:
        # the last sample's rows (held), their records less the timestamp,
        # and by the id of each still row, where its record was
        self._held: list[TaskRow] = []
        self._rest: list[tuple] = []
        self._index: dict[int, int] = {}
        self._lost: tuple[int, int] | None = None
        self._paths: dict[int, str] = {}  # the last sample's path of each group

    def __call__(self, sample: Sample, analysis: Analysis | None = None,
                 with_idle: bool = True) -> tuple[SampleRecords, list[int]]:
        """The records of one sample (each task, then each CPU's idle time, a
        record with pid 0 and state idle, unless `with_idle` is off), and for
        each, the index of the record it repeats in the sample before, or -1
        (Output.repeats)."""
        ts = round(sample.snapshot.timestamp_s, _TS_DIGITS)
        groups = sample.snapshot.groups
        path = currencies.Paths(groups)
        # what the sample could not see, on every record so that a filtered file keeps it
        lost = (sample.snapshot.info.dropped, sample.exits_missed)
        # A group that came or went changes no path of a still task (the walk
        # filed its group and the groups above it in both samples), unless the
        # group map had no room for some; one renamed or moved does.
        paths = {gid: path[gid] for gid in groups}
        moved = any(self._paths.get(gid, p) != p for gid, p in paths.items())
        if (lost != self._lost or moved
                or (sample.snapshot.info.groups_lost and paths.keys() != self._paths.keys())):
            self._index = {}
        found = analysis.rows if analysis else {}
        still = analysis.still if analysis else {}
        rows = sample.tasks
        ids = list(map(id, rows))
        is_still = list(map(still.__contains__, ids))
        repeats = list(map(self._index.get, ids, repeat(-1)))
        # a repeat's record is where it was (a new one's placeholder is
        # replaced below); a record repeats if its row was still then and is now
        rest = list(map(self._rest.__getitem__, repeats)) if self._index else [()] * len(rows)
        again = list(map(and_, is_still, map(_FOUND, repeats)))
        for i in compress(range(len(rows)), map(not_, again)):
            row = rows[i]
            rest[i] = _rounded(_task(row, found.get(row.task.key, _UNKNOWN),
                                     path[row.task.group] or None, lost))
            repeats[i] = -1
        self._held, self._rest = rows, rest
        self._index = dict(zip(compress(ids, is_still), compress(range(len(rows)), is_still),
                               strict=True))
        self._lost, self._paths = lost, paths
        if with_idle:
            rest += [_rounded(_idle(row, lost)) for row in sample.idle]
            repeats += [-1] * len(sample.idle)
        return SampleRecords(ts, rest), repeats


def records(sample: Sample, analysis: Analysis | None = None,
            with_idle: bool = True) -> SampleRecords:
    """The records of one sample on its own (Records, for a series of them)."""
    return Records()(sample, analysis, with_idle)[0]


def conservation(rows: list[dict[str, object]]) -> list[tuple[float, float]]:
    """(timestamp_s, error) per sample of a dump's records, from the records
    alone: (task runtime + idle) / (CPUs x interval) - 1, the interval being
    the time since the sample before, so the first sample has none."""
    samples: dict[float, list[dict[str, object]]] = {}
    for row in rows:
        samples.setdefault(row["timestamp_s"], []).append(row)
    times = sorted(samples)
    out = []
    for before, now in zip(times, times[1:], strict=False):
        here = samples[now]
        cpus = sum(1 for r in here if r["state"] == "idle")
        used = sum(r["runtime_delta_ns"] or 0 for r in here)
        span_ns = (now - before) * units.NS_PER_S
        if cpus and span_ns > 0:
            out.append((now, used / (cpus * span_ns) - 1))
    return out
