"""The records every layer passes on, and FIELDS, the one list of what a
recording holds.

The kernel's records (TaskSample, Group, CpuIdle, SnapshotInfo) are read
from bpftool's JSON by their BTF field names (kernel/parse.py).  A
TaskRecord is one task in one sample, joined once with everything known of
it (its deltas, its share, its group's path): the table, `lottery top`,
the CSV, NDJSON and trace files, the exporter and the simulator all read
it, and a replay reads it back from a file.  FIELDS is its definition: each
field's name (the CSV column, the NDJSON key), how its value is read from a
joined sample, how many decimals it keeps and what a file may hold in it.
The record type is made from FIELDS, so a field added there is one the
writers write and the readers read; the seed's columns come first, in the
seed's order, and later fields only ever append.

This is the bottom layer: it imports nothing of lottery's but constants,
errors, files and units."""

from __future__ import annotations

import csv
import json
from collections import namedtuple
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator import files, units, waits
from orchestrator.constants import EXIT_USAGE, MAX_TICKETS, SEED_CSV_COLUMNS
from orchestrator.errors import LotteryError

Key = tuple[int, int]  # (pid, start_ns): one task, never a later one that reuses its pid


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSample:
    """One task (thread) as the kernel counted it at a snapshot, or at its
    exit; fields named as in struct task_stats."""

    pid: int
    start_ns: int
    tgid: int
    ppid: int        # its parent's tgid
    comm: str
    nice: int
    policy: int
    cpu: int         # the CPU it last ran on
    cpus_allowed: int  # CPUs it may run on; 1 means pinned to `cpu`
    runtime_ns: int
    wait_ns: int
    wait_max_ns: int
    runs: int
    voluntary_switches: int
    involuntary_switches: int
    group: int       # id of its task group (Group.id)
    exited: bool = False
    exit_seq: int = 0  # an exit's number in the order of exits
    # its run-queue waits since load by log2 slot of microseconds (struct
    # task_stats.waits, 32-bit counters); () when the instance has none
    waits: tuple[int, ...] = ()
    # the longest wait that ended since this reader's walk before wrote the
    # task (a live row of this walk; an exit's copy); 0 where none; None from
    # an instance that keeps none
    wait_longest_ns: int | None = 0
    key: Key = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.pid, self.start_ns))  # every stage looks it up

    @property
    def switches(self) -> int:
        """Context switches out of the CPU, as /proc/PID/status counts them."""
        return self.voluntary_switches + self.involuntary_switches


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A task group: a cgroup, an autogroup (one per session) or the root.

    The scheduler splits a parent's weight among its children by their
    weights: the lottery paper's currencies.  `exited_*` are the totals of
    tasks that died in it; they only grow."""

    id: int
    parent: int         # 0 for the root
    kind: str           # "root", "cgroup", "autogroup" or "gone"
    number: int         # cgroup id or autogroup number
    name: str           # cgroup directory name; "" for the others
    shares: int         # tg->shares in the kernel's fixed point
    idle: bool = False  # cpu.idle set: weighted like SCHED_IDLE
    exits: int = 0
    exited_runtime_ns: int = 0
    exited_wait_ns: int = 0
    exited_runs: int = 0
    exited_switches: int = 0
    # CPU bandwidth: a ceiling of quota_ns per period_ns (0: none), and the
    # kernel's throttling counters, which only grow (cpu.stat)
    quota_ns: int = 0
    period_ns: int = 0
    periods: int = 0
    throttled_periods: int = 0
    throttled_ns: int = 0
    exited_waits: tuple[int, ...] = ()  # the waits of its tasks that exited, by slot

    @property
    def quota_cpus(self) -> float | None:
        """The ceiling in CPUs (0.2: a fifth of one CPU); None: no limit."""
        return self.quota_ns / self.period_ns if self.quota_ns and self.period_ns else None


@dataclass(frozen=True, slots=True)
class CpuIdle:
    """Idle time of one CPU since boot, at a snapshot."""

    cpu: int
    idle_ns: int


@dataclass(frozen=True, slots=True)
class CpuWaits:
    """The run-queue waits that ended on one CPU (struct cpu_waits): counts
    by slot (orchestrator/waits.py) and what they add up to."""

    counts: tuple[int, ...]
    sum_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotInfo:
    """What one snapshot did: struct snapshot_info, field for field."""

    snapshot: int
    start_ns: int       # CLOCK_MONOTONIC when the walk began
    end_ns: int
    rows: int           # live rows it wrote: the tasks that changed (all, when full)
    dropped: int        # changed live tasks it could not write (the map was full)
    full: int           # 1: it wrote every live task
    exits: int          # exits numbered before it began
    exits_from: int     # the first exit it copied for its reader
    # exits numbered before it began, from exits_from on, that it passed over:
    # of tasks no walk found alive, beyond `load --listed-exits` (summed, not rows)
    exits_passed: int = 0
    exits_lost: int     # since load
    groups_lost: int    # since load
    live_rows: int      # live tasks it found
    exit_rows: int      # rows in the exit map when it ended
    # what the `exits` tasks that exited before it began used in all
    retired_runtime_ns: int = 0
    retired_wait_ns: int = 0
    retired_runs: int = 0
    retired_switches: int = 0
    retired_waits: tuple[int, ...] = ()  # their waits by slot

    @classmethod
    def from_btf(cls, value: dict[str, Any]) -> SnapshotInfo:
        """From bpftool's formatted struct snapshot_info, by field name."""
        waits = tuple(int(n) for n in value.get("retired_waits") or ())
        return cls(**{f.name: int(value[f.name]) for f in fields(cls)
                      if f.name != "retired_waits"}, retired_waits=waits)


@dataclass(frozen=True)
class Snapshot:
    """Everything one sample read from the kernel."""

    info: SnapshotInfo
    timestamp_s: float  # wall clock of info.start_ns
    tasks: tuple[TaskSample, ...]  # every live task at this snapshot
    exits: tuple[TaskSample, ...]  # every exit row read, oldest first
    idle: tuple[CpuIdle, ...]
    groups: dict[int, Group]
    # How its live tasks differ from those of this reader's snapshot before
    # (kernel/snapshot.Session): the stages after it work out again only
    # what changed.  None: nothing is known of the one before.
    change: Change | None = None
    # The walk's sums of the exits numbered before it that it passed over
    # (parse.TaskRows.summed), one per task group
    summed: tuple[TaskSample, ...] = ()
    # the run-queue waits that ended on each CPU since load, in CPU order;
    # () when the instance has none
    cpu_waits: tuple[CpuWaits, ...] = ()


@dataclass(frozen=True)
class Change:
    """How one item of a series (a snapshot, a sample, an analysis, a frame)
    differs in its live tasks from the item before it, numbered `since`:
    the tasks new or whose value is another (by key, with the new value),
    and those no longer live.  Every other live task has the value it had
    there, so a stage that keeps the item before needs to visit only these;
    a stage that did not see item `since` starts afresh."""

    since: int
    changed: dict[Key, Any]
    left: frozenset[Key] = frozenset()

    def follows(self, number: int | None) -> bool:
        return number is not None and self.since == number


# What a recording may hold, so that a hostile or broken file is refused in
# one line instead of reaching arithmetic that cannot take it: counters are
# 64-bit, floats finite, names as long as a task-group path can be.
U64_MAX = 2**64 - 1
FLOAT_LIMIT = 1e18
TEXT_LIMIT = 4096
# Recordings are read whole: beyond this, memory runs short.
MAX_RECORDING_BYTES = 512 << 20


class Joined(NamedTuple):
    """What a task's record is read from: its row (kernel numbers, tickets,
    deltas: sampling.deltas.TaskRow), its analysis (analysis.analyser.
    RowAnalysis), the path of its task group, and what its sample could not
    see (on every record, so that a filtered file keeps it)."""

    row: Any
    analysis: Any
    group: str | None
    dropped: int
    exits_missed: int


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    # How a task's value is read from its Joined; None for the one field of
    # the sample, not of the task (timestamp_s).
    read: Callable[[Joined], object] | None
    digits: int | None = None  # a float rounded to this many decimals; None: int or text
    text: bool = False         # a string (names, states); otherwise a number
    low: float = 0             # a number's range (floats within ±FLOAT_LIMIT too)
    high: float = U64_MAX
    required: bool = False     # never blank where a recording holds the field
    # a text's own form, checked when read back (raises ValueError)
    form: Callable[[str], object] | None = None

    def parse(self, cell: str) -> object:
        """The value of a CSV cell: blank is None, as null is in NDJSON."""
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
            if self.required:
                raise ValueError(f"{self.name} is blank (null), which lottery dump never writes")
            return None
        if self.text:
            if not isinstance(value, str) or len(value) > TEXT_LIMIT:
                raise ValueError(f"{self.name} is not text of at most {TEXT_LIMIT} characters")
            if self.form is not None:
                self.form(value)
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


def _shown(bound: float) -> str:
    return "2^64-1" if bound == U64_MAX else "-2^63" if bound == -(2**63) else f"{bound:g}"


def _task(name: str) -> Callable[[Joined], object]:
    return attrgetter(f"row.task.{name}")


def _row(name: str) -> Callable[[Joined], object]:
    return attrgetter(f"row.{name}")


def _of(part: str, name: str, scale: Callable[[float], float] | None = None):
    """A value of the analysis's `part` (share, edf) when it has one."""
    get = attrgetter(name)
    if scale is None:
        return lambda j: None if (p := getattr(j.analysis, part)) is None else get(p)
    return lambda j: None if (p := getattr(j.analysis, part)) is None else scale(get(p))


def _ms_or_none(ns: float | None) -> float | None:
    return None if ns is None else units.ms(ns)


def _throttled_ms(limit: Any) -> float | None:
    """The interval's throttled time of the group whose quota binds the task."""
    return None if limit is None or limit.throttled is None \
        else units.ms(limit.throttled.throttled_ns)


def _state(j: Joined) -> str:
    if j.row.unseen_exits:
        # a task group's exits the walk summed (more than it lists), or the
        # exits whose rows left the map before this sample (no group)
        return "summed" if j.row.task.group else "unseen"
    return "exited" if j.row.task.exited else "alive"


STATES = ("alive", "exited", "summed", "unseen", "idle")
NOT_TASKS = ("summed", "unseen")  # states of rows that sum many exits
# A delta is what a counter moved by, and the kernel's idle time can step back.
_DELTA = {"low": -(2**63)}
# The fields of an interval's waits (a task's, a CPU's), from its counts by slot
_WAITS: dict[str, Callable[[tuple[int, ...] | None], object]] = {
    "wait_slots": waits.encode,
    "wait_p50_us": lambda counts: waits.quantile(counts, 0.5),
    "wait_p99_us": lambda counts: waits.quantile(counts, 0.99),
    "wait_longest_le_us": waits.longest_le_us,
}
_SHARE = {"high": 1}

FIELDS = (
    Field("timestamp_s", None, 6, required=True),
    Field("pid", _task("pid"), required=True),
    Field("runtime_ns", _task("runtime_ns"), required=True),
    Field("runtime_ms", lambda j: units.ms(j.row.task.runtime_ns), 3, required=True),
    Field("switches", _task("switches")),
    Field("nice", _task("nice"), low=-20, high=19),
    Field("tickets", attrgetter("analysis.tickets"), low=1, high=MAX_TICKETS),
    Field("tgid", _task("tgid"), required=True),
    Field("comm", _task("comm"), text=True, required=True),
    Field("cpu", _task("cpu"), required=True),
    Field("policy", _task("policy")),
    Field("state", _state, text=True, required=True),
    Field("start_ns", _task("start_ns")),
    Field("runtime_delta_ns", _row("runtime_delta_ns"), **_DELTA),
    Field("switches_delta", _row("switches_delta"), **_DELTA),
    Field("voluntary_switches", _task("voluntary_switches")),
    Field("involuntary_switches", _task("involuntary_switches")),
    Field("wait_ns", _task("wait_ns")),
    Field("wait_ms", lambda j: units.ms(j.row.task.wait_ns), 3),
    Field("wait_delta_ns", _row("wait_delta_ns"), **_DELTA),
    Field("wait_max_ns", _task("wait_max_ns")),
    Field("runs", _task("runs")),
    Field("cpus_allowed", _task("cpus_allowed")),
    Field("runs_delta", _row("runs_delta"), **_DELTA),
    Field("contention_group", _of("share", "group"), text=True),
    Field("ticket_share", _of("share", "ticket_share"), 6, **_SHARE),
    Field("expected_share", _of("share", "expected"), 6, **_SHARE),
    Field("observed_share", _of("share", "observed"), 6, **_SHARE),
    Field("share_error", _of("share", "error"), 6, low=-1, high=1),
    Field("ewma_runtime_delta_ns", attrgetter("analysis.ewma_delta_ns"), 0),
    Field("lottery_wins", attrgetter("analysis.wins")),
    Field("lottery_win_rate", attrgetter("analysis.win_rate"), 6, **_SHARE),
    Field("period_ms", _of("edf", "period_ns", units.ms), 3),
    Field("utilisation", _of("edf", "utilisation"), 6),
    Field("response_ms", _of("edf", "response_ns", units.ms), 3),
    Field("lateness_ms", _of("edf", "lateness_ns", units.ms), 3, low=-FLOAT_LIMIT),
    Field("group", attrgetter("group"), text=True),
    Field("dropped", attrgetter("dropped"), required=True),
    Field("exits_missed", attrgetter("exits_missed"), required=True),
    Field("demand_ms", lambda j: _ms_or_none(j.analysis.demand_ns), 3),
    Field("quota_cpus", _of("limit", "quota_cpus"), 3),
    Field("throttled_ms", lambda j: _throttled_ms(j.analysis.limit), 3),
    Field("deficit_ms", _of("deficit", "total_ns", units.ms), 3),
    Field("deficit_cpus_ms", _of("deficit", "cpus_ns", units.ms), 3),
    Field("deficit_throttled_ms", _of("deficit", "throttled_ns", units.ms), 3),
    Field("deficit_waited_ms", _of("deficit", "waited_ns", units.ms), 3),
    Field("deficit_unasked_ms", _of("deficit", "unasked_ns", units.ms), 3),
    Field("exec_from", _row("exec_from")),
    # the interval's run-queue waits (orchestrator/waits.py): by log2 slot
    # of microseconds as text, and what they say in microseconds
    Field("wait_slots", lambda j: _WAITS["wait_slots"](j.row.waits_delta), text=True,
          form=waits.decode),
    Field("wait_p50_us", lambda j: _WAITS["wait_p50_us"](j.row.waits_delta), 1),
    Field("wait_p99_us", lambda j: _WAITS["wait_p99_us"](j.row.waits_delta), 1),
    Field("wait_longest_le_us", lambda j: _WAITS["wait_longest_le_us"](j.row.waits_delta), 1),
    # exact, where the slots give only the bound above
    Field("wait_longest_us", lambda j: None if j.row.wait_longest_ns is None
          else units.us(j.row.wait_longest_ns), 3),
)
NAMES = tuple(f.name for f in FIELDS)
TIMESTAMP = FIELDS[0]
TASK_FIELDS = FIELDS[1:]  # what one task's record holds; the timestamp is its sample's
_BY_NAME = {f.name: f for f in FIELDS}


class TaskRecord(namedtuple("_TaskRecord", [f.name for f in TASK_FIELDS])):
    """One task in one sample, joined (see the module's text); a CPU's idle
    time is a record with pid 0 and state idle.  Immutable, and equal to
    another exactly when every value is."""

    __slots__ = ()

    @property
    def key(self) -> Key:
        return (self.pid, self.start_ns)


# Positions of the floats in a record: only they need rounding.
_FLOATS = tuple((i, f.digits) for i, f in enumerate(TASK_FIELDS) if f.digits is not None)
_READS = tuple(f.read for f in TASK_FIELDS)


def task_record(j: Joined) -> TaskRecord:
    """A task's record, every field read from `j` as FIELDS says, floats
    rounded to their decimals so that every sink writes the same numbers."""
    values = [read(j) for read in _READS]
    for i, digits in _FLOATS:
        if values[i] is not None:
            values[i] = round(values[i], digits)
    return TaskRecord._make(values)


_BLANK = TaskRecord._make([None] * len(TASK_FIELDS))


def idle_record(cpu: int, idle_ns: int, idle_delta_ns: int | None, dropped: int,
                exits_missed: int, waits: CpuWaits | None = None) -> TaskRecord:
    """A CPU's idle time as a record: pid 0, state idle, the idle time as its
    runtime; and the run-queue waits that ended on it in the interval (their
    sum as its wait_delta_ns)."""
    return _BLANK._replace(pid=0, runtime_ns=idle_ns, runtime_ms=round(units.ms(idle_ns), 3),
                           tgid=0, comm="idle", cpu=cpu, state="idle",
                           runtime_delta_ns=idle_delta_ns, dropped=dropped,
                           exits_missed=exits_missed,
                           wait_delta_ns=None if waits is None else waits.sum_ns,
                           **wait_fields(None if waits is None else waits.counts))


def wait_fields(counts: tuple[int, ...] | None) -> dict[str, object]:
    """The wait fields of what is not built from a Joined (a CPU's record,
    a task group's NDJSON object), rounded as task_record rounds a task's."""
    out = {}
    for name, read in _WAITS.items():
        value, digits = read(counts), _BY_NAME[name].digits
        out[name] = value if value is None or digits is None else round(value, digits)
    return out


@dataclass(frozen=True)
class RecordedSample:
    """One sample of a recording: its tasks' records and its CPUs' idle records."""

    timestamp_s: float
    tasks: list[TaskRecord]
    idle: list[TaskRecord]

    def conservation_error(self, before: RecordedSample) -> float | None:
        """(task runtime + idle) / (CPUs x interval) - 1 since `before`, from
        the records alone; None without idle records or an interval."""
        span_ns = (self.timestamp_s - before.timestamp_s) * units.NS_PER_S
        if not self.idle or span_ns <= 0:
            return None
        used = sum(r.runtime_delta_ns or 0 for r in (*self.tasks, *self.idle))
        return used / (len(self.idle) * span_ns) - 1


def conservation(samples: list[RecordedSample]) -> list[tuple[float, float]]:
    """(timestamp_s, error) of each sample that has one before it, from a
    recording alone: the conservation check redone from the file."""
    return [(here.timestamp_s, error) for before, here in zip(samples, samples[1:], strict=False)
            if (error := here.conservation_error(before)) is not None]


def _known_fields(names: tuple) -> int:
    """How many of FIELDS a recording whose fields are `names` holds.  The
    seed's columns are the least; later fields only ever append, so an older
    recording's are the first of FIELDS, and the rest read as None."""
    if len(names) < len(SEED_CSV_COLUMNS) or names != NAMES[:len(names)]:
        raise ValueError("other fields")
    return len(names)


def _record(values: dict[str, object]) -> tuple[float, TaskRecord]:
    """A recorded row, by field name; fields a recording lacks are None, and
    a recording without states (the seed's) holds live tasks only."""
    if values.get("state", "alive") not in STATES:
        raise ValueError(f"state {values['state']!r} is not one of {', '.join(STATES)}")
    values.setdefault("state", "alive")
    timestamp = values.pop(TIMESTAMP.name)
    return timestamp, TaskRecord(**{f.name: values.get(f.name) for f in TASK_FIELDS})


# NDJSON only: after a sample's records, one object per task group that
# waited in the interval, with these keys in this order (the wait fields
# read from the group's summed counts), which a reader of the records
# checks and passes over.
GROUP_WAITS = "group_waits"
GROUP_WAITS_KEYS = ("record", TIMESTAMP.name, "group", "waits", *_WAITS)


def group_waits(timestamp_s: float, group: str | None, counts: tuple[int, ...]) -> dict:
    """A task group's NDJSON object of the interval's waits."""
    return {"record": GROUP_WAITS, TIMESTAMP.name: timestamp_s, "group": group,
            "waits": sum(counts), **wait_fields(counts)}


def _group_waits_key(row: dict) -> tuple:
    """What names a group's waits object in its sample (for _Once), once its
    keys and values are what group_waits writes."""
    if row["record"] != GROUP_WAITS:
        raise ValueError(f"an object of a kind no dump writes ({str(row['record'])[:40]!r})")
    if tuple(row) != GROUP_WAITS_KEYS:
        raise ValueError(f"a {GROUP_WAITS} object whose keys are not {', '.join(GROUP_WAITS_KEYS)}")
    values = {name: _BY_NAME[name].check(row[name]) for name in GROUP_WAITS_KEYS[1:]
              if name != "waits"}
    counts = waits.decode(values["wait_slots"])
    if type(row["waits"]) is not int or counts is None or row["waits"] != sum(counts):
        raise ValueError(f"a {GROUP_WAITS} object whose waits are not the sum of its wait_slots")
    return values[TIMESTAMP.name], "group", values["group"]


def _json_row(line: str) -> tuple[float, TaskRecord] | tuple:
    """A line's record, or the key of a task group's waits object."""
    row = json.loads(line)
    if not isinstance(row, dict):
        raise ValueError("a line is no JSON object")
    if "record" in row:
        return _group_waits_key(row)
    _known_fields(tuple(row))
    return _record({name: _BY_NAME[name].check(value) for name, value in row.items()})


def _reason(err: Exception) -> str:
    if isinstance(err, csv.Error) and "field limit" in str(err):
        return f"a field is longer than {csv.field_size_limit()} characters"
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text (byte {err.start})"
    return str(err)[:200]


class _Twice(ValueError):
    pass


class _Once:
    """Refuses a task (or a CPU's idle time) met twice in one sample: a
    recording appended to twice, or two joined, would count it twice."""

    def __init__(self) -> None:
        self._seen: set[tuple] = set()

    def __call__(self, row: tuple[float, TaskRecord]) -> tuple[float, TaskRecord]:
        timestamp, r = row
        what = (timestamp, "cpu", r.cpu) if r.state == "idle" else \
            (timestamp, r.pid, r.start_ns, r.state)
        if what in self._seen:
            name = f"CPU {r.cpu}'s idle time" if r.state == "idle" else \
                f"{r.state} task {r.pid} ({r.comm})"
            raise _Twice(f"{name} appears twice in the sample of {timestamp:.6f}")
        self._seen.add(what)
        return row

    def group(self, key: tuple) -> None:
        """The same for a task group's waits object (NDJSON)."""
        if key in self._seen:
            raise _Twice(f"the waits of group {key[2]} appear twice in the sample of "
                         f"{key[0]:.6f}")
        self._seen.add(key)


def _rows(path: Path) -> Iterable[tuple[float, TaskRecord]]:
    where = 1
    once = _Once()
    try:
        with files.open_input(path, "recording", MAX_RECORDING_BYTES,
                              "pass a CSV or NDJSON file written by lottery dump",
                              "keep its last samples, e.g. (head -1 FILE; tail -n 200000 "
                              "FILE) > part.csv") as handle:
            first = handle.readline(TEXT_LIMIT * 4)
            handle.seek(0)
            rows = []
            if first.lstrip().startswith("{"):
                for where, line in enumerate(handle, 1):  # noqa: B007 (where: in the error)
                    if not line.strip():
                        continue
                    row = _json_row(line)
                    if isinstance(row[1], TaskRecord):
                        rows.append(once(row))
                    else:
                        once.group(row)
                return rows
            reader = csv.reader(handle)
            held = FIELDS[:_known_fields(tuple(next(reader, ())))]
            while True:
                # the line the row starts on: the reader raises (a field over
                # its limit) before it hands the row over
                where = reader.line_num + 1
                row = next(reader, None)
                if row is None:
                    return rows
                if len(row) != len(held):
                    raise ValueError(f"a row has {len(row)} fields, the header {len(held)}")
                rows.append(once(_record({f.name: f.parse(cell)
                                          for f, cell in zip(held, row, strict=True)})))
    except OSError as err:
        raise LotteryError(f"cannot read {path} ({err.strerror})",
                           "pass a file written by lottery dump", code=EXIT_USAGE) from None
    except _Twice as err:
        raise LotteryError(f"{path} holds a sample twice (line {where}: {err})",
                           "keep each sample once: two recordings were joined, or one written "
                           "twice", code=EXIT_USAGE) from None
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError, csv.Error) as err:
        raise LotteryError(f"{path} is not a CSV or NDJSON file of this lottery's dump "
                           f"(line {where}: {_reason(err)})", "write one with lottery dump "
                           "-o FILE or --json-output FILE", code=EXIT_USAGE) from None


def read(path: Path) -> list[RecordedSample]:
    """The samples of a dump's CSV or NDJSON file, in time order; raises
    when the file is neither, holds other fields, or values no dump writes
    (Field.check)."""
    samples: dict[float, RecordedSample] = {}
    for timestamp, rec in _rows(path):
        sample = samples.get(timestamp)
        if sample is None:
            sample = samples[timestamp] = RecordedSample(timestamp, [], [])
        (sample.idle if rec.state == "idle" else sample.tasks).append(rec)
    return [samples[ts] for ts in sorted(samples)]
