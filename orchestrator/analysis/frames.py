"""Frames: what every view and file takes, one per sample, from either
source: a loaded instance (a snapshot, its deltas, their analysis, joined
into one record per task: `Pipeline`) or a recording read back (`replay`).

The join is made here, once per sample: each task's record is read from
its row, its analysis and its group's path as records.FIELDS says.  A task
whose analysis is the one of the sample before (not in Analysis.change), in
a sample whose group paths and losses are those of the one before, has the
same record again; the frame says which records are new (Frame.change), so
that a file may write the others' text again and a counter add only what
changed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import compress
from operator import attrgetter, not_
from pathlib import Path

from orchestrator import heap, units
from orchestrator.analysis import currencies, shares
from orchestrator.analysis.analyser import Analyser, Analysis, AnalysisOptions, Late, RowAnalysis
from orchestrator.analysis.tickets import TicketModel
from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.kernel import snapshot
from orchestrator.kernel.cgroup_dirs import CgroupDirs, cpu_hierarchy
from orchestrator.paths import Pins
from orchestrator.records import (
    TIMESTAMP,
    Change,
    Joined,
    Key,
    RecordedSample,
    Snapshot,
    SnapshotInfo,
    TaskRecord,
    TaskSample,
    idle_record,
    read,
    task_record,
)
from orchestrator.sampling.deltas import Conservation, Reader, Sample
from orchestrator.sampling.sampler import Sampler


@dataclass(frozen=True)
class Seen:
    """What a sample's snapshot saw of the instance, and could not see."""

    live_rows: int = 0     # rows in the task map
    exit_rows: int = 0
    dropped: int = 0       # live tasks that did not fit in the map
    exits_missed: int = 0  # exits of the interval whose rows were gone
    groups_lost: int = 0   # task groups that did not fit, since load
    exits: int = 0         # exits numbered in the interval
    exits_passed: int = 0  # exits of tasks no walk found alive, summed, not rows


@dataclass(frozen=True)
class Frame:
    """One sample as every view takes it: a record per task and per CPU,
    the sample's own findings, and how its timing went."""

    timestamp_s: float                # wall clock of the sample
    tasks: tuple[TaskRecord, ...]     # live tasks, then exits, then unseen exits
    idle: tuple[TaskRecord, ...]      # one record per CPU, state idle
    interval_s: float                 # the time it covers
    asked_s: float                    # the interval asked for
    skipped: int = 0                  # ticks skipped because the sample before overran
    conservation: Conservation | None = None
    fairness: tuple[shares.Fairness, ...] = ()
    utilisation: Mapping[str, float] = field(default_factory=dict)  # EDF, per contention set
    late: tuple[Late, ...] = ()
    draws: int = 0                    # lottery draws per contention set
    seen: Seen = Seen()
    # The pipeline's count of frames.  0 for a frame of no series (a
    # replay, a test).
    seq: int = 0
    # How many of `tasks` are live (they come first), and how those differ
    # from the frame numbered one less (the records made again, the tasks
    # that left): a file may write the others' text again.  None: all new.
    live: int = 0
    change: Change | None = None
    # The snapshot it was made from (None in a replay): where own_tgids
    # looks, among its live and exited tasks (an exited bpftool of this
    # reader's included), only when a view asks.
    kernel: Snapshot | None = field(default=None, repr=False, compare=False)
    # The instance was loaded again since the frame before (its walks and
    # exits are numbered from the start): this frame is a new baseline.
    reloaded: bool = False

    @property
    def ran_long(self) -> bool:
        """Did it cover noticeably more than the interval asked for?"""
        return self.interval_s > self.asked_s * 1.1 + 0.02

    def only(self, tasks: list[TaskRecord] | tuple[TaskRecord, ...],
             idle: tuple[TaskRecord, ...] | None = None) -> Frame:
        """The same frame showing only `tasks` (a view's filter): how they
        differ from the frame before is no longer known."""
        return replace(self, tasks=tuple(tasks), idle=self.idle if idle is None else idle,
                       seq=0, live=0, change=None)

    @cached_property
    def own_tgids(self) -> frozenset[int]:
        """Processes of this lottery (the reader, its sudo and bpftool): a
        view of the machine leaves them out; files keep them.  Looked for
        only when a view asks."""
        snap = self.kernel
        return _own_tgids((*snap.tasks, *snap.exits) if snap else ())

    def without_self(self) -> Frame:
        own = self.own_tgids
        if not own:
            return self
        return self.only(list(compress(self.tasks, map(not_, map(own.__contains__,
                                                                 map(_TGID, self.tasks))))))


_TGID = attrgetter("tgid")
_PPID = attrgetter("ppid")


def _own_tgids(tasks: tuple[TaskSample, ...]) -> frozenset[int]:
    """This process and what it started (sudo, then bpftool or cat below it),
    found in passes over the tasks in C: a host may run 100,000 threads."""
    own = {os.getpid()}
    tgids = list(map(_TGID, tasks))
    parents = list(map(_PPID, tasks))
    for _ in range(3):  # lottery -> sudo -> bpftool: parents before children
        more = set(compress(tgids, map(own.__contains__, parents))) - own
        if not more:  # as root there is no sudo: one level less to look through
            break
        own |= more
    return frozenset(own)


class Joiner:
    """Joins each task's row with its analysis and its group's path into its
    record, once per sample, for one reader's successive samples."""

    def __init__(self, dirs: CgroupDirs | None = None) -> None:
        # where the paths the groups map holds only in part are read
        self._dirs = dirs
        self._records: dict[Key, TaskRecord] = {}  # the last sample's, per live task
        self._found: dict[Key, RowAnalysis] = {}   # their analyses
        self._lost: tuple[int, int] | None = None
        self._paths: dict[int, str] = {}           # the last sample's path of each group

    def __call__(self, sample: Sample, analysis: Analysis
                 ) -> tuple[tuple[TaskRecord, ...], list[TaskRecord], int, Change | None]:
        """The sample's task records (the live ones first), its idle
        records, how many live records, and how they differ from the last
        sample's (None: all are new)."""
        info, groups = sample.snapshot.info, sample.snapshot.groups
        path = currencies.Paths(groups, self._dirs)
        lost = (info.dropped, sample.exits_missed)
        # A group that came or went changes no path of a task whose row did
        # not change (the walk filed its group and the groups above it in both
        # samples), unless the group map had no room for some; one renamed or
        # moved does.
        paths = {gid: path[gid] for gid in groups}
        moved = any(self._paths.get(gid, p) != p for gid, p in paths.items())
        change = analysis.change
        if change is None:
            self._found = {}
        for key in change.left if change else ():
            self._found.pop(key, None)
        found = self._found
        found.update(analysis.fresh)
        live = len(sample.snapshot.tasks)  # the live rows come first
        if (change is None or lost != self._lost or moved
                or (info.groups_lost and paths.keys() != self._paths.keys())):
            records = {row.task.key: task_record(Joined(row, found[row.task.key],
                                                        path[row.task.group] or None, *lost))
                       for row in sample.tasks[:live]}
            joined = None
        else:
            records = self._records
            for key in change.left:
                records.pop(key, None)
            joined = {key: task_record(Joined(row, found[key], path[row.task.group] or None,
                                              *lost))
                      for key, row in analysis.moved.items()}  # the live rows analysed
            records.update(joined)
        exits = [task_record(Joined(row, analysis.rows[row.task.key],
                                    path[row.task.group] or None, *lost))
                 for row in sample.tasks[live:]]
        self._records = records
        self._lost, self._paths = lost, paths
        cpu_waits = dict(enumerate(sample.cpu_waits))
        idle = [idle_record(i.idle.cpu, i.idle.idle_ns, i.idle_delta_ns, *lost,
                            waits=cpu_waits.get(i.idle.cpu))
                for i in sample.idle]
        return ((*records.values(), *exits), idle, len(records),
                None if joined is None else Change(change.since, joined, change.left))


class Pipeline:
    """One reader's stages, from its snapshots to frames: deltas, analysis,
    the join.  Each reader has its own: readers see the same tasks, each
    against its own samples before."""

    def __init__(self, model: TicketModel, options: AnalysisOptions | None = None):
        self._model, self._options = model, options or AnalysisOptions()
        self._start()
        self._seq = 0
        self._last: SnapshotInfo | None = None

    def _start(self) -> None:
        self.reader = Reader()
        self.analyser = Analyser(self._model, self._options)
        self.joiner = Joiner(CgroupDirs(cpu_hierarchy()))

    def frame(self, snap: Snapshot, asked_s: float = 0.0, skipped: int = 0) -> Frame:
        """The frame of `snap` (the first a reader takes is a baseline: no
        deltas; so is the first after the instance was loaded again)."""
        last, self._last = self._last, snap.info
        reloaded = last is not None and (snap.info.snapshot <= last.snapshot
                                         or snap.info.exits < last.exits)
        if reloaded:  # nothing of the old instance's numbers goes on into the new
            self._start()
        sample = self.reader.advance(snap)
        analysis = self.analyser.analyse(sample)
        tasks, idle, live, change = self.joiner(sample, analysis)
        if change is not None:  # numbered as frames are
            change = Change(self._seq, change.changed, change.left)
        self._seq += 1
        check = sample.conservation
        info = snap.info
        return Frame(
            timestamp_s=round(snap.timestamp_s, TIMESTAMP.digits), tasks=tasks,
            idle=tuple(idle),
            interval_s=units.s(check.interval_ns) if check else asked_s, asked_s=asked_s,
            skipped=skipped, conservation=check, fairness=tuple(analysis.fairness),
            utilisation=analysis.utilisation, late=tuple(analysis.late),
            draws=analysis.draws,
            seen=Seen(info.live_rows, info.exit_rows, info.dropped, sample.exits_missed,
                      info.groups_lost, sample.exits, sample.exits_passed),
            seq=self._seq, live=live, change=change, kernel=snap, reloaded=reloaded)


def bpftool_source(pins: Pins) -> snapshot.Session:
    """One reader of a loaded instance: each `take()` is its next sample;
    `close()` gives its reader slot back (so does the end of the process)."""
    heap.keep_freed_memory()  # the next sample reuses what this one frees
    return snapshot.Session(pins)


def live_frames(pins: Pins, model: TicketModel, interval_s: float, count: int | None = None,
                options: AnalysisOptions | None = None,
                sleep: Callable[[float], None] = time.sleep) -> Iterator[Frame]:
    """Frames of a loaded instance, one per interval after a silent
    baseline, on the sampler's clock."""
    pipeline = Pipeline(model, options)
    source = bpftool_source(pins)
    try:
        for tick in Sampler(source.take, interval_s, sleep=sleep).ticks(count):
            frame = pipeline.frame(tick.snapshot, interval_s, tick.skipped)
            if not tick.baseline:
                yield frame  # a reloaded one too: its reader says so (Frame.reloaded)
    finally:
        source.close()


def _recorded_fairness(tasks: list[TaskRecord]) -> list[shares.Fairness]:
    return shares.fairness(shares.Share(r.contention_group, r.ticket_share or 0.0,
                                        r.expected_share or 0.0, r.observed_share or 0.0)
                           for r in tasks if r.contention_group is not None)


def _recorded_draws(tasks: list[TaskRecord]) -> int:
    for r in tasks:
        if r.lottery_wins and r.lottery_win_rate:
            return round(r.lottery_wins / r.lottery_win_rate)
    return 0


def replay_frame(here: RecordedSample, before: RecordedSample | None,
                 asked_s: float = 0.0) -> Frame:
    """A recorded sample as the frame it was: its records as they were
    written, with what the records tell of the sample as a whole."""
    interval_ns = units.ns_from_s(here.timestamp_s - before.timestamp_s) if before else 0
    check = None
    if interval_ns > 0 and here.idle:
        check = Conservation(len(here.idle), interval_ns,
                             sum(r.runtime_delta_ns or 0 for r in here.tasks),
                             sum(r.runtime_delta_ns or 0 for r in here.idle))
    utilisation: dict[str, float] = {}
    for r in here.tasks:
        if r.utilisation is not None and r.contention_group is not None:
            utilisation[r.contention_group] = \
                utilisation.get(r.contention_group, 0.0) + r.utilisation
    first = (here.tasks or here.idle)[0]
    alive = sum(1 for r in here.tasks if r.state == "alive")
    return Frame(
        timestamp_s=here.timestamp_s, tasks=tuple(here.tasks), idle=tuple(here.idle),
        interval_s=units.s(interval_ns) if interval_ns else asked_s, asked_s=asked_s or (
            units.s(interval_ns)), conservation=check,
        fairness=tuple(_recorded_fairness(here.tasks)), utilisation=utilisation,
        draws=_recorded_draws(here.tasks),
        seen=Seen(live_rows=alive, dropped=first.dropped or 0,
                  exits_missed=first.exits_missed or 0))


def recorded(path: Path) -> list[RecordedSample]:
    """A recording's samples (records.read), refused in one line when it holds none."""
    samples = read(path)
    if not samples:
        raise LotteryError(f"{path} holds no sample to replay",
                           "pass a recording dump wrote samples to, e.g. lottery dump 1 5 -o "
                           "FILE", code=EXIT_USAGE)
    return samples


def replay_frames(samples: list[RecordedSample], pace_s: float = 0.0, count: int | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> Iterator[Frame]:
    """The frames of a recording's samples (records.read), in order; `pace_s`
    seconds apart (0: at once)."""
    before = None
    for n, here in enumerate(samples):
        if count is not None and n >= count:
            return
        if n and pace_s:
            sleep(pace_s)
        yield replay_frame(here, before, pace_s)
        before = here
