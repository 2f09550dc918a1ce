"""Take one sample of a loaded instance: run the snapshot iterator, read each
CPU's idle time, then read the task map through `bpftool map dump -j`."""

from __future__ import annotations

import time

from orchestrator import parse, procstat, tools
from orchestrator.errors import LotteryError
from orchestrator.paths import Pins
from orchestrator.records import Snapshot


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


def take(pins: Pins) -> Snapshot:
    """Return one snapshot: counters from the iterator, rows from the map."""
    require_loaded(pins)
    timestamp_s = time.time()
    try:
        info = parse.snapshot_info(tools.run([tools.require("cat"), str(pins.snapshot_link)],
                                             elevate=True, what="reading the snapshot"))
        idle = procstat.read_idle()  # right after the snapshot, so both see one moment
        chunks = tools.stream([tools.require("bpftool"), "-j", "map", "dump", "pinned",
                               str(pins.tasks)], elevate=True, what="bpftool map dump")
        tasks = parse.task_rows(parse.iter_formatted(chunks))
    except LotteryError as err:
        raise _not_loaded(err, pins) from None
    return Snapshot(info=info, timestamp_s=timestamp_s, tasks=tuple(tasks), idle=tuple(idle))
