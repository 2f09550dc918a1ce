"""bpftool JSON -> records.  Fields are read by their BTF names from the
"formatted" part of `bpftool map dump -j`, never by a layout written down in
Python (tests/test_boundary.py checks the names against the object's BTF)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from operator import attrgetter
from typing import Any, NamedTuple

from orchestrator.constants import GROUP_KINDS, TASK_EXITS_SUMMED
from orchestrator.errors import LotteryError
from orchestrator.kernel.names import decode
from orchestrator.records import CpuWaits, Group, Key, SnapshotInfo, TaskSample

_DECODER = json.JSONDecoder()
_MARK = '"formatted":'
_SPACE = " \t\r\n"
# A row whose formatted object does not decode within this much text is not
# a row of ours; stop instead of buffering the whole output.
_MAX_ROW_CHARS = 1 << 20


def _no_btf() -> LotteryError:
    return LotteryError(
        "the map has no BTF field names (was it loaded by `lottery load`?)",
        "pass --map pointing at lottery's task map, or run sudo lottery load",
    )


def iter_formatted(chunks: Iterable[str]) -> Iterator[Any]:
    """Yield the "formatted" object ({"key": …, "value": …}) of every row of
    `bpftool map dump -j` as the text arrives (a walk gives its reader only
    the exits it has not counted: none needs passing over here).

    Each row also carries its key and value as arrays of hex strings, three
    quarters of the text; only the formatted part is decoded, the rest is
    skipped with str.find.  The marker cannot occur inside a JSON string
    (its quotes would be escaped there), so finding it is exact."""
    source = iter(chunks)
    buf = ""
    for chunk in source:  # read until the first character after "[" is known
        buf += chunk
        head = buf.lstrip(_SPACE)
        if head and (head[0] != "[" or head[1:].lstrip(_SPACE)):
            break
    head = buf.lstrip(_SPACE)
    if not head.startswith("["):
        # Read to the end first: a failing bpftool is reported by the stream
        # itself (tools.stream), with bpftool's own message.
        for _ in source:
            pass
        raise LotteryError("bpftool output is not a JSON array", "check `bpftool version`")
    empty = head[1:].lstrip(_SPACE).startswith("]")
    found = 0
    pos = 0
    done = False
    while True:
        mark = buf.find(_MARK, pos)
        if mark >= 0:
            start = mark + len(_MARK)
            # Decode a row once the next one (or the end) has arrived: a
            # failed decode costs a count of the whole buffer's lines.
            if done or buf.find(_MARK, start) >= 0:
                try:
                    item, pos = _DECODER.raw_decode(buf, start)
                except json.JSONDecodeError:
                    raise LotteryError("bpftool output ended in the middle of a row",
                                       "run the dump again") from None
                found += 1
                yield item
                continue
            if len(buf) - mark > _MAX_ROW_CHARS:
                raise LotteryError("bpftool output ended in the middle of a row",
                                   "run the dump again")
            pos = mark  # keep the row's start and read on
        elif done:
            break
        else:
            # keep a tail that may hold the start of a marker cut by the chunk
            pos = max(pos, len(buf) - len(_MARK) + 1)
        chunk = next(source, None)
        if chunk is None:
            done = True
        else:
            buf = buf[pos:] + chunk
            pos = 0
    if not buf.rstrip(_SPACE).endswith("]"):
        raise LotteryError("bpftool output ended before the map did", "run the dump again")
    if not found and not empty:
        raise _no_btf()


def _formatted(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        formatted = row["formatted"]
        return formatted["key"], formatted["value"]
    except (KeyError, TypeError):
        raise _no_btf() from None


def _stale_map(err: KeyError) -> LotteryError:
    return LotteryError(
        f"the map has no field {err} (built from another version?)",
        "run lottery build, then sudo lottery load --force",
    )


# One tuple for every task whose wait slots are all zero (one that has not
# run since load: most of 100,000 parked threads), not one each (26 MB).
_NO_WAITS: dict[int, tuple[int, ...]] = {}


def _waits(slots: list[int] | None) -> tuple[int, ...]:
    if not slots:
        return ()
    if any(slots):
        return tuple(slots)
    return _NO_WAITS.setdefault(len(slots), tuple(slots))


def task_sample(entry: dict[str, Any]) -> TaskSample:
    """The task sample of one task-map entry (its formatted object), field by field."""
    try:
        key, value = entry["key"], entry["value"]
        return TaskSample(
            pid=key["pid"], start_ns=key["start_ns"], exited=bool(key["exited"]),
            tgid=value["tgid"], ppid=value["ppid"], comm=decode(value["comm"]),
            nice=value["nice"], policy=value["policy"], cpu=value["cpu"],
            cpus_allowed=value["cpus_allowed"], runtime_ns=value["runtime_ns"],
            wait_ns=value["wait_ns"], wait_max_ns=value["wait_max_ns"], runs=value["runs"],
            voluntary_switches=value["voluntary_switches"],
            involuntary_switches=value["involuntary_switches"], group=value["group"],
            exit_seq=value["exit_seq"], waits=_waits(value.get("waits")),
            wait_longest_ns=value.get("wait_longest_ns"))  # None: an older instance
    except KeyError as err:
        raise _stale_map(err) from None


class TaskRows(NamedTuple):
    """One dump of a task map, as a reader of one snapshot takes it."""

    live: list[TaskSample]       # the live rows the snapshot wrote, each task once
    exits: list[TaskSample]      # the exit rows read, each exit once, oldest first
    # the snapshot's sums of the exits it passed over, one per task group:
    # pid 0, start_ns the group's id, exit_seq how many exits each sums
    summed: list[TaskSample]
    # live rows whose key a thread's exec took over as the walk ran (the
    # leader's exit came after the walk began): the next walk writes them
    # again, with that exit
    taken: frozenset[Key] = frozenset()


def task_rows(items: Iterable[dict[str, Any]], snapshot: int) -> TaskRows:
    """Split a dump (iter_formatted's items) into the live rows and the exit
    rows the walk `snapshot` wrote (0: the exit map's own rows, which no
    walk stamps).  bpftool can meet a key twice when the map changes under
    its walk: each is taken once."""
    live: dict[Key, TaskSample] = {}
    exits: dict[Key, TaskSample] = {}
    summed: dict[Key, TaskSample] = {}
    taken: set[Key] = set()
    for item in items:
        try:
            exited, ours = item["key"]["exited"], item["value"]["snapshot"] == snapshot
        except (KeyError, TypeError):
            raise _no_btf() from None
        if not ours:
            continue
        task = task_sample(item)
        if exited == TASK_EXITS_SUMMED:
            summed[task.key] = task
        elif exited:
            exits[task.key] = task
        else:
            live.setdefault(task.key, task)
            if item["value"].get("walked"):
                taken.add(task.key)
    return TaskRows(list(live.values()), sorted(exits.values(), key=attrgetter("exit_seq")),
                    list(summed.values()), frozenset(taken))


def group_rows(entries: Iterable[dict[str, Any]]) -> dict[int, Group]:
    """Return the task groups of groups-map entries (the formatted objects), by id."""
    out: dict[int, Group] = {}
    for entry in entries:
        try:
            gid, v = entry["key"], entry["value"]
            out[gid] = Group(
                id=gid, parent=v["parent"], kind=GROUP_KINDS.get(v["kind"], "?"),
                number=v["number"], name=decode(v["name"]), shares=v["shares"],
                idle=bool(v["idle"]), exits=v["exits"],
                exited_runtime_ns=v["exited_runtime_ns"], exited_wait_ns=v["exited_wait_ns"],
                exited_runs=v["exited_runs"],
                exited_switches=v["exited_voluntary_switches"] + v["exited_involuntary_switches"],
                quota_ns=v["quota_ns"], period_ns=v["period_ns"], periods=v["periods"],
                throttled_periods=v["throttled_periods"], throttled_ns=v["throttled_ns"],
                exited_waits=tuple(v.get("exited_waits") or ()))
        except (KeyError, TypeError) as err:
            raise _stale_map(err) from None
    return out


def snapshot_number(text: str) -> int:
    """The number the snapshot iterator prints when it is read."""
    try:
        return int(text.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise LotteryError(
            f"the snapshot iterator printed {text.strip()[:80]!r}, not its number",
            "run lottery build, then sudo lottery load --force",
        ) from None


def snapshot_info(entries: Iterable[dict[str, Any]], snapshot: int) -> SnapshotInfo | None:
    """Snapshot `snapshot`'s struct snapshot_info in a dump of the snapshots
    map (the formatted objects); None when its slot holds another's by now."""
    for entry in entries:
        value = entry.get("value") if isinstance(entry, dict) else None
        if isinstance(value, dict) and value.get("snapshot") == snapshot:
            try:
                return SnapshotInfo.from_btf(value)
            except KeyError as err:
                raise _stale_map(err) from None
    return None


def cpu_waits(entries: Iterable[dict[str, Any]]) -> tuple[CpuWaits, ...]:
    """Each CPU's waits from a dump of the per-CPU cpu_waits map (its one
    entry's formatted object), in CPU order."""
    for entry in entries:
        try:
            values = sorted(entry["values"], key=lambda v: v["cpu"])
            return tuple(CpuWaits(tuple(int(n) for n in v["value"]["waits"]),
                                  int(v["value"]["sum_ns"])) for v in values)
        except (KeyError, TypeError):
            raise _no_btf() from None
    return ()


def map_value(rows: list[dict[str, Any]]) -> Any:
    """Return the formatted value of a one-entry array map."""
    if not rows:
        raise LotteryError("expected a one-entry map, found it empty")
    return _formatted(rows[0])[1]
