"""The replay source: a real recording (tests/data/recording.csv) shown and
written again without root.  Written back to CSV through dump, every value
comes back: the one field list drives the writer and the reader."""

from __future__ import annotations

import threading

import pytest
from conftest import DATA, run_lottery

from orchestrator.sampling.replay import replay_frames
from orchestrator.sinks import record
from orchestrator.sinks.live import TopApp

RECORDING = DATA / "recording.csv"


def _close(a: object, b: object, digits: int | None) -> bool:
    """Equal, or for a float equal to its last kept decimal: error, lateness
    and idle-less shares are recomputed from rounded parts."""
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= 2.5 * 10.0 ** -(digits or 6)
    return a == b


def test_dump_of_a_replay_writes_the_recording_again(tmp_path):
    out = tmp_path / "again.csv"
    done = run_lottery("dump", "--replay", str(RECORDING), "-q", "-o", str(out))
    assert done.returncode == 0, done.stderr
    before, after = record.read(RECORDING), record.read(out)
    assert len(before) == len(after) > 100
    digits = {f.name: f.digits for f in record.FIELDS}
    for old, new in zip(before, after, strict=True):
        wrong = [k for k in record.NAMES if not _close(old[k], new[k], digits[k])]
        assert not wrong, [(k, old[k], new[k]) for k in wrong]


def test_replay_rebuilds_samples_with_their_conservation():
    frames = list(replay_frames(RECORDING))
    assert len(frames) == 4
    assert frames[0].sample.conservation is None  # the file holds no interval before it
    for frame in frames[1:]:
        assert frame.interval_s == pytest.approx(0.5, abs=0.05)
        assert abs(frame.sample.conservation.error) < 0.02
        assert frame.analysis.fairness


@pytest.mark.asyncio
async def test_top_shows_a_replayed_recording():
    app = TopApp(lambda stop: _paced(stop), by="group")
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(100):
            if app.frames_shown >= 2:
                break
            await pilot.pause(0.05)
        groups = {app.query_one("#tasks").get_row_at(i)[1]
                  for i in range(app.query_one("#tasks").row_count)}
        assert "/" in groups and any(g.startswith("/autogroup-") for g in groups)
        await pilot.press("q")


def _paced(stop: threading.Event):
    yield from replay_frames(RECORDING, 0.01, sleep=stop.wait)
