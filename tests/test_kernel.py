"""The real program on the real kernel, checked against the kernel's own
accounting in /proc.  Workloads share one CPU so that they really compete.

Other users' tasks share the machine: workloads run until stopped (not for
a time a busy machine might not give them), and an exited task is looked at
before it is reaped, while its pid cannot be another task's."""

from __future__ import annotations

import csv
import glob
import os
import signal
import subprocess
import time

import pytest
from conftest import PATIENCE_S, ratio_allowed, run_lottery, wait_until

from orchestrator import workload
from orchestrator.kernel import snapshot
from orchestrator.sampling import deltas

CPU = max(os.sched_getaffinity(0))


def _proc(pid: int) -> tuple[int, int, int]:
    """(runtime_ns, wait_ns, switches) as /proc/PID counts them."""
    with open(f"/proc/{pid}/schedstat") as handle:
        runtime, wait, _ = map(int, handle.read().split())
    with open(f"/proc/{pid}/status") as handle:
        switches = sum(int(line.split()[1]) for line in handle if "ctxt_switches" in line)
    return runtime, wait, switches


def _rows(snap, pids):
    """Live rows, and the newest exit row of each pid."""
    return {t.pid: t for t in (*snap.tasks, *snap.exits) if t.pid in pids}


def _rel(a: int, b: int) -> float:
    return abs(a - b) / b


def _wait_exit_unreaped(pid: int) -> None:
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # a zombie still has /proc/PID


def test_live_task_numbers_match_proc(instance, spin):
    pids = spin(0, CPU) + spin(5, CPU)
    try:
        time.sleep(1.5)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)  # frozen, so both readers see one moment
        time.sleep(0.05)
        expected = {pid: _proc(pid) for pid in pids}
        rows = _rows(snapshot.take(instance), pids)
    finally:
        workload.stop(pids)
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        workload.wait(pids)
    for pid in pids:
        runtime, wait, switches = expected[pid]
        row = rows[pid]
        assert not row.exited
        assert _rel(row.runtime_ns, runtime) < 0.01, (row.runtime_ns, runtime)
        assert _rel(row.switches, switches) < 0.01, (row.switches, switches)
        assert _rel(row.wait_ns, wait) < 0.01, (row.wait_ns, wait)


def test_exited_task_numbers_match_proc(instance):
    pids = workload.start(0, 1.5, CPU) + workload.start(5, 1.5, CPU)
    for pid in pids:
        _wait_exit_unreaped(pid)
    expected = {pid: _proc(pid) for pid in pids}
    rows = _rows(snapshot.take(instance), pids)
    workload.wait(pids)
    for pid in pids:
        runtime, _, switches = expected[pid]
        assert rows[pid].exited
        assert _rel(rows[pid].runtime_ns, runtime) < 0.01
        assert _rel(rows[pid].switches, switches) < 0.01
    # nice 0 against nice 5 on one CPU: the kernel's weights say 1024:335
    ratio = rows[pids[0]].runtime_ns / rows[pids[1]].runtime_ns
    assert ratio == pytest.approx(1024 / 335, rel=0.1)


def _two_samples(instance, pids, warmup_s: float, span_s: float = 2.0):
    """Samples `span_s` apart while the workloads run; then stop them."""
    try:
        time.sleep(warmup_s)
        first = snapshot.take(instance)
        time.sleep(span_s)
        return first, snapshot.take(instance)
    finally:
        workload.stop(pids)
        workload.wait(pids)


@pytest.mark.alone
def test_tasks_plus_idle_fill_every_cpu_within_one_percent(instance, spin):
    pids = spin(0, CPU) + spin(5, CPU)
    first, second = _two_samples(instance, pids, 0.3)
    check = deltas.compare(first, second).conservation
    assert check.cpus == os.cpu_count()
    assert abs(check.error) < 0.01, check


def test_two_tasks_on_one_cpu_wait_while_the_other_runs(instance, spin):
    a, b = spin(0, CPU) + spin(0, CPU)
    first, second = _two_samples(instance, [a, b], 0.5)
    rows = {r.task.pid: r for r in deltas.compare(first, second).tasks}
    span_ns = second.info.start_ns - first.info.start_ns
    for me, other in ((a, b), (b, a)):
        # CPU-bound and pinned, a task is always runnable: it runs or it waits,
        # and it waits at least while the other runs (longer when other load
        # on the machine takes that CPU too)
        mine = rows[me]
        assert mine.runtime_delta_ns + mine.wait_delta_ns == pytest.approx(span_ns, rel=0.05)
        assert mine.wait_delta_ns >= 0.95 * rows[other].runtime_delta_ns
    for pid in (a, b):  # a single wait is at most a few slices, never the whole run
        assert 0 < second.tasks[[t.pid for t in second.tasks].index(pid)].wait_max_ns < 100e6


def test_an_exit_is_shown_once_by_each_reader(instance):
    readers = [deltas.Reader() for _ in range(2)]
    for reader in readers:
        reader.advance(snapshot.take(instance))
    (pid,) = workload.start(0, 0.2, CPU)
    _wait_exit_unreaped(pid)
    ran_ns = _proc(pid)[0]  # however much CPU a busy machine gave it
    try:
        for reader in readers:
            seen = [[r for r in reader.advance(snapshot.take(instance)).tasks
                     if r.task.pid == pid] for _ in range(3)]
            assert [len(s) for s in seen] == [1, 0, 0]
            assert seen[0][0].task.exited and ran_ns > 0
            # its whole life, counted from its start
            assert _rel(seen[0][0].runtime_delta_ns, ran_ns) < 0.01
    finally:
        workload.wait([pid])


def _old_and_new(instance) -> tuple:
    """A task's exit row, and a task given its pid again (through
    ns_last_pid) once it was reaped.  On a busy machine others' forks may
    take the pid first, and keep it (a long-lived thread, say): then a new
    old task is made, until one pid is won back."""
    deadline = time.monotonic() + PATIENCE_S
    taken, missed = 0, []
    while time.monotonic() < deadline:
        (old,) = workload.start(0, 0.5, CPU)
        _wait_exit_unreaped(old)  # its exit row is its own while no task can take its pid
        old_row = _rows(snapshot.take(instance), {old})[old]
        workload.wait([old])
        for _ in range(5):
            if os.path.exists(f"/proc/{old}"):
                taken += 1
                break  # another user's task has the pid now
            # another fork may take the pid between these lines: try again
            with open("/proc/sys/kernel/ns_last_pid", "w") as handle:
                handle.write(str(old - 1))
            forked_ns = time.monotonic_ns()  # other users' tasks may have had this pid too
            (new,) = workload.start(0, 0.05, CPU)
            if new == old:
                return old_row, new, forked_ns
            missed.append(new - old)
            workload.stop([new])
            workload.wait([new])
    raise AssertionError(f"no pid was won back in {PATIENCE_S:.0f} s: taken by others "
                         f"{taken} times, forks landed at old + {missed[-20:]}")


def test_reused_pid_starts_from_zero(instance):
    old_row, new, forked_ns = _old_and_new(instance)
    _wait_exit_unreaped(new)
    runtime, _, _ = _proc(new)
    rows = [t for t in snapshot.take(instance).exits if t.pid == new and t.start_ns >= forked_ns]
    workload.wait([new])
    assert len(rows) == 1
    # counted from zero: the row is the new task's own count, which it would
    # miss by far had it kept the old task's numbers (ten times more work,
    # and a busy machine shares its CPU among both alike)
    assert old_row.runtime_ns > runtime
    assert _rel(rows[0].runtime_ns, runtime) < 0.01


def _visible_threads() -> set[int]:
    """Live threads in /proc, less those the kernel hides even from root
    (this sandbox shields its own agent, pid 1: its ns links answer EACCES).
    A thread that has exited stays in /proc until it is reaped (state Z or
    X), and a walk passes it over: its numbers come with its exit."""
    seen = set()
    for path in glob.glob("/proc/[0-9]*/task/[0-9]*"):
        try:
            os.readlink(f"{path}/ns/pid")
            # bytes: a task's name is any bytes it chose (a neighbour's
            # "bad\xff" failed a text read beside the other half)
            with open(f"{path}/stat", "rb") as stat:
                state = stat.read().rsplit(b")", 1)[1].split()[0].decode()
        except PermissionError:
            continue
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited meanwhile
        if state not in ("Z", "X"):
            seen.add(int(os.path.basename(path)))
    return seen


def test_every_visible_thread_is_in_the_snapshot(instance):
    before = _visible_threads()
    snap = snapshot.take(instance)
    after = _visible_threads()
    live = {t.pid for t in snap.tasks if not t.exited}
    assert (before & after) - live == set()


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat, "rb") as handle:  # names are any bytes (above)
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid:  # field 5, pgrp, counted after "comm)"
            members.append(int(stat.split("/")[2]))
    return members


@pytest.mark.alone
def test_numbers_match_proc_under_stress_ng_load(instance):
    """Both CPUs busy with CPU hogs and a switch storm: still within 1%."""
    stress = subprocess.Popen(["stress-ng", "--cpu", "2", "--switch", "2", "--timeout", "60",
                               "--quiet"], start_new_session=True)
    try:
        # until they have run, however busy the machine is with other work
        wait_until(lambda: len([pid for pid in _group_members(stress.pid)
                                if _proc(pid)[0] > 200_000_000]) >= 4, "the stressors to run",
                   step_s=0.5)
        os.killpg(stress.pid, signal.SIGSTOP)  # one moment for both readers
        time.sleep(0.05)
        members = _group_members(stress.pid)
        expected = {pid: _proc(pid) for pid in members}
        rows = _rows(snapshot.take(instance), set(members))
    finally:
        os.killpg(stress.pid, signal.SIGKILL)
        os.killpg(stress.pid, signal.SIGCONT)
        stress.wait()
    busy = [pid for pid in members if expected[pid][0] > 100_000_000]
    # with what it saw, so that a failure on a busy machine can be told apart
    assert len(busy) >= 4, (f"the stressors did not run: {len(members)} in the group, "
                            f"runtimes {sorted(v[0] for v in expected.values())}")
    assert sum(expected[pid][2] for pid in members) > 10_000, "no switch storm"
    for pid in members:
        runtime, _, switches = expected[pid]
        assert _rel(rows[pid].runtime_ns, runtime) < 0.01, (pid, rows[pid].runtime_ns, runtime)
        assert _rel(rows[pid].switches, switches) < 0.01, (pid, rows[pid].switches, switches)


def test_experiment_observed_ratio_is_within_five_percent_of_the_weights(instance, tmp_path):
    csv_path, png = tmp_path / "exp.csv", tmp_path / "exp.png"
    done = run_lottery("experiment", "--ratios", "1:1,3:1", "--duration", "2", "--cpu",
                       str(CPU), "--seed", "1", "--pin-dir", str(instance.dir), "--via", "nice",
                       "-o", str(csv_path), "--png", str(png), timeout=120)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(csv_path.open()))
    assert [(r["nice_a"], r["nice_b"]) for r in rows] == [("0", "0"), ("0", "5")]
    for r in rows:
        # both ran, and in the weights' ratio (ratio_allowed: other users'
        # tasks on the CPU may take most of it, no amount is assumed)
        allowed = ratio_allowed(int(r["runtime_a_ns"]), int(r["runtime_b_ns"]), 0.05)
        assert float(r["observed_ratio"]) == pytest.approx(float(r["weight_ratio"]), rel=allowed)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "OBSERVED (LINUX)" in done.stdout


def test_simulate_live_replays_what_the_program_saw(instance, spin, tmp_path):
    pids = spin(0, CPU) + spin(5, CPU)  # outlive it, busy or not
    out = tmp_path / "simulated.csv"
    try:
        done = run_lottery("simulate", "--live", "2", "--interval", "0.5", "--seed", "1",
                           "--pin-dir", str(instance.dir), "-o", str(out))
    finally:
        workload.stop(pids)
        workload.wait(pids)
    assert done.returncode == 0, done.stderr
    # by pid, from every task the run replayed: on a busy machine others'
    # tasks may outrun these and fill the printed table's top rows
    replayed = {int(r["pid"]): r for r in csv.DictReader(out.open())}
    assert [(replayed[p]["comm"], replayed[p]["nice"]) for p in pids] == \
        [("lottery-work", "0"), ("lottery-work", "5")]
