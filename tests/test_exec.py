"""A thread that calls exec takes over its leader's pid and start time, with
its own numbers (de_thread).  On the real kernel: the deltas go on from the
thread's numbers, none goes negative, they add up to what the process used
(its rusage), and the exporter's counters never go back."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time

import pytest

from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Pipeline
from orchestrator.exporter.totals import OTHER, Totals
from orchestrator.kernel import snapshot

# The case: the main thread runs 1.0 s, a second thread 0.3 s and
# then calls exec; the new program runs 0.5 s.  The leader ran more than the
# thread: its key's numbers went back by 0.5 s (a row of -501 ms before).
# First the leader sleeps briefly 3,000 times: a thread that counted its waits
# on from its leader's would show more waits than runs.
PROGRAM = textwrap.dedent("""
    import os, sys, threading, time
    def spin(s):
        end = time.thread_time() + s
        while time.thread_time() < end:
            pass
    if sys.argv[1:] == ["child"]:
        spin(0.5)
        sys.exit(0)
    for _ in range(3000):  # the leader's runs outnumber the thread's
        time.sleep(0.0001)
    spin(1.0)
    def second():
        spin(0.3)
        os.execv(sys.executable, [sys.executable, __file__, "child"])
    threading.Thread(target=second).start()
    time.sleep(30)
""")


@pytest.mark.alone
@pytest.mark.parametrize("every_s", [0.25, 1.0])
def test_exec_from_a_thread_keeps_every_number(instance, tmp_path, every_s):
    """Sampled often, the thread is seen before it calls exec; once a second,
    it is mostly born and gone between two samples (its numbers then go on
    from zero: it started after the sample before)."""
    script = tmp_path / "exec_from_thread.py"
    script.write_text(PROGRAM)
    pipeline = Pipeline(tickets.WEIGHT)
    pipeline.frame(snapshot.take(instance))  # the baseline, before the process starts
    pid = os.spawnv(os.P_NOWAIT, sys.executable, [sys.executable, str(script)])
    # waited for in a thread: a WNOHANG wait4 that falls while the thread's
    # exec swaps it with its leader found no child here (ECHILD)
    usage = []
    waiter = threading.Thread(target=lambda: usage.append(os.wait4(pid, 0)[2]), daemon=True)
    waiter.start()
    totals = Totals(lambda tasks: lambda r: (str(r.tgid),) if r.tgid == pid else None, 1,
                    (OTHER,))
    records, shown, after_exec, rows = [], [], [], []
    try:
        ended, after = None, 0
        while after < 2:  # two readings after it ended
            after += ended is not None
            time.sleep(every_s)
            snap = snapshot.take(instance)
            rows += [t for t in (*snap.tasks, *snap.exits) if t.tgid == pid]
            frame = pipeline.frame(snap)
            mine = [r for r in frame.tasks if r.tgid == pid]
            records += mine
            series = totals.update(frame).get((str(pid),))
            if series is not None:
                shown.append(series.numbers.cpu_ns)
                if any(r.exec_from is not None or r.state == "exited" for r in mine):
                    after_exec.append(series.numbers.cpu_ns)
            if ended is None and usage:
                ended = frame
                spent_ns = round((usage[0].ru_utime + usage[0].ru_stime) * 1e9)
    finally:
        if ended is None:
            os.kill(pid, 9)
            waiter.join()
    assert any(r.exec_from is not None for r in records), records  # seen as such
    assert all(r.runtime_delta_ns is None or r.runtime_delta_ns >= 0 for r in records), [
        (r.pid, r.state, r.runtime_ns, r.runtime_delta_ns) for r in records]
    counted = sum(r.runtime_delta_ns or 0 for r in records)
    # the process's rusage, from its exact runtime rounded to microseconds;
    # sampled once a second, the thread mostly exits in the interval it
    # called exec in, and its exit row replaces its leader's (one key): the
    # leader's time since the sample before is not known (measured: 21 ms)
    lost_ns = 20_000_000 if every_s < 0.5 else 60_000_000
    assert spent_ns - lost_ns <= counted <= spent_ns + 20_000_000, (counted, spent_ns)
    assert counted > 1_700_000_000  # 1.8 s of work, less no part of it
    assert shown == sorted(shown), shown  # the counter never goes back
    # once the thread has called exec, the leader's 1.0 s and the thread's
    # 0.3 s stay in it while the new program runs (before, the key's numbers
    # fell to the thread's)
    assert all(v >= 1_300_000_000 for v in after_exec), (after_exec, shown)
    # Waits: the thread that execs takes its leader's pid and start time, and
    # the leader may switch out for the last time after that, under the
    # thread's old pid: neither ever counts from the other's baseline (a
    # wait of run_delay less another task's: 2^64 less a little, the last
    # slot), and no task has more waits than runs.
    assert rows and all(sum(t.waits) <= t.runs and not t.waits[-1] for t in rows), [
        (t.pid, t.exited, t.runs, t.waits) for t in rows if sum(t.waits) > t.runs or t.waits[-1]]
    print(f"every {every_s} s: counted {counted / 1e9:.3f} s of {spent_ns / 1e9:.3f} s "
          f"(rusage); smallest delta {min(r.runtime_delta_ns or 0 for r in records) / 1e6:.1f} "
          f"ms; exporter counter {shown[0] / 1e9:.4f} -> {shown[-1] / 1e9:.4f} s, never back")
