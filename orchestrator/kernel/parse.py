"""bpftool JSON -> records.  Fields are read by their BTF names from the
"formatted" part of `bpftool map dump -j`, never by a layout written down in
Python (tests/test_boundary.py checks the names against the object's BTF)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from operator import attrgetter
from typing import Any, NamedTuple

from orchestrator.constants import GROUP_KINDS
from orchestrator.errors import LotteryError
from orchestrator.kernel.names import decode
from orchestrator.records import Group, Key, SnapshotInfo, TaskSample

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
                   memo: RowMemo | None = None, snapshot: int = 0) -> Iterator[Any]:
    """Yield the "formatted" object ({"key": …, "value": …}) of every row of
    `bpftool map dump -j` as the text arrives, less the exit rows numbered
    below `exits_from` (a reader has counted those already).  With a reader's
    `memo` and the `snapshot` the dump follows, the rows that snapshot wrote
    go to the memo instead (RowMemo.taken): one unchanged since the reader's
    last dump is not decoded again.

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
    own = memo.tail(snapshot) if memo is not None else ""
    found = 0
    pos = 0
    done = False
    while True:
        if own:
            # this snapshot's rows, in a tight loop, into the memo (RowMemo.taken)
            pos, taken = memo.take(buf, pos, own)
            found += taken
        mark = buf.find(_MARK, pos)
        if mark >= 0:
            start = mark + len(_MARK)
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
            exit_seq=value["exit_seq"])
    except KeyError as err:
        raise _stale_map(err) from None


class TaskRows(NamedTuple):
    """One dump of the task map, as a reader of one snapshot takes it."""

    live: list[TaskSample]       # the rows the snapshot wrote, each task once
    exits: list[TaskSample]      # the exit rows read, each exit once, oldest first
    unchanged: frozenset[Key]    # live tasks whose numbers the memo's last dump had


_KEY = attrgetter("key")


def task_rows(items: Iterable[dict[str, Any]], snapshot: int,
              memo: RowMemo | None = None) -> TaskRows:
    """Split a dump (iter_formatted's items) into the live rows `snapshot`
    wrote and the exit rows; other snapshots' live rows are left out.  With
    the `memo` the dump was read with, the rows it took come first."""
    others: list[TaskSample] = []
    exits: dict[Key, TaskSample] = {}
    for item in items:  # the memo takes its rows while the dump is read
        try:
            exited, ours = item["key"]["exited"], item["value"]["snapshot"] == snapshot
        except (KeyError, TypeError):
            raise _no_btf() from None
        if exited:
            task = task_sample(item)
            exits[task.key] = task
        elif ours:
            others.append(task_sample(item))
    taken = memo.taken() if memo is not None else []
    live = dict(zip(map(_KEY, taken), taken, strict=True))
    for task in others:
        live.setdefault(task.key, task)  # a key met twice in one walk holds one row
    unchanged = memo.unchanged() if memo is not None else []
    return TaskRows(list(live.values()), sorted(exits.values(), key=attrgetter("exit_seq")),
                    frozenset(map(_KEY, unchanged)))


# The per-walk stamps, last in struct task_stats, as bpftool -j prints them.
_STAMPS = '"sampled_ns":'
# From the stamps to the end of the formatted object, at most: the name, a
# 64-bit number, and the tail (RowMemo.tail).
_TAIL_CHARS = len(_STAMPS) + 20 + len(',"snapshot":}}') + 20
# How far ahead in the last dump's order a row that was not next is looked
# for: past the rows of tasks that left since.
_AHEAD = 8


class RowMemo:
    """One reader's task rows, by their text less the stamps every walk
    writes.  A task that has not run since the reader's last dump is then
    the same TaskSample, and is not decoded again: on a host of mostly
    sleeping tasks, most of the map.  Only live rows whose stamps end the
    formatted object are kept (the layout this build prints); any other row
    is decoded.

    It is the one place that tells which tasks are unchanged since the last
    sample (`unchanged`): the text of their row was in the dump before, to
    the character."""

    def __init__(self) -> None:
        # text -> [its sample, the dump that last took it]
        self._rows: dict[str, list] = {}
        self._dump = 0       # dumps read, this one included
        self._gap = 0        # from the end of a formatted object to the next marker
        self._taken: list[TaskSample] = []      # the rows of the dump being read
        self._unchanged: list[TaskSample] = []  # of those, the ones the dump before had
        self._snapshot = 0   # the snapshot they belong to
        self._dumping = False
        # The texts and entries of the last dump's rows in its order, and of
        # this dump's so far; where this dump has come to in the last one.
        self._order: tuple[list[str], list[list]] = ([], [])
        self._next: tuple[list[str], list[list]] = ([], [])
        self._at = 0

    @staticmethod
    def tail(snapshot: int) -> str:
        """How the formatted object of a live row `snapshot` wrote ends; ""
        when there is no snapshot to match (0 numbers none)."""
        return f',"snapshot":{snapshot}}}}}' if snapshot > 0 else ""

    def take(self, buf: str, pos: int, own: str) -> tuple[int, int]:
        """Take the rows from `pos` on that end in `own` (this snapshot's), as
        long as they follow one another whole; return where the first other
        row (or the unread rest) begins, and how many rows were read.  A row
        not seen before is decoded here; one seen is the same sample; one this
        dump had already (bpftool can meet a key twice when the map changes
        under its walk) is passed over.

        bpftool lists a hash map bucket by bucket, so a dump meets the rows in
        the order the last one did, less the tasks that left and plus the new
        ones: each row is first compared in place with the text of the row
        that came next last time, which needs no copy and no hash.  From the
        end of one formatted object to the start of the next lie the next
        row's key and value in hex: as long as the layout is the same, as many
        characters each time, so the next marker is looked for there first
        instead of searched for."""
        snapshot = int(own[len(',"snapshot":'):-2])
        if not self._dumping:  # the first rows of a dump
            if snapshot <= self._snapshot:
                # numbers start again: the instance was loaded anew, and a row
                # stamped before could pass for one this dump has taken already
                self._rows, self._order = {}, ([], [])
            self._snapshot, self._dumping = snapshot, True
            self._dump += 1
        dump, before = self._dump, self._dump - 1
        find, startswith = buf.find, buf.startswith
        rows, append, again = self._rows, self._taken.append, self._unchanged.append
        known = rows.get
        texts, entries = self._order
        next_texts, next_entries = self._next
        add_text, add_entry = next_texts.append, next_entries.append
        at, last = self._at, len(texts)
        gap, marked, ends = self._gap, len(_MARK), len(own)
        read = 0
        mark = find(_MARK, pos)
        while mark >= 0:
            start = mark + marked
            if at < last and startswith(text := texts[at], start) and \
                    startswith(_STAMPS, stamp := start + len(text)):
                entry, after = entries[at], at + 1
            else:
                stamp = find(_STAMPS, start)
                if stamp < 0:
                    break
                text = buf[start:stamp]
                entry, after = known(text), -1
            end = find(own, stamp, stamp + _TAIL_CHARS)
            if end < 0:
                break  # another snapshot's row, an exit, or not arrived yet
            end += ends
            if entry is None:
                try:
                    item, stop = _DECODER.raw_decode(buf, start)
                except json.JSONDecodeError:
                    break
                if stop != end:
                    break  # the stamps found were not this row's
                entry = rows[text] = [task_sample(item), dump]
                append(entry[0])
            elif entry[1] != dump:
                if entry[1] == before:
                    again(entry[0])
                entry[1] = dump
                append(entry[0])
            if after < 0:
                # not next in the last dump's order: the task ran, or came, or
                # the tasks before it left; go on after it, if it is near
                after, key = at, entry[0].key
                for ahead in range(at, min(at + _AHEAD, last)):
                    if entries[ahead][0].key == key:
                        after = ahead + 1
                        break
            at = after
            add_text(text)
            add_entry(entry)
            read += 1
            pos = end
            mark = end + gap
            if not startswith(_MARK, mark):
                mark = find(_MARK, end)
                if mark >= 0:
                    self._gap = gap = mark - end
        self._at = at
        return pos, read

    def taken(self) -> list[TaskSample]:
        """The rows of this snapshot the dump being read gave the memo, each
        task once."""
        return self._taken

    def unchanged(self) -> list[TaskSample]:
        """Of those, the ones whose text the dump before had too."""
        return self._unchanged

    def done(self, kept: bool = True) -> None:
        """The dump is read whole.  Not `kept` (its sample was thrown away),
        the next dump has no dump before it whose rows it could match: what it
        calls unchanged must be unchanged since the last sample used.  Rows no
        longer in use (their tasks ran, or left) are let go once they are as
        many as those in use."""
        if len(self._rows) > 2 * len(self._taken) + 1024:
            now = self._dump
            self._rows = {text: e for text, e in self._rows.items() if e[1] == now}
        if not kept:
            self._dump += 1  # no row was taken by the dump this skips
        self._taken, self._unchanged, self._dumping = [], [], False
        self._order, self._next, self._at = self._next, ([], []), 0


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
                throttled_periods=v["throttled_periods"], throttled_ns=v["throttled_ns"])
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


def map_value(rows: list[dict[str, Any]]) -> Any:
    """Return the formatted value of a one-entry array map."""
    if not rows:
        raise LotteryError("expected a one-entry map, found it empty")
    return _formatted(rows[0])[1]
