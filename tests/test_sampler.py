"""The sampling clock on a fake clock: ticks on a grid from the baseline, an
overrun followed at once by the next sample, the ticks it passed skipped."""

import pytest
from builders import snap

from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Pipeline
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

    def take(self):
        walk_ns = round(self.now * 1e9)  # the walk begins when the sample does
        self.walks.append(self.now)
        self.now += self.durations.pop(0)
        return snap(len(self.walks), walk_ns, idle=(0,))


def _frames(sampler, count, interval):
    pipeline = Pipeline(tickets.WEIGHT)
    out = []
    for tick in sampler.ticks(count):
        frame = pipeline.frame(tick.snapshot, interval, tick.skipped)
        if not tick.baseline:
            out.append(frame)
        if count is None and len(out) == 10:
            break
    return out


def test_an_overrun_is_followed_at_once_and_the_ticks_it_passed_are_skipped():
    fake = FakeTime([0.1, 0.1, 2.5, 0.1, 0.1])
    frames = _frames(Sampler(fake.take, 1.0, lambda: fake.now, fake.sleep), 4, 1.0)
    assert fake.walks == pytest.approx([0.0, 1.0, 2.0, 4.5, 5.5])
    assert [f.interval_s for f in frames] == pytest.approx([1.0, 1.0, 2.5, 1.0])
    assert [f.skipped for f in frames] == [0, 0, 1, 0]
    assert [f.ran_long for f in frames] == [False, False, True, False]


def test_a_baseline_that_overran_its_first_tick_is_taken_again():
    """A reader's first sample is its dearest (on a busy host, 1,000 parked
    threads, it took 1.26 s of a 1 s interval): taken again, the first
    interval is the one asked, not the baseline's reading and then some."""
    fake = FakeTime([1.3, 0.1, 0.1, 0.1, 0.1])
    frames = _frames(Sampler(fake.take, 1.0, lambda: fake.now, fake.sleep), 3, 1.0)
    assert fake.walks == pytest.approx([0.0, 1.3, 2.3, 3.3, 4.3])
    assert [f.interval_s for f in frames] == pytest.approx([1.0, 1.0, 1.0])
    assert [f.skipped for f in frames] == [0, 0, 0]
    # once: a second baseline that overran too is not taken a third time
    fake = FakeTime([1.3, 1.2, 0.1, 0.1])
    frames = _frames(Sampler(fake.take, 1.0, lambda: fake.now, fake.sleep), 2, 1.0)
    assert fake.walks == pytest.approx([0.0, 1.3, 2.5, 3.5])
    assert [f.interval_s for f in frames] == pytest.approx([1.2, 1.0])


def test_no_count_samples_until_stopped():
    fake = FakeTime([0.01] * 50)
    first = _frames(Sampler(fake.take, 0.5, lambda: fake.now, fake.sleep), None, 0.5)
    assert len(first) == 10
    assert all(f.interval_s == pytest.approx(0.5) and not f.ran_long for f in first)
