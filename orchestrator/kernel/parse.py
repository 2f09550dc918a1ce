"""bpftool JSON -> records.  Fields are read by their BTF names from the
"formatted" part of `bpftool map dump -j`; Python never mirrors the C layout."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from orchestrator.constants import GROUP_KINDS
from orchestrator.errors import LotteryError
from orchestrator.kernel.names import decode
from orchestrator.kernel.records import Group, SnapshotInfo, TaskSample

_DECODER = json.JSONDecoder()
_MARK = '"formatted":'
_SPACE = " \t\r\n"
# A row whose formatted object does not decode within this much text is not
# a row of ours; stop instead of buffering the whole output.
_MAX_ROW_CHARS = 1 << 20
# The start of an exit row's formatted object, up to its exit_seq (the
# fields before it are all numbers): enough to pass over an exit a reader
# has already counted without decoding it.
_EXIT_ROW = re.compile(r'\{\s*"key"\s*:\s*\{\s*"pid"\s*:\s*\d+\s*,\s*"exited"\s*:\s*1\s*,'
                       r'[^{}]*\}\s*,\s*"value"\s*:\s*\{(?:\s*"\w+"\s*:\s*\d+\s*,)*?'
                       r'\s*"exit_seq"\s*:\s*(\d+)(?=[\s,}])')  # all its digits have arrived


def _no_btf() -> LotteryError:
    return LotteryError(
        "the map has no BTF field names (was it loaded by `lottery load`?)",
        "pass --map pointing at lottery's task map, or run sudo lottery load",
    )


def iter_formatted(chunks: Iterable[str], exits_from: int = 0,
                   memo: RowMemo | None = None) -> Iterator[Any]:
    """Yield the "formatted" object ({"key": …, "value": …}) of every row of
    `bpftool map dump -j` as the text arrives, less the exit rows numbered
    below `exits_from` (a reader has counted those already).  With a reader's
    `memo`, rows come as TaskSamples, and one unchanged since its last dump
    is not decoded again (RowMemo).

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
    known = memo.known if memo is not None else None
    found = 0
    pos = 0
    done = False
    while True:
        mark = buf.find(_MARK, pos)
        if mark >= 0:
            start = mark + len(_MARK)
            if known is not None and (hit := known(buf, start)) is not None:
                task, pos = hit
                found += 1
                if not task.exited or task.exit_seq >= exits_from:
                    yield task
                continue
            if exits_from:
                old_exit = _EXIT_ROW.match(buf, start)
                if old_exit and int(old_exit.group(1)) < exits_from:
                    found += 1
                    pos = old_exit.end()
                    continue
            # Decode a row once the next one (or the end) has arrived: a
            # failed decode costs a count of the whole buffer's lines.
            if done or buf.find(_MARK, start) >= 0:
                try:
                    item, pos = _DECODER.raw_decode(buf, start)
                except json.JSONDecodeError:
                    raise LotteryError("bpftool output ended in the middle of a row",
                                       "run the dump again") from None
                found += 1
                yield item if memo is None else memo.decoded(item, buf, start)
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


def task_sample(entry: dict[str, Any]) -> TaskSample:
    """The task sample of one task-map entry (its formatted object)."""
    try:
        key, value = entry["key"], entry["value"]
        return TaskSample(
            key["pid"], key["start_ns"], value["tgid"], decode(value["comm"]), value["nice"],
            value["policy"], value["cpu"], value["runtime_ns"], value["wait_ns"],
            value["wait_max_ns"], value["runs"], value["voluntary_switches"],
            value["involuntary_switches"], bool(key["exited"]), value["cpus_allowed"],
            value["group"], value["sampled_ns"], value["snapshot"], value["exit_seq"],
            value["ppid"],
        )
    except KeyError as err:
        raise _stale_map(err) from None


def task_rows(entries: Iterable[dict[str, Any] | TaskSample]) -> list[TaskSample]:
    """Return the task samples of task-map entries (the formatted objects, or
    samples RowMemo.decode made already), live rows and exit rows alike."""
    return [e if type(e) is TaskSample else task_sample(e) for e in entries]


# The per-walk stamps, last in struct task_stats, then the ends of the value
# and of the formatted object, as bpftool -j prints them.
_STAMPS = '"sampled_ns":'
_TAIL = re.compile(r'"sampled_ns":(\d+),"snapshot":(\d+)\}\}')


class RowMemo:
    """One reader's task rows of its last dump, by their text less the stamps
    every walk writes.  A task that has not run since is then the same
    TaskSample, restamped, and not decoded again: on a host of mostly sleeping
    tasks, most of the map.  Rows laid out otherwise are simply decoded."""

    def __init__(self) -> None:
        self._last: dict[str, TaskSample] = {}
        self._next: dict[str, TaskSample] = {}

    def known(self, buf: str, start: int) -> tuple[TaskSample, int] | None:
        """The sample of the row at `start` restamped, and where the row
        ends, if the last dump had the row."""
        stamp = buf.find(_STAMPS, start)
        tail = _TAIL.match(buf, stamp) if stamp >= 0 else None
        if tail is None:
            return None  # not this layout, or not arrived yet
        text = buf[start:stamp]
        # a text holding a marker spans rows: never kept (decoded), so never found
        task = self._last.get(text)
        if task is None:
            return None
        task.sampled_ns, task.snapshot = int(tail.group(1)), int(tail.group(2))
        self._next[text] = task
        return task, tail.end()

    def decoded(self, entry: dict[str, Any], buf: str, start: int) -> TaskSample:
        """The sample of the row at `start`, decoded in full as `entry`; kept
        for the next dump when its stamps are last."""
        task = task_sample(entry)
        stamp = buf.find(_STAMPS, start)
        if stamp >= 0 and _TAIL.match(buf, stamp) and _MARK not in (text := buf[start:stamp]):
            self._next[text] = task
        return task

    def done(self) -> None:
        """The dump is read whole: its rows are the ones to match next time."""
        self._last, self._next = self._next, {}


def group_rows(entries: Iterable[dict[str, Any]]) -> dict[int, Group]:
    """Return the task groups of groups-map entries (the formatted objects), by id."""
    out: dict[int, Group] = {}
    for entry in entries:
        try:
            gid, v = entry["key"], entry["value"]
            out[gid] = Group(
                gid, v["parent"], GROUP_KINDS.get(v["kind"], "?"), v["number"],
                decode(v["name"]), v["shares"], bool(v["idle"]), v["exits"],
                v["exited_runtime_ns"], v["exited_wait_ns"], v["exited_runs"],
                v["exited_voluntary_switches"] + v["exited_involuntary_switches"])
        except (KeyError, TypeError) as err:
            raise _stale_map(err) from None
    return out


_INFO_FIELDS = ("snapshot", "start_ns", "end_ns", "rows", "dropped", "exits", "exits_lost",
                "groups_lost", "live_rows", "exit_rows")


def snapshot_info(text: str) -> SnapshotInfo:
    """Parse the line the snapshot iterator prints."""
    try:
        fields = json.loads(text.strip().splitlines()[-1])
        return SnapshotInfo(*(int(fields[name]) for name in _INFO_FIELDS))
    except (IndexError, KeyError, ValueError, TypeError):
        raise LotteryError(
            f"the snapshot iterator printed {text.strip()[:80]!r}, not its counters",
            "run lottery build, then sudo lottery load --force",
        ) from None


def map_value(rows: list[dict[str, Any]]) -> Any:
    """Return the formatted value of a one-entry array map."""
    if not rows:
        raise LotteryError("expected a one-entry map, found it empty")
    return _formatted(rows[0])[1]
