"""Take samples of a loaded instance, each reader through a slot of its own.

A reader owns a slot while it reads: an flock on the pin of the slot's map
(rows_<slot>), held by a file it keeps open, so a reader that dies frees its
slot with it.  Reading that pin runs the snapshot iterator for the slot:
it writes into the slot's own map (rows_<slot>) the live tasks that changed
since the slot's walk before, and the exits since; the reader dumps that map
and keeps the other tasks from its samples before (Session).  No other reader
writes the map, so a sample is never overwritten and never taken again, and
what a sample costs grows with what changed, not with what exists.  The
first walk of a slot (readers/<slot>-full) writes every live task.

A reader not running as root reads through `sudo lottery reader`, a root
helper that owns a slot for it and hands over what bpftool printed
(kernel/helper.py)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from orchestrator import units
from orchestrator.constants import READER_SLOTS, TASKS_CAPACITY
from orchestrator.errors import LotteryError
from orchestrator.kernel import parse, procstat, tools
from orchestrator.paths import Pins
from orchestrator.records import Change, CpuWaits, Key, Snapshot, SnapshotInfo, TaskSample

T = TypeVar("T")

# How often a reader that found every slot taken looks again.
_SLOT_POLL_S = 0.05
# How long a reader waits for the pins of an instance being loaded again.
_RELOAD_WAIT_S = 5.0


def require_loaded(pins: Pins) -> None:
    """Raise the user's next step when the instance is not loaded, or the
    reason when its pins are not ones root may follow.  Once, before a
    reader's first sample: take() does not check again."""
    pins.checked()
    if not tools.is_root():
        return  # pins are root-only; the helper tells for itself
    missing = [p for p in (pins.snapshot_link, pins.tasks) if not p.exists()]
    if missing:
        raise LotteryError(f"not loaded ({missing[0]} is missing)", "run sudo lottery load")
    if not pins.reader(0).exists():
        raise LotteryError(f"the instance at {pins.dir} has no reader slots (loaded by an "
                           "older lottery)", "run sudo lottery load --force")


def settings(pins: Pins) -> dict:
    """The settings `load` gave the instance (struct settings, by field name)."""
    rows = tools.bpftool(["map", "dump", "pinned", str(pins.settings)], what="bpftool map dump")
    return parse.map_value(rows)


def capacity(pins: Pins) -> int:
    """The soft limit `load --max-tasks` set, or the map's capacity."""
    return settings(pins)["max_tasks"] or TASKS_CAPACITY


def _gone(err: LotteryError) -> bool:
    """Did a pin go (the instance unloaded, or loaded again) under a read?"""
    return "No such file" in err.problem


def _not_loaded(err: LotteryError, pins: Pins) -> LotteryError:
    if _gone(err):
        return LotteryError(f"not loaded (nothing pinned at {pins.dir})", "run sudo lottery load")
    return err


def _opened(pins: Pins, slot: int) -> IO:
    """Slot `slot`'s map pin, open, to hold its flock (an open of the
    iterator's pin would hold the link, and keep it after an unload); a
    reload under way (its pins gone for a moment) is waited for,
    _RELOAD_WAIT_S at most."""
    deadline = time.monotonic() + _RELOAD_WAIT_S
    while True:
        # a load pins the slots' links last: a slot is there once its link is
        if pins.reader(slot).exists():
            try:
                return open(pins.rows(slot), "rb")  # noqa: SIM115
            except FileNotFoundError:
                pass
            except OSError as err:
                raise LotteryError(f"opening {pins.rows(slot)} failed: {err.strerror}") from None
        if time.monotonic() >= deadline:
            if not pins.snapshot_link.exists():
                raise LotteryError(f"not loaded (nothing pinned at {pins.dir})",
                                   "run sudo lottery load")
            raise LotteryError(f"the instance at {pins.dir} has no reader slots "
                               "(loaded by an older lottery)", "run sudo lottery load --force")
        time.sleep(_SLOT_POLL_S)


def claim(pins: Pins, slots: Iterable[int], wait: bool = True) -> tuple[int, IO]:
    """A free slot among `slots` and the open pin whose flock holds it.  With
    every slot taken, look again until one is free: a reader is slowed by
    the others, never stopped (`wait` False: raise instead)."""
    slots = list(slots)
    while True:
        for slot in slots:
            handle = _opened(pins, slot)
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return slot, handle
            except BlockingIOError:
                handle.close()
        if not wait:
            raise LotteryError(f"every reader slot of {pins.dir} is taken "
                               f"({len(slots)} readers at once)", "stop a reader, then try again")
        time.sleep(_SLOT_POLL_S)


class Slot:
    """A reader's slot, held for as long as it reads.  A reload of the
    instance (`load --force`) makes new pins: the slot is taken again in
    the new instance, and its first walk there writes every task."""

    def __init__(self, pins: Pins, slots: Iterable[int]) -> None:
        self._pins, self._slots = pins, list(slots)
        self.number: int | None = None
        self._lock: IO | None = None

    def walk(self, full: bool) -> Raw:
        """One walk (every task, when the slot is new to this reader)."""
        if self._lock is not None and not self._current():
            self.close()  # loaded again since: a slot in the new instance
        if self._lock is None:
            self.number, self._lock = claim(self._pins, self._slots)
            full = True
        return read_slot(self._pins, self.number, full)

    def again(self, read: Callable[[bool], T], full: bool) -> T:
        """`read(full)`, which walks this slot and reads what the walk wrote;
        when a pin went under it (the instance loaded again), once more, in
        the new instance.  The one place a reader rides out a reload."""
        try:
            return read(full)
        except LotteryError as err:
            if not _gone(err):
                raise
        self.close()
        return read(True)

    def _current(self) -> bool:
        """Is the pin it holds still the instance's?"""
        try:
            return os.stat(self._pins.rows(self.number)).st_ino == \
                os.fstat(self._lock.fileno()).st_ino
        except OSError:
            return False

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = self.number = None


def slots_held(pins: Pins) -> int:
    """How many reader slots readers hold now (as root)."""
    held = 0
    for slot in range(READER_SLOTS):
        try:
            with open(pins.rows(slot), "rb") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            held += 1
        except OSError:
            continue
    return held


@dataclass(frozen=True)
class Raw:
    """One walk of a slot as bpftool and the kernel printed it."""

    walk: str           # what the iterator printed: the snapshot's number
    stat: str           # /proc/stat, read right after the walk
    snapshots: str      # bpftool -j map dump of the snapshots map
    groups: str
    cpu_waits: str      # "" from an instance loaded without it
    rows: Iterable[str]  # the slot's map, in chunks as bpftool prints it


def _dump_argv(pin: Path) -> list[str]:
    argv = [tools.require("bpftool"), "-j", "map", "dump", "pinned", str(pin)]
    # as root only: through sudo, the rules name bpftool itself
    if tools.is_root() and (stdbuf := tools.which("stdbuf")):
        # Into a pipe, bpftool's stdio writes 4 KiB at a time: thousands of
        # writes and wake-ups for a big map, a fifth of its time at 10k rows.
        argv = [stdbuf, "-o1048576", *argv]
    return argv


def read_slot(pins: Pins, slot: int, full: bool) -> Raw:
    """Walk slot `slot` and read what it wrote.  As root only."""
    try:
        with open(pins.reader(slot, full), encoding="utf-8") as handle:
            walk = handle.read()  # each open of the pin is a walk of its own
        with open("/proc/stat", encoding="ascii") as handle:
            stat = handle.read()  # right after the walk: one moment for both
    except OSError as err:
        raise LotteryError(f"reading the snapshot failed: {err.strerror} "
                           f"({pins.reader(slot, full)})") from None
    snapshots = tools.run(_dump_argv(pins.snapshots), what="bpftool map dump")
    groups = tools.run(_dump_argv(pins.groups), what="bpftool map dump")
    cpu_waits = tools.run(_dump_argv(pins.cpu_waits), what="bpftool map dump") \
        if pins.cpu_waits.exists() else ""
    return Raw(walk, stat, snapshots, groups, cpu_waits,
               tools.stream(_dump_argv(pins.rows(slot)), what="bpftool map dump"))


class Session:
    """One reader of an instance: its slot, and every live task as its
    samples so far have it (a walk writes only the tasks that changed)."""

    def __init__(self, pins: Pins, slots: Iterable[int] | None = None) -> None:
        self._pins = pins
        # in order: root readers look first at the slots kept from sudo readers
        self._slot = Slot(pins, range(READER_SLOTS) if slots is None else slots)
        self._helper = None
        self._live: dict[Key, TaskSample] = {}
        self._full = True      # the next walk writes every live task
        self._exits = 0        # the exits numbered before the last walk began
        self._taken = 0        # samples taken
        self._number = 0       # the last snapshot's number
        self.deferred = False  # the last walk left a key to the next

    def close(self) -> None:
        """Give the slot back (so does the reader's end)."""
        self._slot.close()
        if self._helper is not None:
            self._helper.close()
            self._helper = None

    def take(self) -> Snapshot:
        """The next sample: every live task (those the walk did not write as
        the samples before had them) and the exits since the last."""
        # A walk moves its reader on (the kernel's `since`) whether or not
        # what it wrote gets read: until this sample is applied, the next walk
        # writes every task.
        full, self._full = self._full, True
        try:
            raw, info, groups, rows, cpus = self._slot.again(self._read, full)
        except LotteryError as err:
            raise _not_loaded(err, self._pins) from None
        number = info.snapshot
        if len(rows.live) != info.rows:
            raise LotteryError(f"snapshot {number} wrote {info.rows} rows and its map held "
                               f"{len(rows.live)}", "is another lottery reading slot "
                               f"{self._slot.number} of {self._pins.dir}? stop it")
        change = self._apply(info, rows)
        timestamp_s = time.time() - units.s(time.monotonic_ns() - info.start_ns)
        return Snapshot(info, timestamp_s, tuple(self._live.values()), tuple(rows.exits),
                        tuple(procstat.parse_idle(raw.stat)), groups, change,
                        tuple(rows.summed), cpus)

    def _read(self, full: bool) -> tuple[Raw, SnapshotInfo, dict, parse.TaskRows,
                                         tuple[CpuWaits, ...]]:
        """One walk, read whole (the rows stream in while they are parsed)."""
        if tools.is_root():
            raw = self._slot.walk(full)
        else:
            if self._helper is None:
                from orchestrator.kernel.helper import Client  # only readers through sudo

                self._helper = Client(self._pins)
            raw = self._helper.read(full)
        number = parse.snapshot_number(raw.walk)
        info = parse.snapshot_info(parse.iter_formatted([raw.snapshots]), number)
        if info is None:
            raise LotteryError(f"the snapshots map holds no snapshot {number}",
                               "run lottery build, then sudo lottery load --force")
        groups = parse.group_rows(parse.iter_formatted([raw.groups]))
        cpus = parse.cpu_waits(parse.iter_formatted([raw.cpu_waits])) if raw.cpu_waits else ()
        return (raw, info, groups, parse.task_rows(parse.iter_formatted(raw.rows), number),
                cpus)

    def _apply(self, info: SnapshotInfo, rows: parse.TaskRows) -> Change | None:
        """Bring the live tasks up to this walk; return how they differ from
        the sample before (None for the first)."""
        live, had = self._live, self._taken > 0
        # A key a thread's exec took over as the walk ran keeps the row this
        # reader had (the leader's) until the next walk, which writes it
        # again with the leader's exit: applied now, the key would go from
        # the leader's numbers to the thread's with nothing to tell why.
        written = {t.key: t for t in rows.live if t.key not in rows.taken}
        held = {k: live[k] for k in rows.taken if k in live}
        self.deferred = bool(rows.taken)
        # A task written again with the numbers it had is unchanged, and
        # keeps the sample the stages after this one know.
        changed = {k: t for k, t in written.items() if live.get(k) != t}
        left: set[Key] = set()
        if info.full:  # every live task written: those not written are gone
            left = live.keys() - written.keys() - held.keys()
            live = self._live = {**{k: live[k] if k not in changed else t
                                    for k, t in written.items()}, **held}
        else:
            live.update(changed)
        # Tasks whose exits were numbered before the walk began are gone (one
        # that exits during the walk may be passed live: its exit comes with
        # the next walk).  A key written live again is a thread that called
        # exec and took its leader's key.
        gone = {t.key for t in rows.exits if t.exit_seq < info.exits and t.key not in written}
        # The thread that called exec left no exit: exec ends every other
        # thread of its process, so those not written by this walk are gone.
        execs = {written[t.key].tgid: t.key for t in rows.exits
                 if t.key in written and t.exit_seq < info.exits}
        if execs:
            gone |= {k for k, t in live.items()
                     if t.tgid in execs and k != execs[t.tgid] and k not in written}
        for key in gone:
            if live.pop(key, None) is not None:
                left.add(key)
        # Exits since the walk before that the walk could not give (the ring
        # went past them, or their rows left): tasks they ended may still be
        # here, so the next walk writes every task.  Those it summed were of
        # tasks no walk found alive: no reader holds them.
        lost = False
        if had:
            need = max(self._exits, info.exits_from)
            given = sum(1 for t in rows.exits if need <= t.exit_seq < info.exits)
            lost = (info.exits_from > self._exits
                    or given + info.exits_passed < info.exits - need)
        # More tasks held than the walk found (less those it may have passed
        # before they exited): some left unseen, such as a thread that
        # called exec and whose leader's exit came before any walk saw it.
        late = sum(1 for t in rows.exits if t.exit_seq >= info.exits and t.key in live)
        lost = lost or len(live) - late > info.live_rows
        self._full = bool(info.dropped) or lost
        self._exits = info.exits
        self._taken += 1
        since, self._number = self._number, info.snapshot
        return Change(since, changed, frozenset(left)) if had else None


def take(pins: Pins) -> Snapshot:
    """One sample on its own: every live task and every exit row the
    instance keeps (its slot is given back at once)."""
    session = Session(pins)
    try:
        snap = session.take()
        if session.deferred:  # a key waits for the next walk: this sample has no next
            snap = session.take()
    finally:
        session.close()
    try:
        kept = parse.task_rows(parse.iter_formatted(
            tools.stream(_dump_argv(pins.tasks), elevate=True, what="bpftool map dump")), 0)
    except LotteryError as err:
        raise _not_loaded(err, pins) from None
    exits = {t.key + (t.exit_seq,): t for t in (*kept.exits, *snap.exits)}
    # every exit row the instance keeps is here, those the walk summed too:
    # its sums would count them twice (+8 % in one interval beside a fork loop)
    return Snapshot(snap.info, snap.timestamp_s, snap.tasks,
                    tuple(sorted(exits.values(), key=lambda t: t.exit_seq)), snap.idle,
                    snap.groups, snap.change, cpu_waits=snap.cpu_waits)


@contextlib.contextmanager
def session(pins: Pins) -> Iterator[Session]:
    reader = Session(pins)
    try:
        yield reader
    finally:
        reader.close()
