"""Run-queue waits by length (issue 22), on the real kernel: a workload of
the test's own in a cgroup of its own (two CPU hogs and a pipe ping-pong
on one CPU), against the kernel's own accounting (/proc/PID/schedstat) and
against libbpf-tools' runqlat over the same window."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PATIENCE_S, pids_apart, run_lottery, wait_until

from orchestrator import waits, workload
from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Pipeline
from orchestrator.kernel import snapshot, tools
from orchestrator.sinks import latency

CPU = max(os.sched_getaffinity(0))

# Two processes hand a byte back and forth through two pipes: each wakes the
# other, which then waits behind the hogs on their one CPU.
PING_PONG = """
import os, sys
open(os.path.join(sys.argv[1], "cgroup.procs"), "w").write(str(os.getpid()))
os.sched_setaffinity(0, {int(sys.argv[2])})
there, back = os.pipe(), os.pipe()
if os.fork() == 0:
    while os.read(there[0], 1):
        os.write(back[1], b"x")
    os._exit(0)
while True:
    os.write(there[1], b"x")
    os.read(back[0], 1)
"""


def _schedstat(pid: int) -> tuple[int, int]:
    """run_delay and pcount of a task (/proc/PID/schedstat)."""
    _, delay, runs = Path(f"/proc/{pid}/schedstat").read_text().split()
    return int(delay), int(runs)


def _stopped(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] in "tT"


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        os.kill(pid, signum)
    if signum == signal.SIGSTOP:  # switched out, its last wait counted
        for pid in pids:
            wait_until(lambda pid=pid: _stopped(pid), f"task {pid} to stop")


class _Workload:
    def __init__(self, group: Path) -> None:
        self.hogs = workload.start(0, PATIENCE_S, CPU, procs=2, cgroup=group)
        self.pong = subprocess.Popen([sys.executable, "-c", PING_PONG, str(group), str(CPU)])
        children = Path(f"/proc/{self.pong.pid}/task/{self.pong.pid}/children")
        self.child = int(wait_until(lambda: children.read_text().split(), "the ping-pong")[0])
        self.pids = [*self.hogs, self.pong.pid, self.child]

    def stop(self) -> None:
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        workload.wait(self.hogs)
        self.pong.wait()


@pytest.fixture
def busy_group(cgroups):
    group = cgroups.make("latency", 1024)
    work = _Workload(group)
    try:
        yield group, work
    finally:
        work.stop()


def test_waits_add_up_to_the_kernels_runs_and_run_delay(instance, busy_group):
    """Between two moments the tasks are stopped at (each switched out, so
    each of its runs has had its wait counted), every task's slots add up
    to the growth of its pcount and its wait to that of run_delay, and the
    group's histogram is its tasks' (only they are in it)."""
    group, work = busy_group
    pipeline = Pipeline(tickets.WEIGHT)
    with snapshot.session(instance) as reader:
        _signal_all(work.pids, signal.SIGSTOP)
        before = {pid: _schedstat(pid) for pid in work.pids}
        pipeline.frame(reader.take())
        _signal_all(work.pids, signal.SIGCONT)
        time.sleep(1.0)
        _signal_all(work.pids, signal.SIGSTOP)
        after = {pid: _schedstat(pid) for pid in work.pids}
        frame = pipeline.frame(reader.take())
        _signal_all(work.pids, signal.SIGCONT)
    mine = {r.pid: r for r in frame.tasks if r.pid in work.pids}
    assert mine.keys() == set(work.pids)
    total = [0] * waits.slots()
    for pid, r in mine.items():
        delay, runs = (a - b for a, b in zip(after[pid], before[pid], strict=True))
        counts = waits.decode(r.wait_slots)
        assert runs > 10 and sum(counts) == runs, (r.comm, counts, runs)
        assert r.wait_delta_ns == delay
        # each wait in its slot: the slots' bounds hold the kernel's run_delay
        low = sum(n * waits.lower_us(k) * 1000 for k, n in enumerate(counts))
        high = sum(n * waits.upper_us(k) * 1000 for k, n in enumerate(counts) if n)
        assert low <= delay < high, (r.comm, low, delay, high)
        waits.add(total, counts)
    # the ping-pong's waits are short, the hogs' a slice or more: not one slot
    assert len([n for n in total if n]) >= 3, total
    paths = {r.group for r in mine.values()}
    assert len(paths) == 1 and paths != {None}
    (path,) = paths
    assert latency.histograms(frame, "group")[path] == total
    low = sum(n * waits.lower_us(k) * 1000 for k, n in enumerate(total))
    high = sum(n * waits.upper_us(k) * 1000 for k, n in enumerate(total) if n)
    print(f"{len(mine)} tasks: {sum(total)} waits = pcount growth "
          f"{sum(after[p][1] - before[p][1] for p in mine)}; wait "
          f"{sum(r.wait_delta_ns for r in mine.values())} ns = run_delay growth "
          f"{sum(after[p][0] - before[p][0] for p in mine)} ns, within the slots' "
          f"bounds {low:.0f} .. {high:.0f} ns")
    # every CPU's waits are there too, and add up to at least this group's
    cpus = latency.histograms(frame, "cpu")
    assert sum(map(sum, cpus.values())) >= sum(total) and f"cpu {CPU}" in cpus


def _runqlat(text: str, pids: list[int]) -> list[int]:
    """The waits `runqlat -P` printed for processes `pids`, summed, by slot."""
    total = [0] * waits.slots()
    mine = False
    for line in text.splitlines():
        if (head := re.match(r"\s*pid = (\d+)", line)) is not None:
            mine = int(head.group(1)) in pids
        elif mine and (bar := re.match(r"\s*(\d+) -> (\d+)\s*: (\d+)", line)):
            low = int(bar.group(1))
            total[max(low.bit_length() - 1, 0)] += int(bar.group(3))
    return total


def _slot(counts: list[int], q: float) -> int:
    value = waits.quantile(counts, q)
    return max(int(value).bit_length() - 1, 0)


def test_quantiles_fall_in_runqlats_slot_or_the_next(instance, busy_group):
    """Over one window, runqlat -P and lottery count the same workload's
    waits: p50 and p99 in the same log2 slot, or a neighbouring one."""
    group, work = busy_group
    pipeline = Pipeline(tickets.WEIGHT)
    # line-buffered: into a pipe, its "Tracing" line would wait in its stdio
    # until it ends (the windows then did not overlap at all)
    runqlat = subprocess.Popen([tools.require("stdbuf"), "-oL", tools.require("runqlat"), "-P",
                                "2", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        with snapshot.session(instance) as reader:
            # its window begins as it says it traces, and ends as it prints
            assert "Tracing" in runqlat.stdout.readline()
            pipeline.frame(reader.take())
            printed = runqlat.stdout.read()
            frame = pipeline.frame(reader.take())
        assert runqlat.wait(timeout=PATIENCE_S) == 0, runqlat.stderr.read()
    finally:
        runqlat.kill()
        runqlat.wait()
    theirs = _runqlat(printed, [*work.hogs, work.pong.pid, work.child])
    ours = [0] * waits.slots()
    for r in frame.tasks:
        if r.pid in work.pids:
            waits.add(ours, waits.decode(r.wait_slots))
    assert sum(theirs) > 100 and sum(ours) > 100
    for q in (0.5, 0.99):
        assert abs(_slot(ours, q) - _slot(theirs, q)) <= 1, (q, ours, theirs)
    # as many waits, but for the windows' ends: runqlat's begins as it has
    # attached, ours at the first walk after it says so, and its end is its
    # print, ours the walk after; a busy machine may delay either
    assert sum(ours) == pytest.approx(sum(theirs), rel=0.2)
    print(f"waits: lottery {sum(ours)}, runqlat {sum(theirs)}; slot of p50 "
          f"{_slot(ours, 0.5)} / {_slot(theirs, 0.5)}, of p99 {_slot(ours, 0.99)} / "
          f"{_slot(theirs, 0.99)}")


def test_dump_prints_the_groups_waits_as_runqlat_does(instance, busy_group):
    group, work = busy_group
    done = run_lottery("dump", "1", "1", "-q", "--latency", "--top", "50", "--pin-dir",
                       str(instance.dir))
    assert done.returncode == 0, done.stderr
    path = f"/{group.parent.name}/{group.name}"
    assert f"{path}: " in done.stdout, done.stdout
    block = done.stdout.split(f"{path}: ")[1].split("\n\n")[0]
    assert "usecs" in block and "distribution" in block
    assert re.search(r"\d+ -> \d+\s+: \d+\s+\|\*+", block), block
    cpus = run_lottery("dump", "1", "1", "-q", "--latency", "cpu", "--pin-dir",
                       str(instance.dir))
    assert cpus.returncode == 0, cpus.stderr
    assert all(f"cpu {cpu}: " in cpus.stdout for cpu in range(os.cpu_count()))
    wrong = run_lottery("dump", "1", "1", "--latency", "disk", "--pin-dir", str(instance.dir))
    assert wrong.returncode != 0 and "--latency 'disk' is not known" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


# Runs and sleeps in turn on one CPU: a wait at each wakeup, behind the other.
_SHORT_RUNS = """
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
print("ready", flush=True)
while True:
    end = time.thread_time() + 0.0003
    while time.thread_time() < end:
        pass
    time.sleep(0.0002)
"""


def _wait_entry(instance, pid: int) -> dict:
    """wait_table's entry at `pid` (its index: pid modulo WAIT_TABLE)."""
    from orchestrator.header import define

    at = pid % define("WAIT_TABLE")
    found = tools.bpftool(["map", "lookup", "pinned", str(instance.dir / "wait_table"),
                           "key", *(str(b) for b in at.to_bytes(4, sys.byteorder))])
    return found["formatted"]["value"]


def test_two_tasks_whose_pids_share_a_wait_entry_count_every_wait(instance):
    """on_switch counts each task's waits in an array by pid modulo
    WAIT_TABLE: of two live tasks whose pids share an entry, one holds it
    and the other counts in its task storage. Both count every run's wait
    from their first (born after the load, a task's slots add up to its
    pcount exactly), and an exit leaves the entry free of them."""
    from orchestrator.header import define

    argv = [sys.executable, "-c", _SHORT_RUNS, str(CPU)]
    with pids_apart(define("WAIT_TABLE"), argv) as procs:
        pids = [p.pid for p in procs]
        with snapshot.session(instance) as reader:
            time.sleep(0.5)
            _signal_all(pids, signal.SIGSTOP)
            runs = {pid: _schedstat(pid)[1] for pid in pids}
            rows = {t.pid: t for t in reader.take().tasks if t.pid in pids}
            _signal_all(pids, signal.SIGCONT)
            assert rows.keys() == set(pids)
            for pid in pids:
                assert runs[pid] > 100 and sum(rows[pid].waits) == runs[pid] == rows[pid].runs, \
                    (pid, runs[pid], rows[pid].runs, rows[pid].waits)
            entry = _wait_entry(instance, pids[0])
            # one of the two holds the entry, and it holds its own waits
            held = [pid for pid in pids if rows[pid].start_ns == entry["start_ns"]]
            assert len(held) == 1, (entry["start_ns"], [rows[p].start_ns for p in pids])
            print(f"pids {pids}: the entry is {held[0]}'s; runs {runs}")
            for proc in procs:
                proc.kill()
                proc.wait()
            exits = {t.pid: t for t in reader.take().exits if t.pid in pids}
        assert exits.keys() == set(pids)
        for pid in pids:  # a last wait: woken to die
            assert sum(exits[pid].waits) == exits[pid].runs > runs[pid], pid
        entry = _wait_entry(instance, pids[0])  # free, or another task's since
        assert entry["task"] == 0 or entry["start_ns"] not in {rows[p].start_ns for p in pids}


# Stops itself whenever it is let go: each SIGCONT is one run, so one wait.
# SCHED_IDLE beside a hog of its session, so that it does wait: at nice 0,
# and even at nice 19, it was at times run at once, every time (waits of 0).
_ONE_RUN = """
import os, signal, sys
os.sched_setaffinity(0, {int(sys.argv[1])})
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
print("ready", flush=True)
while True:
    os.kill(os.getpid(), signal.SIGSTOP)
"""


def _longest_ns(frame, pid: int) -> int:
    (r,) = [r for r in frame.tasks if r.pid == pid and r.state == "alive"]
    return round(r.wait_longest_us * 1000)


def test_the_longest_wait_is_of_each_readers_own_interval(instance, spin):
    """A task that runs once each time it is continued, beside a hog on its
    CPU: where it ran once in an interval, its longest wait there is that
    one wait, the growth of its run_delay, to the nanosecond; a second
    reader sampling every other time gets the longer of the two waits (its
    own interval), not either reader's since load."""
    spin(0, CPU)  # pinned and spinning first; in this session: its task group
    proc = subprocess.Popen([sys.executable, "-c", _ONE_RUN, str(CPU)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        pid = proc.pid
        wait_until(lambda: _stopped(pid), "the task to stop")
        fast, slow = Pipeline(tickets.WEIGHT), Pipeline(tickets.WEIGHT)
        with snapshot.session(instance) as a, snapshot.session(instance) as b:
            fast.frame(a.take())
            slow.frame(b.take())
            seen = []  # (runs, run_delay growth, fast reader's longest) per interval
            pairs = []  # (the slow reader's longest, the two intervals it spans)
            for i in range(8):
                delay0, runs0 = _schedstat(pid)
                os.kill(pid, signal.SIGCONT)
                wait_until(lambda runs0=runs0: _stopped(pid) and _schedstat(pid)[1] > runs0,
                           "the task to run and stop")
                delay1, runs1 = _schedstat(pid)
                seen.append((runs1 - runs0, delay1 - delay0,
                             _longest_ns(fast.frame(a.take()), pid)))
                if i % 2:
                    pairs.append((_longest_ns(slow.frame(b.take()), pid), seen[-2:]))
    finally:
        proc.kill()
        proc.wait()
    once = [(delay, longest) for runs, delay, longest in seen if runs == 1]
    print(f"ran once in {len(once)} of {len(seen)} intervals: run_delay growth and longest "
          f"wait (ns) {once}")
    assert len(once) >= 4, seen
    assert all(longest == delay for delay, longest in once), seen
    for runs, delay, longest in seen:  # preempted: each of its waits is within the growth
        assert longest <= delay <= longest * runs, seen
    for longest, two in pairs:
        if all(runs == 1 for runs, _, _ in two):
            assert longest == max(delay for _, delay, _ in two), (longest, two)
    assert len({longest for _, _, longest in seen if longest}) > 1  # not one since load
