"""One sampling clock for every reader of an instance (dump, top, simulate
--live, experiment): a baseline, then one snapshot per interval on a
deadline clock.

Ticks fall at the baseline's moment plus whole intervals.  A sample that
overruns its interval is followed at once by the next, and the clock starts
again from there: the ticks it overran are skipped, not fired back to back,
and each tick says how many were skipped.  A baseline whose reading overran
its first tick (a reader's first sample costs it the most: every task is new
to it) is taken again, once, so that the first interval is the one asked."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from orchestrator import units
from orchestrator.records import Snapshot


@dataclass(frozen=True)
class Tick:
    """A snapshot, with how its timing went."""

    snapshot: Snapshot
    skipped: int = 0         # ticks skipped because the sample before overran
    baseline: bool = False   # the first: there is nothing before it to compare with


class Sampler:
    def __init__(self, take: Callable[[], Snapshot], interval_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._take, self._interval = take, interval_s
        self._clock, self._sleep = clock, sleep

    def ticks(self, count: int | None = None) -> Iterator[Tick]:
        """A baseline, then `count` ticks more (None: no end)."""
        baseline = self._take()
        yield Tick(baseline, baseline=True)
        # CLOCK_MONOTONIC, as time.monotonic(): the first interval counts
        # from the moment the baseline's walk began
        deadline = units.s(baseline.info.start_ns)
        if self._clock() > deadline + self._interval:
            baseline = self._take()  # cheap now: only what changed since
            yield Tick(baseline, baseline=True)
            deadline = units.s(baseline.info.start_ns)
        done = 0
        while count is None or done < count:
            deadline += self._interval
            now = self._clock()
            skipped = 0
            if now > deadline:  # the sample before overran: go now, skip the ticks it passed
                skipped = int((now - deadline) // self._interval)
                deadline = now
            else:
                self._sleep(deadline - now)
            yield Tick(self._take(), skipped)
            done += 1
