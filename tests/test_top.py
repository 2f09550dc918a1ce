"""lottery top: headless through Textual's Pilot on prepared frames (no
kernel needed), and the real command in a real terminal (tmux, 80x24)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest
from conftest import REPO

from orchestrator import workload
from orchestrator.analysis import analyser, tickets
from orchestrator.kernel.records import CpuIdle, Snapshot, SnapshotInfo, TaskSample
from orchestrator.sampling import deltas
from orchestrator.sampling.sampler import Frame
from orchestrator.sinks.live import TopApp, bar, spark


def _snap(n: int, runtimes: dict[int, int]) -> Snapshot:
    tasks = tuple(TaskSample(pid, pid, pid, f"spin-{pid}", 0, 0, 1, runtime, runtime // 2, 0, n,
                             0, 0, False, 1) for pid, runtime in runtimes.items())
    at_ns = n * 1_000_000_000
    info = SnapshotInfo(n, at_ns, at_ns, len(tasks), 0, 0, 0, 0, len(tasks), 0)
    return Snapshot(info, 1.7e9 + n, tasks, (), (CpuIdle(0, 0), CpuIdle(1, 0)), {})


def _frames(stop: threading.Event):
    reader = deltas.Reader(tickets.FLAT)
    analysing = analyser.Analyser(hierarchical=False)
    reader.advance(_snap(0, {101: 0, 202: 0}))
    for n in range(1, 1000):
        sample = reader.advance(_snap(n, {101: n * 750_000_000, 202: n * 250_000_000}))
        yield Frame(sample, analysing.analyse(sample), 1.0, 1.0)
        if stop.wait(0.02):
            return


def test_bars_and_sparklines():
    assert bar(0.5, 0.25, 8) == "██│█    "
    assert spark([0.0, 0.5, 0.99]) == "▁▅█"


@pytest.mark.asyncio
async def test_top_shows_tasks_and_answers_every_key():
    app = TopApp(_frames)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(100):
            if app.frames_shown >= 2:
                break
            await pilot.pause(0.05)
        assert app.frames_shown >= 2
        rows = app.query_one("#tasks").row_count
        assert rows == 2
        first = app.query_one("#tasks").get_row_at(0)
        # pid, expected, observed: 202 was runnable 375 ms of 1000, so 101 is owed 625
        assert first[0] == 101 and first[4] == "62.5" and first[5] == "75.0"
        await pilot.press("s")
        assert app.sort == "error"
        await pilot.press("g")
        assert app.by == "process"
        await pilot.press("p")
        shown = app.frames_shown
        await pilot.pause(0.2)
        assert app.paused and app.frames_shown == shown  # paused: the screen stays
        await pilot.press("p", "slash", *"spin-202", "enter")
        await pilot.pause(0.2)
        assert app.pattern == "spin-202" and app.query_one("#tasks").row_count == 1
        await pilot.press("q")
    assert app.return_code in (0, None)


@pytest.fixture
def tmux_session():
    if not shutil.which("tmux"):
        pytest.fail("tmux is not installed (make setup installs it)")
    name = f"lottery-top-{uuid.uuid4().hex[:6]}"
    yield name
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def _screen(name: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True,
                          text=True).stdout


def test_top_in_a_real_80x24_terminal(instance, tmux_session):
    cpu = max(__import__("os").sched_getaffinity(0))
    pids = workload.start(0, 8.0, cpu) + workload.start(5, 8.0, cpu)
    command = (f"cd {REPO} && PYTHONPATH={REPO} {sys.executable} -m orchestrator top "
               f"--pin-dir {instance.dir} -i 0.5; echo EXITED $?; sleep 30")
    try:
        subprocess.run(["tmux", "new-session", "-d", "-s", tmux_session, "-x", "80", "-y", "24",
                        command], check=True)
        screen = ""
        for _ in range(60):
            screen = _screen(tmux_session)
            if "lottery-work" in screen and "conservation" in screen:
                break
            time.sleep(0.2)
        assert "lottery-work" in screen and "Jain's index" in screen, screen
        assert max(len(line) for line in screen.splitlines()) <= 80
        subprocess.run(["tmux", "send-keys", "-t", tmux_session, "q"], check=True)
        for _ in range(50):
            screen = _screen(tmux_session)
            if "EXITED" in screen:
                break
            time.sleep(0.1)
        assert "EXITED 0" in screen and "Traceback" not in screen, screen
    finally:
        workload.stop(pids)
        workload.wait(pids)
