"""The sampling loop on a fake clock: ticks on a grid from the baseline, an
overrun followed at once by the next sample, the ticks it passed skipped."""

import pytest

from orchestrator.analysis import tickets
from orchestrator.kernel.records import CpuIdle, Snapshot, SnapshotInfo
from orchestrator.sampling import deltas
from orchestrator.sampling.sampler import Sampler


class FakeTime:
    """A clock that moves only when the loop sleeps or a sample takes time."""

    def __init__(self, durations):
        self.now = 0.0
        self.durations = list(durations)
        self.walks: list[float] = []

    def sleep(self, seconds):
        assert seconds >= 0
        self.now += seconds

    def take(self, exits_from):
        walk_ns = round(self.now * 1e9)  # the walk begins when the sample does
        self.walks.append(self.now)
        self.now += self.durations.pop(0)
        info = SnapshotInfo(len(self.walks), walk_ns, walk_ns, 0, 0, 0, 0, 0, 0, 0)
        return Snapshot(info, 0.0, (), (), (CpuIdle(0, 0),), {})


def test_an_overrun_is_followed_at_once_and_the_ticks_it_passed_are_skipped():
    fake = FakeTime([0.1, 0.1, 2.5, 0.1, 0.1])
    sampler = Sampler(fake.take, deltas.Reader(tickets.WEIGHT), 1.0, lambda: fake.now,
                      fake.sleep)
    ticks = list(sampler.ticks(4))
    assert fake.walks == pytest.approx([0.0, 1.0, 2.0, 4.5, 5.5])
    assert [t.interval_s for t in ticks] == pytest.approx([1.0, 1.0, 2.5, 1.0])
    assert [t.skipped for t in ticks] == [0, 0, 1, 0]
    assert [t.ran_long for t in ticks] == [False, False, True, False]


def test_no_count_samples_until_stopped():
    fake = FakeTime([0.01] * 50)
    ticks = Sampler(fake.take, deltas.Reader(tickets.WEIGHT), 0.5, lambda: fake.now,
                    fake.sleep).ticks(None)
    first = [next(ticks) for _ in range(10)]
    assert all(t.interval_s == pytest.approx(0.5) and not t.ran_long for t in first)
