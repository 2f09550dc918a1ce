"""One sampling loop for every reader of an instance (dump, top, simulate
--live): a silent baseline, then one sample per interval on a deadline clock.

Ticks fall at the baseline's moment plus whole intervals.  A sample that
overruns its interval is followed at once by the next, and the clock starts
again from there: the ticks it overran are skipped, not fired back to back,
and each sample says how many were skipped."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from orchestrator import heap, units
from orchestrator.analysis.analyser import Analyser, Analysis, AnalysisOptions
from orchestrator.analysis.tickets import TicketModel
from orchestrator.kernel import parse, snapshot
from orchestrator.kernel.records import Snapshot
from orchestrator.paths import Pins
from orchestrator.sampling.deltas import Reader, Sample


@dataclass(frozen=True)
class Tick:
    """A sample, with how its timing went."""

    sample: Sample
    asked_s: float   # the interval asked for
    skipped: int     # ticks skipped because the sample before overran

    @property
    def interval_s(self) -> float:
        """The time this sample covers (its walk against the previous one's)."""
        check = self.sample.conservation
        return units.s(check.interval_ns) if check else self.asked_s

    @property
    def ran_long(self) -> bool:
        """Did it cover noticeably more than the interval asked for?"""
        return self.interval_s > self.asked_s * 1.1 + 0.02


@dataclass(frozen=True)
class Frame:
    """One sample as every view takes it, from any source (a loaded
    instance, or the replay of a recording): its rows, their analysis, and
    how its timing went."""

    sample: Sample
    analysis: Analysis
    interval_s: float  # the time it covers
    asked_s: float     # the interval asked for
    skipped: int = 0   # ticks skipped because the sample before overran

    @property
    def ran_long(self) -> bool:
        """Did it cover noticeably more than the interval asked for?"""
        return self.interval_s > self.asked_s * 1.1 + 0.02


def live_frames(pins: Pins, model: TicketModel, interval_s: float, count: int | None = None,
                options: AnalysisOptions | None = None,
                sleep: Callable[[float], None] = time.sleep) -> Iterator[Frame]:
    """Frames of a loaded instance: sampled, then analysed (shares need every
    task, so before any view filters them)."""
    analyser = Analyser(options or AnalysisOptions(), hierarchical=model.hierarchical)
    sampler = Sampler(bpftool_source(pins), Reader(model), interval_s, sleep=sleep)
    for tick in sampler.ticks(count):
        yield Frame(tick.sample, analyser.analyse(tick.sample), tick.interval_s, tick.asked_s,
                    tick.skipped)


def bpftool_source(pins: Pins) -> Callable[[int], Snapshot]:
    """Snapshots of a loaded instance; the argument is the first exit the
    reader has not counted (older exit rows need not be read)."""
    heap.keep_freed_memory()  # the next sample reuses what this one frees
    memo = parse.RowMemo()
    return lambda exits_from: snapshot.take(pins, exits_from, memo)


class Sampler:
    def __init__(self, take: Callable[[int], Snapshot], reader: Reader, interval_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._take, self._reader, self._interval = take, reader, interval_s
        self._clock, self._sleep = clock, sleep

    def ticks(self, count: int | None = None) -> Iterator[Tick]:
        """A baseline (not yielded), then `count` samples (None: no end)."""
        baseline = self._take(self._reader.exits_from)
        self._reader.advance(baseline)
        # CLOCK_MONOTONIC, as time.monotonic(): the first interval counts
        # from the moment the baseline's walk began
        deadline = units.s(baseline.info.snapshot_ns)
        done = 0
        skipped = 0
        while count is None or done < count:
            deadline += self._interval
            now = self._clock()
            if now > deadline:  # the sample before overran: go now, skip the ticks it passed
                skipped = int((now - deadline) // self._interval)
                deadline = now
            else:
                self._sleep(deadline - now)
            sample = self._reader.advance(self._take(self._reader.exits_from))
            yield Tick(sample, self._interval, skipped)
            skipped = 0
            done += 1
