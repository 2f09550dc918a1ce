"""Several readers of one instance, exits nobody reads, odd task names and the
first sample, on the real kernel.

Other users' tasks come and go meanwhile (pids are reused within seconds
where pid_max is 32768): a test counts only its own tasks, known by a name
no other task has, by its own pids while they cannot be reused, or by its
own session."""

from __future__ import annotations

import csv
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import PATIENCE_S, loaded, pids_apart, run_lottery, start_lottery, wait_until

from orchestrator import records, workload
from orchestrator.constants import EXIT_RING, READER_SLOTS
from orchestrator.errors import LotteryError
from orchestrator.kernel import parse, snapshot, tools
from orchestrator.sampling import deltas

CPU = max(os.sched_getaffinity(0))


def _unique_name() -> str:
    """A task name no other task has (15 characters at most, the kernel's)."""
    return f"lt-{uuid.uuid4().hex[:12]}"


def _own_true(where: Path) -> tuple[str, Path]:
    """A copy of /bin/true under a name of its own: its processes are this
    test's, whoever else runs true meanwhile."""
    name = _unique_name()
    shutil.copy("/bin/true", where / name)
    return name, where / name


def _stamps(path: Path) -> list[float]:
    """The sample times of a CSV a dump is writing (whole lines only)."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[1:-1]  # a line being written has no newline yet
    return sorted({float(line.split(",", 1)[0]) for line in lines if line})


def _sampled_after(path: Path, proc: subprocess.Popen, at: float, count: int) -> bool:
    assert proc.poll() is None, proc.communicate()
    return len([s for s in _stamps(path) if s > at]) >= count


_SUMMED = re.compile(r"\((\d+) exits summed\)")


def test_two_readers_during_churn_each_see_every_exit(instance, cgroups, tmp_path):
    """Two dumps of one instance at different intervals while 600 short
    processes come and go in a cgroup of the test's own: each counts every
    one of them once, listed by name or (beyond --listed-exits) in its
    group's summed row, and keeps its books."""
    name, program = _own_true(tmp_path)
    group = cgroups.make("churn", 1024)
    outs = [tmp_path / "fast.csv", tmp_path / "slow.csv"]
    readers = [start_lottery("dump", "-q", "-i", interval, "-o", str(out),
                             "--pin-dir", str(instance.dir))
               for interval, out in zip(("0.3", "0.7"), outs, strict=True)]
    try:
        for out, proc in zip(outs, readers, strict=True):
            wait_until(lambda out=out, proc=proc: _sampled_after(out, proc, 0, 1),
                       f"a first sample in {out.name}")
        churn = subprocess.run(["sh", "-c", f"i=0; while [ $i -lt 600 ]; do {program}; "
                                "i=$((i+1)); done"], check=True,
                               preexec_fn=lambda: (group / "cgroup.procs").write_text("0"))
        assert churn.returncode == 0
        ended = time.time()
        # two samples of each after the last exit: the last exits reach both,
        # however long a sample takes on a busy machine
        for out, proc in zip(outs, readers, strict=True):
            wait_until(lambda out=out, proc=proc: _sampled_after(out, proc, ended, 2),
                       f"two samples in {out.name} after the churn")
    finally:
        for proc in readers:
            proc.send_signal(signal.SIGINT)
        codes = [proc.wait(timeout=PATIENCE_S) for proc in readers]
    assert codes == [130, 130], [p.stderr.read() for p in readers]
    for out in outs:
        rows = list(csv.DictReader(open(out)))
        mine = [r for r in rows if (r["group"] or "").endswith(f"/{group.name}")]
        exited = {(r["pid"], r["start_ns"]) for r in mine
                  if r["state"] == "exited" and r["comm"] == name}
        summed = sum(int(_SUMMED.fullmatch(r["comm"]).group(1))
                     for r in mine if r["state"] == "summed")
        # the 600, and the shell that ran them (listed or summed: it lived
        # as briefly as they did, or long enough for a sample to see it)
        shell = sum(1 for r in mine if r["state"] == "exited" and r["comm"] == "sh")
        assert len(exited) + summed + shell == 601, (out.name, len(exited), summed, shell)
        assert all(r["runtime_delta_ns"] for r in mine)  # each counted from its start
        errors = [e for _, e in records.conservation(records.read(out))]
        assert statistics.median(abs(e) for e in errors) < 0.02, (out.name, errors)


def _exited_unreaped(pid: int) -> None:
    """Wait for a child to end, leaving it a zombie: its pid is not reused
    by another task until it is reaped (workload.wait)."""
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def test_a_reader_changes_nothing_another_reader_sees(instance):
    """A snapshot writes rows of its own and leaves exit rows in place."""
    (pid,) = workload.start(0, 0.1, CPU)
    _exited_unreaped(pid)
    try:
        first = snapshot.take(instance)
        second = snapshot.take(instance)
    finally:
        workload.wait([pid])
    assert second.info.snapshot == first.info.snapshot + 1
    for snap in (first, second):
        assert len(snap.tasks) == snap.info.rows and not snap.info.dropped
        assert [t.pid for t in snap.exits if t.pid == pid] == [pid]


def _exit_threads(count: int) -> str:
    """Start and end `count` threads in a process of a name of its own (its
    threads have it too), and return that name."""
    name = _unique_name()
    code = ("import sys, threading\n"
            "open('/proc/self/comm', 'w').write(sys.argv[1])\n"
            f"for _ in range({count}):\n"
            "    t = threading.Thread(target=lambda: None); t.start(); t.join()\n")
    subprocess.run([sys.executable, "-c", code, name], check=True)
    return name


def _parked_threads(count: int) -> subprocess.Popen:
    """A process whose `count` threads sleep until its stdin closes."""
    code = ("import sys, threading\n"
            f"for _ in range({count}):\n"
            "    threading.Thread(target=sys.stdin.read).start()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)

    def parked() -> bool:
        assert proc.poll() is None, "the process ended"
        return len(os.listdir(f"/proc/{proc.pid}/task")) > count
    wait_until(parked, f"{count} threads")
    return proc


def _ended(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    assert proc.wait(timeout=PATIENCE_S) == 0


def _exit_rows(pins) -> tuple[int, dict, dict]:
    """The exit rows of the instance's exit map, with the program's counters
    read just before and just after.  Keys are counted once: bpftool meets a
    key twice when a delete under it sends the dump back to the map's start
    (beside a fork loop: 21,818 rows of a 16,384-exit ring), and readers
    take such a key once (kernel/parse.py)."""
    def counters():
        return parse.map_value(tools.bpftool(["map", "dump", "pinned", str(pins.counters)]))
    before = counters()
    rows = tools.bpftool(["map", "dump", "pinned", str(pins.tasks)])
    after = counters()
    keys = {(r["formatted"]["key"]["pid"], r["formatted"]["key"]["start_ns"],
             r["formatted"]["key"]["exited"]) for r in rows}
    assert all(exited for *_, exited in keys)  # live rows are in the readers' maps only
    return len(keys), before, after


def _written(pins, slot: int) -> dict:
    """The live rows in reader slot `slot`'s map: key -> the snapshot that wrote it."""
    rows = tools.bpftool(["map", "dump", "pinned", str(pins.rows(slot))])
    return {(r["formatted"]["key"]["pid"], r["formatted"]["key"]["start_ns"]):
            r["formatted"]["value"]["snapshot"] for r in rows
            if not r["formatted"]["key"]["exited"]}


def test_a_walk_writes_what_changed_since_its_readers_walk_before(instance):
    """300 parked threads: a reader's first walk writes them all, its later
    walks none of them, whatever another reader walks in between, and the
    reader still holds each with the numbers it had; once they end, they
    leave its tasks and come as exits."""
    proc = _parked_threads(300)
    mine, other = snapshot.Session(instance), snapshot.Session(instance)
    try:
        first = mine.take()
        threads = {t.key: t for t in first.tasks if t.tgid == proc.pid}
        assert len(threads) == 301 and first.info.full
        assert first.info.rows == len(first.tasks) == first.info.live_rows
        mine.take()  # writes again what the first walk found changed
        third = mine.take()
        written = _written(instance, mine._slot.number)
        other.take()
        other.take()
        assert _written(instance, mine._slot.number) == written  # no other walk writes its map
        assert set(written.values()) <= {third.info.snapshot}
        assert not third.info.full and third.info.rows == len(written) < third.info.live_rows
        assert not written.keys() & threads.keys()
        fourth = mine.take()
        # (but for the longest wait since the walk before that wrote each:
        # the second walk wrote them again)
        assert {t.key: replace(t, wait_longest_ns=0) for t in fourth.tasks
                if t.tgid == proc.pid} == {k: replace(t, wait_longest_ns=0)
                                           for k, t in threads.items()}
        assert fourth.change is not None and not threads.keys() & fourth.change.changed.keys()
        _ended(proc)
        after = mine.take()
        assert not {t.key for t in after.tasks} & threads.keys()
        assert {t.key for t in after.exits} >= threads.keys()
        exits, before_counts, after_counts = _exit_rows(instance)
        assert before_counts["exit_rows"] <= exits <= after_counts["exit_rows"] + 2
    finally:
        mine.close()
        other.close()


def _spawn_in(group: Path, program: Path, count: int) -> int:
    """Run `program` `count` times, one after another, from a process of its
    own in cgroup `group`; return the CPU time of all of them (the spawner
    too) as the kernel gave it to wait4, in ns."""
    code = ("import os, sys\n"
            f"for _ in range({count}):\n"
            f"    os.waitpid(os.posix_spawn({str(program)!r}, [{str(program)!r}], {{}}), 0)\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True,
                   preexec_fn=lambda: (group / "cgroup.procs").write_text("0"))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(1e9 * ((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)))


def test_short_exits_beyond_what_a_sample_lists_are_summed_by_group(bpf_object, pin_dir,
                                                                      cgroups, tmp_path):
    """An instance that lists 50 short exits a second (load --listed-exits):
    between two samples, 1,000 short processes come and go in a cgroup of the
    test's own, and 1,500 threads the first sample saw end.  Every thread
    comes as an exit row and leaves the live tasks (a reader holds them);
    the cgroup's exits beyond what the interval lists come as one row summing
    them, and its rows add up to what the kernel says all its processes
    used; every exit of the interval is counted once; the reader needs no
    full walk after."""
    name, program = _own_true(tmp_path)
    group = cgroups.make("short", 1024)
    proc = _parked_threads(1500)
    reader = deltas.Reader()
    count = 1000
    with loaded(bpf_object, pin_dir, listed_exits=50) as pins, snapshot.session(pins) as session:
        first = session.take()
        reader.advance(first)
        threads = {t.key for t in first.tasks if t.tgid == proc.pid}
        assert len(threads) == 1501
        began = time.monotonic()
        used_ns = _spawn_in(group, program, count)
        _ended(proc)
        second = session.take()
        listable = 50 * (time.monotonic() - began + 1)  # and the time before, at most a second
        sample = reader.advance(second)
        third = session.take()
    assert threads <= {t.key for t in second.exits}
    assert not threads & {t.key for t in second.tasks}
    assert sample.exits_missed == 0 and sample.exits_passed == second.info.exits_passed > 0
    gid = group.stat().st_ino  # a cgroup's id is its directory's inode number
    ours = [r for r in sample.tasks if r.task.group == gid]
    summed = [r for r in ours if r.unseen_exits]
    assert len(summed) == 1 and summed[0].task.key == (0, gid)
    assert len(ours) - 1 + summed[0].unseen_exits == count + 1  # the spawner too
    assert len(ours) - 1 <= listable
    spawner = Path(sys.executable).name[:15]
    assert {r.task.comm for r in ours if not r.unseen_exits} <= {name, spawner}
    ran = sum(r.runtime_delta_ns for r in ours)
    assert abs(ran - used_ns) <= 0.01 * used_ns, (ran, used_ns)
    listed = [r for r in sample.tasks if r.task.exited and not r.unseen_exits]
    assert len(listed) + sample.exits_passed == sample.exits
    assert sum(r.unseen_exits for r in sample.tasks) == sample.exits_passed
    assert not third.info.full


def test_a_one_shot_sample_counts_each_exit_once(bpf_object, pin_dir, cgroups, tmp_path):
    """snapshot.take, a sample on its own, reads every exit row the instance
    keeps: the exits its walk summed are among them, and count once (its
    sums counted them again: +8 % in one interval beside a fork loop)."""
    _, program = _own_true(tmp_path)
    group = cgroups.make("once", 1024)
    with loaded(bpf_object, pin_dir, listed_exits=10) as pins:
        first = snapshot.take(pins)
        used_ns = _spawn_in(group, program, 300)
        second = snapshot.take(pins)
    gid = group.stat().st_ino
    ours = [r for r in deltas.compare(first, second).tasks if r.task.group == gid]
    assert sum(r.unseen_exits or 1 for r in ours) == 301  # the spawner too
    ran = sum(r.runtime_delta_ns for r in ours)
    assert abs(ran - used_ns) <= 0.01 * used_ns, (ran, used_ns)


def test_a_reader_finding_every_slot_taken_waits_and_goes_on(instance, tmp_path):
    """Readers beyond the slots are slowed, never stopped: a dump started
    while every slot is held waits, and samples once one is given back."""
    held = [snapshot.claim(instance, [slot], wait=False)[1] for slot in range(READER_SLOTS)]
    try:
        with pytest.raises(LotteryError, match="every reader slot"):
            snapshot.claim(instance, range(READER_SLOTS), wait=False)
        out = tmp_path / "waited.csv"
        dump = start_lottery("dump", "-n", "2", "-i", "0.2", "-q", "-o", str(out),
                             "--pin-dir", str(instance.dir))
        time.sleep(1.0)
        assert dump.poll() is None and not _stamps(out)  # waiting, not failed
        held.pop().close()
        assert dump.wait(timeout=PATIENCE_S) == 0, dump.communicate()
        assert len(_stamps(out)) == 2
    finally:
        for handle in held:
            handle.close()


def test_unread_exits_leave_the_map_bounded(bpf_object, pin_dir, tmp_path):
    """20,000 exits with nobody reading: the map holds at most the exit ring
    and the live tasks; each group's totals still hold every exit.  Tasks a
    snapshot saw and that died before the churn are out of the ring's reach:
    their rows leave too."""
    with loaded(bpf_object, pin_dir) as pins:
        proc = _parked_threads(200)
        before = snapshot.take(pins)
        threads = {(t.pid, t.start_ns) for t in before.tasks if t.tgid == proc.pid}
        _ended(proc)
        name = _exit_threads(20_000)
        after = snapshot.take(pins)
        assert after.info.exits - before.info.exits >= 20_000
        assert after.info.exit_rows <= EXIT_RING
        assert after.info.live_rows == len(after.tasks) < 5_000
        assert len(threads) == 201 and not {t.key for t in after.tasks} & threads
        exits, counted, recounted = _exit_rows(pins)
        # A dump is no atomic picture: an exit during it (other users' tasks
        # end all the time) replaces the ring's oldest row, and the dump may
        # meet both. Each such exit adds at most one row to what it finds.
        assert exits <= EXIT_RING + recounted["exits"] - counted["exits"]
        # every exit numbered before the walk is in the groups' totals, and
        # none numbered after the next walk began
        exits = sum(g.exits for g in after.groups.values())
        assert after.info.exits <= exits <= snapshot.take(pins).info.exits
        # the next dump's first printed sample covers one interval, not the churn
        out = pin_dir.name + ".csv"
        done = run_lottery("dump", "-n", "1", "-i", "0.5", "--top", "5", "-o", out,
                           "--pin-dir", str(pin_dir), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        rows = list(csv.DictReader(open(tmp_path / out)))
        assert rows and not [r for r in rows if r["comm"] == name]  # they came before its baseline
        error = float(re.search(r"error ([-+][\d.]+)%", done.stdout).group(1))
        assert abs(error) < 5, done.stdout


_EXEC_FROM_A_THREAD = """
import os, sys, threading
def run_sh():
    sys.stdin.readline()
    os.execv("/bin/sh", ["sh", "-c", "read line"])
threading.Thread(target=run_sh).start()
threading.Event().wait()
"""


def test_a_program_a_thread_execs_has_its_own_final_numbers(instance):
    """A thread that execs takes its leader's pid and start time (de_thread):
    the leader's exit and the program's own exit share a key, and the
    program's, the later, is the one readers find."""
    proc = subprocess.Popen([sys.executable, "-c", _EXEC_FROM_A_THREAD],
                            stdin=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(os.listdir(f"/proc/{proc.pid}/task")) >= 2, "the thread")
        snapshot.take(instance)
        lost = snapshot.take(instance).info.exits_lost
        proc.stdin.write("exec\n")
        proc.stdin.flush()
        wait_until(lambda: open(f"/proc/{proc.pid}/comm").read().strip() == "sh", "the exec")
        proc.stdin.write("done\n")
        proc.stdin.close()
        _exited_unreaped(proc.pid)  # its pid is not another task's while it is read
        snap = snapshot.take(instance)
        assert proc.wait(timeout=PATIENCE_S) == 0
    finally:
        proc.kill()
        proc.wait()
    final = [t for t in snap.exits if t.pid == proc.pid]
    assert [t.comm for t in final] == ["sh"], final
    assert snap.info.exits_lost == lost


_EXEC_FROM_A_NEW_THREAD = """
import os, sys, threading
sys.stdin.readline()
def run_sh():
    os.execv("/bin/sh", ["sh", "-c", "read line"])
threading.Thread(target=run_sh).start()
threading.Event().wait()
"""


def test_a_seen_leaders_exit_replaced_by_an_unseen_threads_program_is_listed(
        bpf_object, pin_dir, tmp_path):
    """A sample sees a process; a thread it starts after that sample (no
    sample sees it) execs, and the program exits: its exit replaces the
    leader's under the leader's key, and must be listed as the leader's
    was (the reader holds that key live), even beyond --listed-exits (here
    1 a second, used up by 50 short processes first): summed, the reader
    held the key as live after the process had ended."""
    _, program = _own_true(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", _EXEC_FROM_A_NEW_THREAD],
                            stdin=subprocess.PIPE, text=True)
    try:
        with loaded(bpf_object, pin_dir, listed_exits=1) as pins, \
                snapshot.session(pins) as session:
            first = session.take()
            key = next(t.key for t in first.tasks if t.pid == proc.pid)
            subprocess.run(["sh", "-c", f"i=0; while [ $i -lt 50 ]; do {program}; "
                            "i=$((i+1)); done"], check=True)
            proc.stdin.write("exec\n")
            proc.stdin.flush()
            wait_until(lambda: open(f"/proc/{proc.pid}/comm").read().strip() == "sh",
                       "the exec")
            proc.stdin.write("done\n")
            proc.stdin.close()
            _exited_unreaped(proc.pid)  # its pid is not another task's while it is read
            second = session.take()
            third = session.take()
        assert proc.wait(timeout=PATIENCE_S) == 0
    finally:
        proc.kill()
        proc.wait()
    assert second.info.exits_passed > 0  # the bound was met
    assert key in {t.key for t in second.exits} and key not in {t.key for t in second.tasks}
    assert key not in {t.key for t in third.tasks}


def test_exit_rows_leave_after_the_retention(bpf_object, pin_dir):
    with loaded(bpf_object, pin_dir, exit_retain_s=0.5) as pins:
        first = snapshot.take(pins).info.exits
        name = _exit_threads(2_000)
        time.sleep(0.7)  # at least: every one of them is older than the retention
        snap = snapshot.take(pins)  # the snapshot's sweep drops the old exit rows
        assert snap.info.exits - first >= 2_000, snap.info
        # other users' exits of the last 0.5 s stay, none of these
        assert not [t for t in snap.exits if t.comm == name], snap.info


def test_a_reader_is_given_its_exits_past_the_retention(bpf_object, pin_dir):
    """A walk copies its reader's exits before it drops the rows past the
    retention: a reader whose interval outlasts the retention (a second
    apart at 1 s lost the exits of its intervals' first milliseconds) has
    every one, none left to the 'unseen' row; a reader starting anew has
    only the rows kept (test above).  Every exit listed, none summed: beside
    a fork loop, the loop's exits took the listed ones' rate (291 of 301)."""
    with loaded(bpf_object, pin_dir, exit_retain_s=0.5, listed_exits=100_000) as pins, \
            snapshot.session(pins) as session:
        reader = deltas.Reader()
        reader.advance(session.take())
        name = _exit_threads(300)
        time.sleep(0.7)  # every one of them is older than the retention
        sample = reader.advance(session.take())
    mine = [r for r in sample.tasks if r.task.comm == name and r.task.exited]
    assert len(mine) >= 300  # the threads and the process's own exit
    assert sample.exits_missed == 0, sample.exits_missed


def _runtime_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def test_a_group_gone_idle_leaves_the_map_and_its_totals_stay(bpf_object, pin_dir, spin):
    """Every session makes an autogroup: once idle, it folds into "gone"."""
    with loaded(bpf_object, pin_dir, group_idle_s=0.5) as pins:
        (pid,) = spin(0, CPU, new_session=True)
        try:
            seen = snapshot.take(pins)
            session = next(t.group for t in seen.tasks if t.pid == pid)
        finally:
            workload.stop([pid])
            _exited_unreaped(pid)
        ran_ns = _runtime_ns(pid)  # a zombie's, its last
        workload.wait([pid])
        before = snapshot.take(pins)
        assert before.groups[session].exits == 1
        assert before.groups[session].exited_runtime_ns == pytest.approx(ran_ns, rel=0.01)
        time.sleep(0.8)  # at least: the group is idle longer than group_idle_s
        snapshot.take(pins)  # its sweep folds the idle group
        after = snapshot.take(pins)
        assert session not in after.groups
        gone = next(g for g in after.groups.values() if g.kind == "gone")
        assert gone.exits >= 1 and gone.exited_runtime_ns >= ran_ns
        total = sum(g.exits for g in after.groups.values())
        assert total >= sum(g.exits for g in before.groups.values())  # nothing left the totals


def test_tasks_that_do_not_fit_are_counted_per_snapshot(bpf_object, pin_dir):
    with loaded(bpf_object, pin_dir, max_tasks=16) as pins:
        snap = snapshot.take(pins)
        assert snap.info.rows == 16 == len(snap.tasks)
        assert snap.info.dropped > 0
        done = run_lottery("dump", "-n", "1", "-i", "0.2", "--pin-dir", str(pin_dir))
        assert done.returncode == 0 and "did not fit in the task map" in done.stderr


ODD = {b"caf\xc3\xa9": "café", b"new\nline": "new\\nline", b"bad\xff": "bad\\xff"}


def _named_spinners(seconds: float) -> list[subprocess.Popen]:
    procs = []
    for raw in ODD:
        code = (f"import os, time\nos.sched_setaffinity(0, {{{CPU}}})\n"
                f"open('/proc/self/comm', 'wb').write({raw!r})\n"
                f"end = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n")
        procs.append(subprocess.Popen([sys.executable, "-c", code]))
    return procs


def _named(proc: subprocess.Popen, raw: bytes) -> bool:
    assert proc.poll() is None, "a spinner ended early"
    return Path(f"/proc/{proc.pid}/comm").read_bytes() == raw + b"\n"


def test_odd_task_names_end_to_end(instance, tmp_path):
    procs = _named_spinners(600.0)  # killed below; outlives three dumps on a busy machine
    out = tmp_path / "odd.csv"
    try:
        for proc, raw in zip(procs, ODD, strict=True):
            wait_until(lambda proc=proc, raw=raw: _named(proc, raw), f"the name {raw!r}")
        table = run_lottery("dump", "-n", "1", "-i", "0.5", "--by", "comm", "--top", "200",
                            "-o", str(out), "--pin-dir", str(instance.dir))
        only = run_lottery("dump", "-n", "1", "-i", "0.3", "-q", "--comm", "café", "-o",
                           str(tmp_path / "cafe.csv"), "--pin-dir", str(instance.dir))
        raw = run_lottery("dump", "-n", "1", "-i", "0.3", "-q", "--comm", "new\nline", "-o",
                          str(tmp_path / "newline.csv"), "--pin-dir", str(instance.dir))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert table.returncode == only.returncode == raw.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("-"))
    body = lines[rule + 1:lines.index(next(x for x in lines if x.startswith("conservation")))]
    gaps = [i for i, ch in enumerate(lines[rule]) if ch == " "]
    for line in body:  # every row keeps the columns the rule draws: none broke or shifted
        assert all(i >= len(line) or line[i] == " " for i in gaps), line
    shown = "\n".join(body)
    for text in ODD.values():
        assert text in shown
    comms = {r["comm"] for r in csv.DictReader(open(out, newline=""))}
    assert set(ODD.values()) <= comms
    assert {r["comm"] for r in csv.DictReader(open(tmp_path / "cafe.csv"))} == {"café"}
    assert {r["comm"] for r in csv.DictReader(open(tmp_path / "newline.csv"))} == {"new\\nline"}


def test_first_printed_sample_covers_one_interval(instance, tmp_path):
    """The first sample printed is the interval after a baseline, not the
    tasks' lives: a task of the test's own that has run a second already
    shows at most the interval's CPU time (it runs on one CPU), and one
    that exited before the dump began shows nothing."""
    (gone,) = workload.start(0, 0.2, CPU)
    workload.wait([gone])
    reaped_ns = time.monotonic_ns()  # a task with its pid after this is another's
    (spinner,) = workload.start(0, PATIENCE_S, CPU)
    try:
        wait_until(lambda: _schedstat_runtime(spinner) >= 1e9, "the task to run 1 s")
        out = tmp_path / "first.csv"
        done = run_lottery("dump", "-n", "1", "-i", "0.5", "-o", str(out),
                           "--pin-dir", str(instance.dir))
    finally:
        workload.stop([spinner])
        workload.wait([spinner])
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(open(out)))
    assert not [r for r in rows if r["pid"] == str(gone) and int(r["start_ns"]) < reaped_ns]
    tasks = [r for r in rows if r["state"] != "idle"]
    assert tasks and all(r["runtime_delta_ns"] != "" for r in tasks)
    # the interval the sample covers, as printed: at least the one asked for,
    # longer when a busy machine made the sample late
    covered = re.search(rf"over {os.cpu_count()} CPUs x ([\d.]+) s", done.stdout)
    assert covered and float(covered.group(1)) >= 0.5 * 0.99, done.stdout
    interval_ns = float(covered.group(1)) * 1e9
    (mine,) = [r for r in tasks if r["pid"] == str(spinner)]
    assert int(mine["runtime_ns"]) >= 1e9  # its life so far
    # its interval, not its life: a walk reads it within a few ms of its start
    assert 0 <= int(mine["runtime_delta_ns"]) <= interval_ns * 1.02
    # and the whole machine's: about one interval of every CPU, not the
    # tasks' lives (a task that exits as the baseline walk runs, before the
    # walk reaches it, counts whole; beside the other half of the suite and a
    # busy neighbour this was once +22 %, its cause not found)
    idle = sum(int(r["runtime_delta_ns"]) for r in rows if r["state"] == "idle")
    busy = sum(int(r["runtime_delta_ns"]) for r in tasks)
    assert (busy + idle) / os.cpu_count() <= interval_ns * 1.5


@pytest.mark.alone
def test_conservation_holds_under_cpu_switch_fork_and_thread_stress(bpf_object, pin_dir,
                                                                     tmp_path):
    """The issue's stress (stress-ng --cpu 2 --switch 2 --fork 2 --pthread 1):
    conservation from the CSV alone: over the whole run within 1.5%, per
    sample at the 1 s interval a median within 2% (the busy host of `make
    soak` holds it to 1%) and no more than two of 9 samples beyond 10%.
    A walk preempted half way reads the tasks after the gap that much later,
    and skews its sample by the gap's CPU time against the interval's: beside
    the other half of the suite, 2 of 6 samples were off by 5.4 and 8.2 %
    (at 0.5 s, 5.6 and 5.9 %), with the median at 0.8 %; 6 samples alone
    were too few for the median (at 24e3bd8, alone, one run of 3: 0.19,
    0.26, 1.15, 2.23, 8.9 and 9.8 %).
    Exit rows are kept 1 s: every exit of a task a walk saw alive is
    listed, and under these stressors (and a busy neighbour) that alone
    kept a reader behind its intervals at the default 10 s, 12 samples
    taking more than two minutes; what a sample finds gone is counted in
    the 'unseen' row, held to conservation too.  A walk drops the exit rows
    past the retention after copying its reader's: before, the exits of each
    interval's first milliseconds were gone by the walk a second later, a
    task the reader held live was counted whole among them (5.3 s in
    'unseen' rows over 3 runs, one run +2.5 % over the whole); after, no
    'unseen' row, and the whole run -0.25 to -0.39 % in 7 runs."""
    out = tmp_path / "stress.csv"
    # the stressors at nice 10: they still fill both CPUs and end thousands of
    # tasks a second, but the reader is not made to wait behind all of them
    # (that only stretches the intervals: seconds per sample of the suite)
    stress = subprocess.Popen(["nice", "-n", "10", "stress-ng", "--cpu", "2", "--switch", "2",
                               "--fork", "2", "--pthread", "1", "--quiet"],
                              start_new_session=True)
    try:
        with loaded(bpf_object, pin_dir, exit_retain_s=1) as pins:
            time.sleep(1.0)
            done = run_lottery("dump", "-q", "-i", "1", "-n", "10", "-o", str(out),
                               "--pin-dir", str(pins.dir), timeout=PATIENCE_S)
    finally:
        os.killpg(stress.pid, signal.SIGKILL)
        stress.wait()
    assert done.returncode == 0, done.stderr
    samples = records.read(out)
    errors = sorted(abs(e) for _, e in records.conservation(samples))
    assert len(errors) >= 9
    # Over the whole run a late walk's skew cancels (what one sample gets
    # too much, the next lacks): what is left is the accounting of exits,
    # listed, summed and unseen alike (-0.24 % in a run whose samples were
    # off by +6.1 and -7.3 % in a pair).
    used = sum(r.runtime_delta_ns or 0 for s in samples[1:] for r in (*s.tasks, *s.idle))
    span_ns = (samples[-1].timestamp_s - samples[0].timestamp_s) * 1e9 * len(samples[-1].idle)
    assert abs(used / span_ns - 1) < 0.015, (used / span_ns - 1, errors)
    assert statistics.median(errors) < 0.02, errors
    assert errors[-3] < 0.10, errors


def test_a_reload_under_a_dump_is_said_and_starts_a_new_baseline(bpf_object, pin_dir,
                                                                  tmp_path):
    """`load --force` while dump reads: the sample across the two instances
    is not written (before: exits_missed -131, an interval whose tasks made
    0.70 s of 1.0), dump says so once, and every sample written keeps
    conservation."""
    out = tmp_path / "reload.csv"
    with loaded(bpf_object, pin_dir) as pins:
        reader = start_lottery("dump", "-q", "-i", "0.4", "-o", str(out),
                               "--pin-dir", str(pins.dir))
        try:
            wait_until(lambda: out.exists() and len(records.read(out)) >= 2,
                       "two samples before the reload")
            started = time.time()
            done = run_lottery("load", "--force", "--pin-dir", str(pins.dir), "--obj",
                               str(bpf_object))
            assert done.returncode == 0, done.stderr
            reloaded = time.time()
            wait_until(lambda: sum(s.timestamp_s > reloaded for s in records.read(out)) >= 3,
                       "three samples after the reload")
        finally:
            reader.send_signal(signal.SIGINT)
            _, err = reader.communicate(timeout=PATIENCE_S)
    assert reader.returncode == 130, err
    assert err.count("loaded again") == 1, err
    samples = records.read(out)
    assert all(r.exits_missed >= 0 for s in samples for r in s.tasks), err
    # The sample written after the reload covers the time since the new
    # instance's baseline, which is not written, not since the sample
    # written before it (a cross-instance sample would): from the file's
    # spacing it falls short by the unwritten interval.  It is found by that,
    # not by the clock: a busy machine takes its time to load, and the
    # sampler may have skipped a tick it overran.
    errors = records.conservation(samples)
    short = [i for i, (_, e) in enumerate(errors) if e < -0.1]
    assert len(short) == 1, errors
    times = [s.timestamp_s for s in samples]
    after = times.index(errors[short[0]][0])
    assert times[after] - times[after - 1] > 0.6 and times[after] > started, (times, errors)
    others = [e for i, (_, e) in enumerate(errors) if i != short[0]]
    assert len(others) >= 3 and all(abs(e) < 0.05 for e in others), errors


_ON_CUE = """
import sys, time
print("ready", flush=True)
for _ in sys.stdin:  # each line: run 20 ms of CPU, then sleep again
    end = time.thread_time() + 0.02
    while time.thread_time() < end:
        pass
    print("ran", flush=True)
"""


def _asleep(pid: int) -> bool:
    """Back in its read of stdin (its state after the command name)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "S"


def _schedstat_runtime(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def test_two_tasks_whose_pids_share_a_walks_entry_keep_their_numbers(instance):
    """A walk finds whether a task changed in an array by pid (marks), of
    MARK_SLOTS entries: two live tasks whose pids are MARK_SLOTS apart share
    one.  Each finds the other's hash there, so both are written at every
    walk, and neither's run is ever taken for unchanged: the numbers each
    sample holds for them are the kernel's, as they run in turn."""
    from orchestrator.header import define

    apart = define("MARK_SLOTS")
    with pids_apart(apart, [sys.executable, "-c", _ON_CUE]) as procs:
        with snapshot.session(instance) as reader:
            reader.take()
            for proc in [*procs, *procs, procs[1]]:  # each runs, the other sleeps
                proc.stdin.write("go\n")
                proc.stdin.flush()
                assert proc.stdout.readline() == "ran\n"
                wait_until(lambda: all(_asleep(p.pid) for p in procs), "both asleep", step_s=0.005)
                snap = reader.take()
                found = {t.pid: t.runtime_ns for t in snap.tasks}
                for p in procs:  # asleep: the kernel's number is the one the walk read
                    assert found[p.pid] == _schedstat_runtime(p.pid), p.pid
