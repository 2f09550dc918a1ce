"""Take one sample of a loaded instance: run the snapshot iterator, read each
CPU's idle time, then read the group and task maps through
`bpftool map dump -j`.

Several readers may share an instance.  A snapshot owns the live rows it
wrote (their `snapshot` field).  Readers running as root take turns: each
holds an flock on the iterator's pin for its whole sample.  Should rows be
overwritten all the same (a reader through sudo cannot hold the lock, or one
held it too long), the reader sees it and takes the sample again."""

from __future__ import annotations

import contextlib
import fcntl
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from orchestrator import units
from orchestrator.constants import LOCK_WAIT_S, SAMPLE_TRIES, TASKS_CAPACITY
from orchestrator.errors import LotteryError
from orchestrator.kernel import parse, procstat, tools
from orchestrator.paths import Pins
from orchestrator.records import Snapshot, SnapshotInfo


def require_loaded(pins: Pins) -> None:
    """Raise the user's next step when the instance is not loaded, or the
    reason when its pins are not ones root may follow.  Once, before a
    reader's first sample: take() does not check again."""
    pins.checked()
    if not tools.is_root():
        return  # pins are root-only; the elevated calls below tell for themselves
    missing = [p for p in (pins.snapshot_link, pins.tasks) if not p.exists()]
    if missing:
        raise LotteryError(f"not loaded ({missing[0]} is missing)", "run sudo lottery load")


def settings(pins: Pins) -> dict:
    """The settings `load` gave the instance (struct settings, by field name)."""
    rows = tools.bpftool(["map", "dump", "pinned", str(pins.settings)], what="bpftool map dump")
    return parse.map_value(rows)


def capacity(pins: Pins) -> int:
    """The soft limit `load --max-tasks` set, or the map's capacity."""
    return settings(pins)["max_tasks"] or TASKS_CAPACITY


def _not_loaded(err: LotteryError, pins: Pins) -> LotteryError:
    if "No such file" in err.problem:
        return LotteryError(f"not loaded (nothing pinned at {pins.dir})", "run sudo lottery load")
    return err


# Iterator pins whose lock this process last waited for in vain.
_GAVE_UP: set[Path] = set()


@contextlib.contextmanager
def _turn(pins: Pins) -> Iterator[TextIO | None]:
    """As root: the iterator's pin, opened and locked for this sample (each
    open of it is a new walk).  Waits at most LOCK_WAIT_S for another reader
    (one stopped mid-sample must not stop every other), then goes on
    unlocked.  Not as root: None, the walk runs through sudo."""
    if not tools.is_root():
        yield None
        return
    try:
        handle = open(pins.snapshot_link, encoding="utf-8")  # noqa: SIM115
    except OSError as err:
        raise LotteryError(f"reading the snapshot failed: {err.strerror} "
                           f"({pins.snapshot_link})") from None
    with handle:
        # After one wait in vain (its holder stopped, say), do not wait again
        # until the lock is won: one stall, not one per sample.
        patient = pins.snapshot_link not in _GAVE_UP
        deadline = time.monotonic() + (LOCK_WAIT_S if patient else 0)
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                _GAVE_UP.discard(pins.snapshot_link)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    _GAVE_UP.add(pins.snapshot_link)
                    break
                time.sleep(0.005)
        yield handle  # closing it releases the lock


def _walk(pins: Pins, handle: TextIO | None) -> str:
    """Run the snapshot iterator and return what it printed."""
    if handle is not None:
        # In this process, so that /proc/stat is read microseconds after the walk.
        try:
            return handle.read()
        except OSError as err:
            raise LotteryError(f"reading the snapshot failed: {err.strerror}") from None
    return tools.run([tools.require("cat"), str(pins.snapshot_link)], elevate=True,
                     what="reading the snapshot")


_WRITE_BYTES = 1 << 20


def _dump(pin, exits_from: int = 0, memo: parse.RowMemo | None = None,
          snapshot: int = 0) -> Iterator:
    argv = [tools.require("bpftool"), "-j", "map", "dump", "pinned", str(pin)]
    if tools.is_root() and (stdbuf := tools.which("stdbuf")):
        # Into a pipe, bpftool's stdio writes 4 KiB at a time: thousands of
        # writes and wake-ups for a big map, a fifth of its time at 10k rows.
        argv = [stdbuf, f"-o{_WRITE_BYTES}", *argv]
    chunks = tools.stream(argv, elevate=True, what="bpftool map dump")
    return parse.iter_formatted(chunks, exits_from, memo, snapshot)


def take(pins: Pins, exits_from: int = 0, memo: parse.RowMemo | None = None,
         tries: int = SAMPLE_TRIES) -> Snapshot:
    """Return one consistent snapshot, taking it again after a collision.
    Exit rows numbered below `exits_from` (counted already) are left out.
    With a reader's `memo`, rows unchanged since its last snapshot are the
    same objects, and the snapshot says which they are (Snapshot.unchanged)."""
    try:
        for _ in range(tries):
            began = time.monotonic()
            with _turn(pins) as handle:
                number = parse.snapshot_number(_walk(pins, handle))
                idle = procstat.read_idle()  # right after the walk: one moment for both
                info = parse.snapshot_info(_dump(pins.snapshots), number)
                if info is not None:
                    # Groups before tasks: every exit in the groups' totals then
                    # has its row in the task dump (deltas.retired_totals).
                    groups = parse.group_rows(_dump(pins.groups))
                    # exits numbered after the walk began are needed whatever the
                    # reader counted (deltas.retired_totals), even by a baseline
                    rows = _task_rows(pins, info, min(exits_from, info.exits), memo)
            if info is not None and rows is not None:
                timestamp_s = time.time() - units.s(time.monotonic_ns() - info.start_ns)
                return Snapshot(info, timestamp_s, tuple(rows.live), tuple(rows.exits),
                                tuple(idle), groups, rows.unchanged)
            # Another reader walked while this one read, and is reading its
            # own rows now (a reader through sudo holds no lock).  Walking
            # again at once would overwrite them, and its retry ours: both
            # retry without end on a busy machine (seen: a dump beside a
            # scraping exporter gave up after 8).  Let it finish first: wait
            # about as long as a read takes here, a random part of it so two
            # readers do not wait in step.
            time.sleep(max(0.005, random.uniform(0.5, 1.5) * (time.monotonic() - began)))
    except LotteryError as err:
        raise _not_loaded(err, pins) from None
    raise LotteryError(f"{tries} samples in a row were overwritten by other readers of "
                       f"{pins.dir}", "read less often (dump --interval, a longer scrape "
                       "interval), or stop another reader")


def _task_rows(pins: Pins, info: SnapshotInfo, exits_from: int, memo: parse.RowMemo | None
               ) -> parse.TaskRows | None:
    """The task map's rows of the snapshot `info` tells of; None when another
    reader's snapshot overwrote (or deleted) any of them before the dump read
    them.  The memo keeps only a dump that is used: the next one's unchanged
    rows are those of the sample before."""
    rows = None
    try:
        rows = parse.task_rows(_dump(pins.tasks, exits_from, memo, info.snapshot),
                               info.snapshot, memo)
        if len(rows.live) != info.rows:
            rows = None
    finally:
        if memo is not None:
            memo.done(kept=rows is not None)
    return rows
