"""CPU limits (CFS bandwidth) and demand under saturation, on the real
kernel: expected shares against what the kernel gave the same tasks
(/proc/PID/schedstat), throttling against the cgroup's own cpu.stat.

Only the test's own tasks and groups are compared: tasks other users run
on the same CPU change their shares, not the ratios among these."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from conftest import normalised, schedstat_runtime, wait_until

from orchestrator import workload
from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Pipeline
from orchestrator.kernel import snapshot

CPU = max(os.sched_getaffinity(0))


def _throttled_ns(group) -> int:
    for line in (group / "cpu.stat").read_text().splitlines():
        name, value = line.split()
        if name in ("throttled_time", "throttled_usec"):
            return int(value) * (1000 if name == "throttled_usec" else 1)
    raise AssertionError(f"no throttled time in {group}/cpu.stat")


def _measure(instance, pids, limited, span_s=2.0):
    """One interval of `span_s` while `pids` run (they are stopped after):
    the frame's records of them, their expected shares and the kernel's
    shares among them (each 3 pp of the other), the snapshot, and the
    limited group's throttled time read from cpu.stat just before and just
    after the snapshot that ends the interval."""
    try:
        pipeline = Pipeline(tickets.WEIGHT)
        time.sleep(0.5)  # the quota's first periods: let it settle into throttling
        pipeline.frame(snapshot.take(instance))
        before = schedstat_runtime(pids)
        time.sleep(span_s)
        around = [_throttled_ns(limited)]
        snap = snapshot.take(instance)
        around.append(_throttled_ns(limited))
        frame = pipeline.frame(snap)
        after = schedstat_runtime(pids)
    finally:
        workload.stop(pids)
        workload.wait(pids)
    records = {r.pid: r for r in frame.tasks if r.pid in pids}
    expected = normalised({pid: records[pid].expected_share for pid in pids})
    given = normalised({pid: after[pid] - before[pid] for pid in pids})
    for pid in pids:
        assert expected[pid] == pytest.approx(given[pid], abs=0.03), (expected, given)
    return records, given, snap, around


def _outweigh_others(cgroups) -> None:
    """Give the test's own tree the most weight a group may have, so that
    other users' tasks on the CPU take little of it: where a group's half is
    near its quota, throttling costs it more than the quota (measured: 15 %
    of the CPU for a 20 % quota), which no share model foresees."""
    most = "262144" if cgroups.knob == "cpu.shares" else "10000"
    (cgroups.root / cgroups.knob).write_text(most)


def bound(snap, path) -> bool:
    """Did the group's quota hold it off in most periods since it was made?
    (The kernel's own count: then its half was more than its quota.)"""
    g = next(g for g in snap.groups.values() if g.name == path.name)
    return g.throttled_periods > 0.5 * g.periods


def test_a_quota_caps_its_currency_and_its_cost_reads_as_throttled(instance, cgroups, spin):
    """Q (20% of a CPU) and F of equal weight, one spinner each on one CPU:
    the kernel gives Q 20 % of the CPU, not the half its weight is worth."""
    _outweigh_others(cgroups)
    q, f = cgroups.make("Q", 1024), cgroups.make("F", 1024)
    cgroups.limit(q, 0.2)
    pids = spin(0, CPU, cgroup=q) + spin(0, CPU, cgroup=f)
    records, given, snap, around = _measure(instance, pids, q)
    assert bound(snap, q)
    assert given[pids[0]] < 0.45, given  # weight alone would give half
    qr, fr = records[pids[0]], records[pids[1]]
    assert qr.quota_cpus == 0.2 and fr.quota_cpus is None
    assert qr.throttled_ms > 0 and fr.throttled_ms is None
    # the group's counter in the snapshot is the one cpu.stat shows
    limited = next(g for g in snap.groups.values() if g.name == q.name)
    assert around[0] <= limited.throttled_ns <= around[1]
    assert limited.quota_ns == 20_000_000 and limited.period_ns == 100_000_000
    assert limited.throttled_periods > 0 and limited.periods >= limited.throttled_periods
    # what Q ran short of its half is put to its quota, and adds up
    assert qr.deficit_throttled_ms > 0.5 * qr.deficit_ms > 0
    parts = (qr.deficit_cpus_ms + qr.deficit_throttled_ms + qr.deficit_waited_ms
             + qr.deficit_unasked_ms)
    assert parts == pytest.approx(qr.deficit_ms, abs=0.01)


def test_a_nested_quota_caps_the_groups_below_it(instance, cgroups, spin):
    """P (30% of a CPU) holds A (2048) and B (1024); F competes beside P:
    the kernel gives about 20 / 10 / 70 %, and so must the expected shares."""
    _outweigh_others(cgroups)
    p = cgroups.make("P", 1024)
    cgroups.nest(p)
    a, b = cgroups.make("A", 2048, parent=p), cgroups.make("B", 1024, parent=p)
    f = cgroups.make("F", 1024)
    cgroups.limit(p, 0.3)
    pids = spin(0, CPU, cgroup=a) + spin(0, CPU, cgroup=b) + spin(0, CPU, cgroup=f)
    records, given, snap, _ = _measure(instance, pids, p)
    assert given[pids[0]] + given[pids[1]] < 0.45, given  # P held below its half
    assert records[pids[0]].quota_cpus == 0.3 == records[pids[1]].quota_cpus
    assert records[pids[0]].throttled_ms > 0


def _session_tasks(sid: int) -> list[int]:
    """The threads of the processes of session `sid`."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid:
                    out += [int(t) for t in os.listdir(f"/proc/{entry}/task")]
            except (OSError, IndexError, ValueError):
                continue
    return out


@pytest.mark.alone
def test_a_saturated_machine_owes_a_short_burst_what_it_asked_for(instance):
    """stress-ng --cpu 2 --switch 2, unpinned, in a session of its own,
    beside a 0.2 ms burst every 50 ms that waits behind the workers: the
    burst is not owed a share of the machine for its wait (before: a
    thread that ran 0.1 ms was expected 13-28 %), and the CPU workers, which
    never sleep, are owed all the time they waited.  On a quiet machine the
    workers' expected shares add up to what they took (docs/ANALYSIS.md);
    on a shared one other sessions move that sum, so it is not asserted."""
    burst = ("import time\n"
             "while True:\n"
             "    end = time.perf_counter() + 0.0002\n"
             "    while time.perf_counter() < end: pass\n"
             "    time.sleep(0.05)\n")
    stress = subprocess.Popen(["setsid", "stress-ng", "--cpu", "2", "--switch", "2", "-t", "60"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sid = stress.pid  # setsid execs in place when it is not a group leader
        wait_until(lambda: len(_session_tasks(sid)) >= 7, "stress-ng's six workers")
        short = subprocess.Popen(["setsid", "python3", "-c", burst])
        try:
            time.sleep(0.5)  # past python's start-up, which is no short burst
            pipeline = Pipeline(tickets.WEIGHT)
            slept = {r.pid: r.voluntary_switches
                     for r in pipeline.frame(snapshot.take(instance)).tasks}
            time.sleep(2.0)
            frame = pipeline.frame(snapshot.take(instance))
            session = set(_session_tasks(sid))
        finally:
            short.kill()
            short.wait()
    finally:
        os.killpg(sid, signal.SIGKILL)
        stress.wait()
    workers = {r.pid: r for r in frame.tasks
               if r.pid in session and r.comm.startswith("stress-ng-")}
    assert len(workers) == 6, [(r.pid, r.comm) for r in workers.values()]
    mine = next(r for r in frame.tasks if r.pid == short.pid)
    # short: python's own work around each burst makes it 1-4 % on a busy VM
    seen = (mine.runtime_delta_ns, mine.wait_delta_ns, mine.switches_delta, mine.runs_delta,
            mine.demand_ms, mine.observed_share, mine.expected_share)
    assert mine.observed_share < 0.05, seen
    assert mine.wait_delta_ns > 0, seen  # it did wait: the wait is latency, not demand
    assert mine.demand_ms <= 2 * mine.runtime_delta_ns / 1e6 + 0.01, seen
    assert mine.expected_share <= min(0.05, 2 * mine.observed_share + 0.005), seen
    for r in workers.values():
        if r.comm == "stress-ng-cpu" and r.voluntary_switches == slept[r.pid]:
            # a hog that never slept: everything it waited, it wanted
            asked = (r.runtime_delta_ns + r.wait_delta_ns) / 1e6
            assert r.demand_ms == pytest.approx(asked, abs=0.002), r
