"""bpftool JSON -> records.  Fields are read by their BTF names from the
"formatted" part of `bpftool map dump -j`; Python never mirrors the C layout."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from orchestrator.constants import ROW_EXITED
from orchestrator.errors import LotteryError
from orchestrator.records import SnapshotInfo, TaskSample

_DECODER = json.JSONDecoder()
_SKIP = " \t\r\n,"


def iter_json_array(chunks: Iterable[str]) -> Iterator[Any]:
    """Yield the elements of one top-level JSON array as the text arrives.

    bpftool prints every row's bytes as well as its formatted value, over a
    kilobyte a row; decoding row by row keeps memory flat for big maps."""
    buf = ""
    pos = 0
    started = False
    source = iter(chunks)
    done = False
    while True:
        while pos < len(buf) and buf[pos] in _SKIP:
            pos += 1
        if not started and pos < len(buf):
            if buf[pos] != "[":
                raise LotteryError("bpftool output is not a JSON array", "check `bpftool version`")
            started = True
            pos += 1
            continue
        if started and pos < len(buf) and buf[pos] == "]":
            return
        if pos < len(buf):
            try:
                item, end = _DECODER.raw_decode(buf, pos)
            except json.JSONDecodeError:
                if done:
                    raise LotteryError("bpftool output ended in the middle of a row",
                                       "run the dump again") from None
            else:
                yield item
                pos = end
                continue
        if done:
            raise LotteryError("bpftool output ended before the map did", "run the dump again")
        chunk = next(source, None)
        if chunk is None:
            done = True
        else:
            buf = buf[pos:] + chunk
            pos = 0


def _formatted(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        formatted = row["formatted"]
        return formatted["key"], formatted["value"]
    except (KeyError, TypeError):
        raise LotteryError(
            "the map has no BTF field names (was it loaded by `lottery load`?)",
            "pass --map pointing at lottery's task map, or run sudo lottery load",
        ) from None


def task_rows(rows: Iterable[dict[str, Any]]) -> list[TaskSample]:
    """Return the task samples of task-map rows."""
    tasks: list[TaskSample] = []
    for row in rows:
        key, value = _formatted(row)
        try:
            tasks.append(TaskSample(
                pid=key["pid"],
                start_ns=key["start_ns"],
                tgid=value["tgid"],
                comm=value["comm"],
                nice=value["nice"],
                policy=value["policy"],
                cpu=value["cpu"],
                runtime_ns=value["runtime_ns"],
                wait_ns=value["wait_ns"],
                wait_max_ns=value["wait_max_ns"],
                runs=value["runs"],
                voluntary_switches=value["voluntary_switches"],
                involuntary_switches=value["involuntary_switches"],
                exited=bool(value["flags"] & ROW_EXITED),
            ))
        except KeyError as err:
            raise LotteryError(
                f"the task map has no field {err} (built from another version?)",
                "run lottery build, then sudo lottery load --force",
            ) from None
    return tasks


def snapshot_info(text: str) -> SnapshotInfo:
    """Parse the counters line the snapshot iterator prints."""
    try:
        fields = json.loads(text.strip().splitlines()[-1])
        return SnapshotInfo(
            snapshot=fields["snapshot"],
            snapshot_ns=fields["snapshot_ns"],
            entries=fields["entries"],
            dropped=fields["dropped"],
        )
    except (IndexError, KeyError, ValueError):
        raise LotteryError(
            f"the snapshot iterator printed {text.strip()[:80]!r}, not its counters",
            "run lottery build, then sudo lottery load --force",
        ) from None


def map_value(rows: list[dict[str, Any]]) -> Any:
    """Return the formatted value of a one-entry array map."""
    if not rows:
        raise LotteryError("expected a one-entry map, found it empty")
    return _formatted(rows[0])[1]
