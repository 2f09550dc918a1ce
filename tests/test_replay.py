"""The replay source: a real recording (tests/data/recording.csv) shown and
written again without root.  Written back through dump, in either format,
the file comes back byte for byte: the one field list drives the writer and
the reader, and a replay carries the records as they were written."""

from __future__ import annotations

import threading

import pytest
from conftest import DATA, run_in_process, run_lottery

from orchestrator import records
from orchestrator.analysis.frames import replay_frames
from orchestrator.sinks.live import TopApp

RECORDING = DATA / "recording.csv"


def test_dump_of_a_replay_writes_the_recording_again(tmp_path):
    again, as_json, back = tmp_path / "again.csv", tmp_path / "a.ndjson", tmp_path / "back.csv"
    # the first as a program, the others in process
    for run, args in ((run_lottery, ("--replay", str(RECORDING), "-q", "-o", str(again))),
                      (run_in_process, ("--replay", str(RECORDING), "-q", "--json-output",
                                        str(as_json))),
                      (run_in_process, ("--replay", str(as_json), "-q", "-o", str(back)))):
        done = run("dump", *args)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert done.stdout == f"wrote 4 samples to {args[-1]}\n", done.stdout
    assert again.read_bytes() == RECORDING.read_bytes()
    assert back.read_bytes() == RECORDING.read_bytes()
    assert records.read(as_json) == records.read(RECORDING)


def test_replay_rebuilds_samples_with_their_conservation():
    frames = list(replay_frames(records.read(RECORDING)))
    assert len(frames) == 4
    assert frames[0].conservation is None  # the file holds no interval before it
    for frame in frames[1:]:
        assert frame.interval_s == pytest.approx(0.5, abs=0.05)
        assert abs(frame.conservation.error) < 0.02
        assert frame.fairness


@pytest.mark.asyncio
async def test_top_shows_a_replayed_recording():
    app = TopApp(lambda stop: _paced(stop), by="group")
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(100):
            if app.frames_shown >= 2:
                break
            await pilot.pause(0.05)
        groups = {row[1] for row in app.query_one("#tasks").rows}
        assert "/" in groups and any(g.startswith("/autogroup-") for g in groups)
        await pilot.press("q")


def _paced(stop: threading.Event):
    yield from replay_frames(records.read(RECORDING), 0.01, sleep=stop.wait)
