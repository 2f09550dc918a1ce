"""Take one sample of a loaded instance: run the snapshot iterator, read each
CPU's idle time, then read the task and group maps through
`bpftool map dump -j`.

Several readers may share an instance.  A snapshot owns the live rows it
wrote (their `snapshot` field); when another reader's snapshot overwrote
any of them before the dump read them, the sample is taken again."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from orchestrator import parse, procstat, tools
from orchestrator.constants import SAMPLE_TRIES
from orchestrator.errors import LotteryError
from orchestrator.paths import Pins
from orchestrator.records import Snapshot, SnapshotInfo, TaskSample


def require_loaded(pins: Pins) -> None:
    """Raise the user's next step when the instance is not loaded."""
    if not tools.is_root():
        return  # pins are root-only; the elevated calls below tell for themselves
    missing = [p for p in (pins.snapshot_link, pins.tasks) if not p.exists()]
    if missing:
        raise LotteryError(f"not loaded ({missing[0]} is missing)", "run sudo lottery load")


def _not_loaded(err: LotteryError, pins: Pins) -> LotteryError:
    if "No such file" in err.problem:
        return LotteryError(f"not loaded (nothing pinned at {pins.dir})", "run sudo lottery load")
    return err


def _walk(pins: Pins) -> str:
    """Run the snapshot iterator and return what it printed."""
    if tools.is_root():
        # In this process, so that /proc/stat is read microseconds after the walk.
        try:
            with open(pins.snapshot_link, encoding="utf-8") as handle:
                return handle.read()
        except OSError as err:
            raise LotteryError(f"reading the snapshot failed: {err.strerror}") from None
    return tools.run([tools.require("cat"), str(pins.snapshot_link)], elevate=True,
                     what="reading the snapshot")


def _dump(pin, exits_from: int = 0) -> Iterator[dict]:
    chunks = tools.stream([tools.require("bpftool"), "-j", "map", "dump", "pinned", str(pin)],
                          elevate=True, what="bpftool map dump")
    return parse.iter_formatted(chunks, exits_from)


def _split(info: SnapshotInfo, rows: list[TaskSample]
           ) -> tuple[list[TaskSample], list[TaskSample]] | None:
    """This snapshot's live rows and every exit row; None when any live row it
    wrote was overwritten (or deleted) by another reader's snapshot."""
    live: dict[tuple[int, int], TaskSample] = {}
    exits: dict[tuple[int, int], TaskSample] = {}
    for row in rows:  # a key can repeat when the map changed under bpftool's walk
        if row.exited:
            exits[row.key] = row
        elif row.snapshot == info.snapshot:
            live[row.key] = row
    if len(live) != info.rows:
        return None
    return list(live.values()), sorted(exits.values(), key=lambda r: r.exit_seq)


def take(pins: Pins, exits_from: int = 0, tries: int = SAMPLE_TRIES) -> Snapshot:
    """Return one consistent snapshot, taking it again after a collision.
    Exit rows numbered below `exits_from` (counted already) are left out."""
    require_loaded(pins)
    try:
        for attempt in range(tries):
            text = _walk(pins)
            idle = procstat.read_idle()  # right after the walk: one moment for both
            info = parse.snapshot_info(text)
            timestamp_s = time.time() - (time.monotonic_ns() - info.snapshot_ns) / 1e9
            # Groups before tasks: every exit in the groups' totals then has its
            # row in the task dump (metrics.retired_totals takes them back out).
            groups = parse.group_rows(tools.bpftool(["map", "dump", "pinned", str(pins.groups)]))
            split = _split(info, parse.task_rows(_dump(pins.tasks, exits_from)))
            if split is not None:
                live, exits = split
                return Snapshot(info, timestamp_s, tuple(live), tuple(exits), tuple(idle),
                                groups)
            time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
    except LotteryError as err:
        raise _not_loaded(err, pins) from None
    raise LotteryError(f"{tries} samples in a row were overwritten by other readers of "
                       f"{pins.dir}", "read less often (--interval), or stop another reader")
