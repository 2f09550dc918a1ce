"""lottery top: headless through Textual's Pilot on prepared frames (no
kernel needed), every key in every mode at the sizes people use, and the
real command in a real terminal (tmux): keys, a stop by signal, a terminal
that goes away."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import builders
import pytest
from conftest import REPO, wait_until

from orchestrator import waits
from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Pipeline
from orchestrator.kernel import parse, tools
from orchestrator.sinks import rows
from orchestrator.sinks.live import GROUPINGS, SORTS, TopApp

CONTAINER_ID = "c0ffee" + "0123456789" * 5 + "abcdef12"
POD_UID = "5b6f1d2e-8c3a-4e9b-a7d1-0c2e4f6a8b9d"


def _snap(n: int, runtimes: dict[int, int]):
    """Odd pids run in a container of a pod (as containerd names its
    cgroups), even ones in the root group."""
    # each sample, 101 waits 10 times 8 to 15 us and 202 twice 1 to 2 ms
    tasks = [builders.task(pid, comm=f"spin-{pid}", cpu=1, runtime_ns=runtime,
                           wait_ns=runtime // 2, runs=n, group=5 if pid % 2 else 1,
                           waits=tuple(n * (10 if pid % 2 else 2) if slot == (3 if pid % 2 else 10)
                                       else 0 for slot in range(waits.slots())))
             for pid, runtime in runtimes.items()]
    groups = {1: builders.group(1, 0, "root", number=0),
              2: builders.group(2, 1, name="kubepods.slice"),
              3: builders.group(3, 2, name="kubepods-besteffort.slice"),
              4: builders.group(4, 3, name=f"kubepods-besteffort-pod"
                                f"{POD_UID.replace('-', '_')}.slice"),
              5: builders.group(5, 4, name=f"cri-containerd-{CONTAINER_ID}.scope")}
    return builders.snap(n, n * 1_000_000_000, tasks, groups=groups, timestamp_s=1.7e9 + n)


def _frames(stop: threading.Event):
    pipeline = Pipeline(tickets.FLAT)
    pipeline.frame(_snap(0, {101: 0, 202: 0}))
    for n in range(1, 1000):
        yield pipeline.frame(_snap(n, {101: n * 750_000_000, 202: n * 250_000_000}), 1.0)
        if stop.wait(0.1):
            return


def _few_frames(stop: threading.Event):
    """Three frames, then none: the keys' redraws do not queue behind a
    frame every 0.1 s."""
    frames = _frames(stop)
    yield from (next(frames) for _ in range(3))
    stop.wait()


def test_bars_and_sparklines():
    assert rows.bar(0.5, 0.25, 8) == "██│█    "
    assert rows.spark([0.0, 0.5, 0.99]) == "▁▅█"


async def _until_shown(app, pilot, frames: int = 2) -> None:
    for _ in range(200):
        if app.frames_shown >= frames:
            return
        await pilot.pause(0.05)
    raise AssertionError(f"only {app.frames_shown} frames shown")


@pytest.mark.asyncio
async def test_top_shows_tasks_and_answers_every_key():
    app = TopApp(_frames)
    async with app.run_test(size=(80, 24)) as pilot:
        await _until_shown(app, pilot)
        table = app.query_one("#tasks")
        assert len(table.rows) == 2
        first = table.rows[0]
        # pid, expected, observed: 202 was runnable 375 ms of 1000, so 101 is owed 625
        assert first[0] == "101" and first[4] == "62.5" and first[5] == "75.0"
        # the third status line: who fell furthest below what its tickets are
        # worth (202: half of 1000 ms, ran 250, waited 125), and why; no line
        # wider than the terminal
        status = str(app.query_one("#status").content).splitlines()
        assert len(status) == 3 and all(len(line) <= 78 for line in status), status
        assert status[2] == "below share: spin-202/202 short 250.0 ms: waited 125.0 unasked 125.0"
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
        assert app.pattern == "spin-202" and len(table.rows) == 1
        await pilot.press("q")
    assert app.return_code in (0, None) and app.failure is None


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_key_l_shows_the_waits_of_the_rows_shown_as_runqlat_does(size):
    app = TopApp(_frames)
    async with app.run_test(size=size) as pilot:
        await _until_shown(app, pilot)
        pane = app.query_one("#latency")
        assert not pane.display
        await pilot.press("l")
        await _until_shown(app, pilot, app.frames_shown + 1)
        text = str(pane.content)
        # one interval: 10 waits of 101 in 8..15 us, 2 of 202 in 1024..2047 us
        assert pane.display and text.startswith("run-queue waits of the 2 rows shown: 12 waits")
        assert "8 -> 15" in text and "1024 -> 2047" in text and "|****" in text
        if size[1] >= 50:  # all of it fits
            assert pane.region.height >= len(text.splitlines())
        await pilot.press("slash", *"spin-202", "enter")
        await _until_shown(app, pilot, app.frames_shown + 1)
        assert str(pane.content).startswith("run-queue waits of the 1 rows shown: 2 waits")
        await pilot.press("l")
        assert not pane.display
        await pilot.press("q")
    assert app.return_code in (0, None) and app.failure is None


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_every_key_in_every_grouping_and_sort_draws_whole_rows(size):
    """At 200 columns, grouping by task group once lost the table: its
    headers and its cells were made in two places and came out unequal."""
    app = TopApp(_few_frames)
    async with app.run_test(size=size) as pilot:
        await _until_shown(app, pilot)
        table = app.query_one("#tasks")
        await pilot.press("l")  # with the waits' pane too
        for _ in GROUPINGS:
            for _ in SORTS:
                await pilot.press("s")  # redrawn by the key's own handler: no pause
                assert table.rows and app.failure is None, (app.by, app.sort)
                assert all(len(row) == len(table.headers) for row in table.rows)
            await pilot.press("p", "p", "slash", *"spin", "enter")
            await pilot.pause(0.05)
            await pilot.press("slash", "enter")  # the filter cleared again
            await pilot.pause(0.05)
            await pilot.press("g")
            await pilot.pause(0.05)
        assert app.by == GROUPINGS[0] and app.failure is None
        await pilot.press("q")
    assert app.return_code in (0, None) and app.failure is None


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_by_container_rows_are_named_by_their_id_short_where_narrow(size):
    app = TopApp(_few_frames, by="container")
    async with app.run_test(size=size) as pilot:
        await _until_shown(app, pilot)
        table = app.query_one("#tasks")
        shown = {row[1]: row for row in table.rows}
        assert set(shown) == {CONTAINER_ID[:12], "host"}
        headers = table.headers
        assert headers[1] == "CONTAINER"
        if size[0] >= 110:
            assert shown[CONTAINER_ID[:12]][headers.index("POD UID")] == POD_UID
        await pilot.press("slash", *POD_UID[:8], "enter")  # a filter finds the pod's uid
        await pilot.pause(0.1)
        assert len(table.rows) == 1 and table.rows[0][1] == CONTAINER_ID[:12]
        await pilot.press("q")
    assert app.failure is None


def _broken(*_):
    raise ValueError("More values provided than there are columns.")


async def _until_failed(app) -> None:
    # not pilot.pause: it waits on a screen the failure is taking down
    for _ in range(100):
        if app.failure is not None:
            return
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_a_failure_inside_the_app_ends_it_with_one_line_and_status_1(monkeypatch):
    app = TopApp(_frames)
    async with app.run_test(size=(80, 24)) as pilot:
        await _until_shown(app, pilot, 1)
        monkeypatch.setattr(rows, "cells", _broken)
        app.call_later(app.action_group)  # as the g key does; the error reaches Textual
        await _until_failed(app)
    assert app.return_code == 1
    assert app.failure is not None and "ValueError" in app.failure.line()
    assert "\n" not in app.failure.line()


@pytest.mark.asyncio
async def test_a_frame_that_cannot_be_drawn_ends_top_with_one_line(monkeypatch):
    """Frames are drawn from the frames thread: an error there once killed
    that thread with a traceback and left top frozen on its last frame."""
    monkeypatch.setattr(rows, "cells", _broken)
    app = TopApp(_frames)
    async with app.run_test(size=(80, 24)):
        await _until_failed(app)
    assert app.return_code == 1
    assert app.failure is not None and "ValueError" in app.failure.line()


@pytest.mark.asyncio
async def test_frames_still_coming_when_top_quits_are_dropped_without_a_word():
    for _ in range(5):  # the frame in flight meets the screen at any stage of its end
        app = TopApp(_frames)
        async with app.run_test(size=(80, 24)) as pilot:
            await _until_shown(app, pilot, 1)
            await pilot.press("q")
        assert app.return_code in (0, None) and app.failure is None


@pytest.fixture
def tmux_session():
    if not shutil.which("tmux"):
        pytest.fail("tmux is not installed (make setup installs it)")
    name = f"lottery-top-{uuid.uuid4().hex[:6]}"
    yield name
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def _status(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _screen(name: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True,
                          text=True).stdout


def _wait_screen(name: str, *words: str) -> str:
    def shown() -> str:
        screen = _screen(name)
        return screen if all(w in screen for w in words) else ""
    try:
        return wait_until(shown, f"{words} on the screen", step_s=0.2)
    except AssertionError as err:
        raise AssertionError(f"{err}:\n{_screen(name)}") from None


def _top_pid(marker: str) -> int:
    """The pid of the `lottery top` whose pin directory is `marker`."""
    def found() -> int:
        # the python process itself, not the shell that started it
        pids = subprocess.run(["pgrep", "-f", f"^{sys.executable} -m orchestrator top "
                               f"--pin-dir {marker}"], capture_output=True, text=True
                              ).stdout.split()
        return int(pids[0]) if pids else 0
    return wait_until(found, "lottery top to start", step_s=0.1)


def _snapshots(pins) -> int:
    """How many snapshots of the instance were begun: top is its only reader."""
    return parse.map_value(tools.bpftool(["map", "dump", "pinned", str(pins.counters)]))[
        "snapshots"]


def _ends_at_once(pid: int, pins, snapshots_before: int) -> None:
    """A stop ends top before its next sample, measured in its own samples
    (one every half second), not in seconds a busy machine may stretch: at
    most the one it was taking and one begun before the stop reached it."""
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), f"top ({pid}) to end")
    took = _snapshots(pins) - snapshots_before
    assert took <= 2, f"top went on sampling after the stop: {took} samples"


def _start_top(instance, session: str, where: Path, width: int = 80, height: int = 24
               ) -> Path:
    """top in a new tmux session; returns the file its exit status goes to.
    On the screen too, but a stop in the middle of one of top's escape
    sequences may leave the terminal eating what is printed after it."""
    status = where / "status"
    command = (f"cd {REPO} && PYTHONPATH={REPO} {sys.executable} -m orchestrator top "
               f"--pin-dir {instance.dir} -i 0.5; echo EXITED $? | tee {status}; sleep 30")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", str(width), "-y",
                    str(height), command], check=True)
    return status


def _exited(status: Path, code: int) -> None:
    assert wait_until(lambda: _status(status), "top's exit status") == f"EXITED {code}\n"


def test_top_in_a_real_80x24_terminal(instance, tmux_session, spin, tmp_path):
    cpu = max(os.sched_getaffinity(0))
    spin(0, cpu)  # until the test ends, however long top takes to show them
    spin(5, cpu)
    status = _start_top(instance, tmux_session, tmp_path)
    screen = _wait_screen(tmux_session, "lottery-work", "Jain's index")
    assert max(len(line) for line in screen.splitlines()) <= 80
    keys = ["g"] * (len(GROUPINGS) - 1) + ["s", "g"]
    for key in keys:  # into every grouping, and back
        subprocess.run(["tmux", "send-keys", "-t", tmux_session, key], check=True)
        time.sleep(0.3)
    assert "by thread" in _wait_screen(tmux_session, "by thread")
    # the waits' pane: the two spinners take turns on one CPU
    subprocess.run(["tmux", "send-keys", "-t", tmux_session, "l"], check=True)
    screen = _wait_screen(tmux_session, "run-queue waits of the", "distribution")
    assert re.search(r"\d+ -> \d+ +: \d+ +\|\*", screen), screen
    assert max(len(line) for line in screen.splitlines()) <= 80
    subprocess.run(["tmux", "send-keys", "-t", tmux_session, "q"], check=True)
    _exited(status, 0)
    screen = _wait_screen(tmux_session, "EXITED")
    assert "EXITED 0" in screen and "Traceback" not in screen, screen


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_by_signal_ends_top_at_once_with_its_status(instance, tmux_session, stop,
                                                           tmp_path):
    status = _start_top(instance, tmux_session, tmp_path, 200, 50)
    _wait_screen(tmux_session, "Jain's index")
    pid = _top_pid(str(instance.dir))
    before = _snapshots(instance)
    os.kill(pid, stop)
    _ends_at_once(pid, instance, before)  # once, a top ignored SIGTERM for seconds
    _exited(status, 128 + stop)
    assert "Traceback" not in _screen(tmux_session)


def test_a_terminal_that_goes_away_ends_top(instance, tmux_session, tmp_path):
    _start_top(instance, tmux_session, tmp_path)
    _wait_screen(tmux_session, "Jain's index")
    pid = _top_pid(str(instance.dir))
    before = _snapshots(instance)
    subprocess.run(["tmux", "kill-session", "-t", tmux_session], check=True)
    _ends_at_once(pid, instance, before)


def test_a_task_named_like_markup_shows_as_it_is_named(instance, tmux_session, tmp_path):
    """A task may name itself anything: "[/x]evil[b]" is a closing tag with
    no opening one to Rich's markup (and [b] bold), which top must show as
    text, not parse (before: a MarkupError ended top)."""
    name = "[/x]evil[b]"
    code = (f"open('/proc/self/comm', 'w').write({name!r})\n"
            "while True:\n    pass\n")
    spinner = subprocess.Popen([sys.executable, "-c", code])
    try:
        wait_until(lambda: Path(f"/proc/{spinner.pid}/comm").read_text() == name + "\n",
                   "the spinner's name")
        status = _start_top(instance, tmux_session, tmp_path, 200, 50)
        screen = _wait_screen(tmux_session, name, "Jain's index")
        assert "Traceback" not in screen and not _status(status), screen
    finally:
        spinner.kill()
        spinner.wait()


def test_the_soak_reads_tops_interval_from_its_status_line():
    """`make soak` times top by the interval its status line shows: the
    pattern it reads finds it, paused or not."""
    from benchmarks.soak import _TOP_STATUS
    from orchestrator.sinks.live import status_head

    pipeline = Pipeline(tickets.FLAT)
    pipeline.frame(_snap(0, {101: 0}))
    frame = pipeline.frame(_snap(1, {101: 750_000_000}), 1.0)
    for paused in (False, True):
        found = _TOP_STATUS.search(f"{status_head(paused, frame)}  conservation -")
        assert found and float(found.group(2)) == pytest.approx(frame.interval_s, abs=5e-4)
        assert found.group(1) == time.strftime("%H:%M:%S", time.localtime(frame.timestamp_s))
