"""A reader's view of the live tasks, kept from walks that write only what
changed (kernel/snapshot.Session), against a model of the walks: whatever
tasks run, sleep, come, exit (before, during or after a walk), exec from a
thread, or fall out of the exit ring, the reader's tasks after each walk are
the tasks that walk found, with the numbers it found."""

from __future__ import annotations

from dataclasses import replace

from builders import task
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.kernel import parse
from orchestrator.kernel.snapshot import Session
from orchestrator.paths import pins
from orchestrator.records import SnapshotInfo

RING = 8  # a short exit ring, so that a reader falls behind it
LISTED = 1  # exits of tasks no walk found that a walk lists (a rate times the
#             interval in the program; a number here); the rest it sums


class Kernel:
    """The walk as the BPF program does it, on a made-up host."""

    def __init__(self) -> None:
        self.live = {}       # key -> TaskSample
        self.change = {}     # key -> the change number it was found changed at
        self.found = {}      # key -> its numbers at the walk that last looked
        self.exits = []      # TaskSample by exit number
        self.walked = set()  # keys of live tasks some walk found
        self.exit_walked = []  # by exit number: a walk had found the task
        self.changes = 0
        self.since = 0
        self.exits_from = 0
        self.next_pid = 100
        self.snapshot = 0

    def spawn(self, i: int = -1) -> None:
        """A process, or (i >= 0) a thread of one."""
        leaders = sorted(k for k, t in self.live.items() if t.pid == t.tgid)
        tgid = leaders[i % len(leaders)][0] if i >= 0 and leaders else self.next_pid
        t = task(self.next_pid, tgid=tgid, runtime_ns=1)
        self.next_pid += 1
        self.live[t.key] = t

    def run(self, i: int) -> None:
        if self.live:
            key = sorted(self.live)[i % len(self.live)]
            t = self.live[key]
            self.live[key] = replace(t, runtime_ns=t.runtime_ns + 1, runs=t.runs + 1)

    def exit(self, i: int) -> None:
        if self.live:
            key = sorted(self.live)[i % len(self.live)]
            self._exit(key)

    def _exit(self, key) -> None:
        t = self.live.pop(key)
        self.exit_walked.append(key in self.walked)
        self.walked.discard(key)
        self.exits.append(replace(t, exited=True, exit_seq=len(self.exits)))

    def exec_from_thread(self, i: int) -> None:
        """A thread execs: every other thread of its process exits, the
        leader too (under its key), and the thread goes on under the
        leader's key with its own numbers and no exit of its own."""
        threads = sorted(k for k, t in self.live.items() if t.pid != t.tgid)
        if not threads:
            return
        thread = self.live[threads[i % len(threads)]]
        leader = next((k for k, t in self.live.items() if t.pid == thread.tgid), None)
        if leader is None:
            return
        del self.live[thread.key]
        for key in sorted(k for k, t in self.live.items() if t.tgid == thread.tgid):
            self._exit(key)
        # the leader's key is the thread's task now: found if the thread was
        if thread.key in self.walked:
            self.walked.discard(thread.key)
            self.walked.add(leader)
        # exec runs: its numbers move on from the thread's (and differ from
        # any the key had: a program's exec takes time of its own)
        self.next_pid += 1
        self.live[leader] = replace(thread, pid=leader[0], start_ns=leader[1],
                                    runtime_ns=thread.runtime_ns + self.next_pid)

    def act(self, op: str, i: int) -> None:
        """One step of a test's steps that is not a walk."""
        if op == "spawn":
            self.spawn()
        elif op == "thread":
            self.spawn(i)
        elif op == "run":
            self.run(i)
        elif op == "exit":
            self.exit(i)
        else:
            self.exec_from_thread(i)

    def walk(self, full: bool, exit_during: int, exec_during: int | None = None
             ) -> tuple[SnapshotInfo, parse.TaskRows, set]:
        """Write the tasks that changed since the walk before (all: full),
        then copy the exits numbered since that walk began (no further back
        than the ring); `exit_during` tasks exit after the walk passed them;
        thread `exec_during` calls exec once the walk began, before it passes
        the leader's key (which it then finds with the thread's numbers)."""
        self.snapshot += 1
        exits_at_start, changes_at_start = len(self.exits), self.changes
        if exec_during is not None:
            self.exec_from_thread(exec_during)
        since = 0 if full else self.since
        written, visited = [], set()
        # keys whose exit was numbered during this walk, yet live: a thread
        # that called exec took them over; the walk writes them marked
        taken = {t.key for t in self.exits[exits_at_start:]} & self.live.keys()
        for key, t in sorted(self.live.items()):
            if key not in taken:
                visited.add(key)
            self.walked.add(key)
            if self.found.get(key) != t or key not in self.change:
                self.found[key] = t
                self.changes += 1
                self.change[key] = self.changes
            if self.change[key] > since:
                written.append(t)
        for i in range(exit_during):  # tasks that exit after the walk passed them
            self.exit(i)
        exits = len(self.exits)
        start = max(min(self.exits_from, exits_at_start), exits - RING)
        # one exit row per key: a later exit under the same key (the program
        # a thread exec'd, exiting under its leader's key) replaced it
        latest = {t.key: t.exit_seq for t in self.exits}
        copied, sums, unwalked = [], {}, 0
        for t in self.exits[start:exits]:
            if latest[t.key] != t.exit_seq:
                continue
            if not self.exit_walked[t.exit_seq]:
                unwalked += 1
                if unwalked > LISTED:  # summed by group; one numbered during the walk: next
                    if t.exit_seq < exits_at_start:
                        s = sums.get(t.group) or task(0, start_ns=t.group, group=t.group,
                                                      comm="", exited=True)
                        sums[t.group] = replace(s, runtime_ns=s.runtime_ns + t.runtime_ns,
                                                runs=s.runs + t.runs, exit_seq=s.exit_seq + 1)
                    continue
            copied.append(t)
        self.exits_from, self.since = exits_at_start, changes_at_start
        info = SnapshotInfo(snapshot=self.snapshot, start_ns=self.snapshot, end_ns=self.snapshot,
                            rows=len(written), dropped=0, full=int(full), exits=exits_at_start,
                            exits_from=start, exits_passed=sum(s.exit_seq for s in sums.values()),
                            exits_lost=0, groups_lost=0, live_rows=len(visited) + len(taken),
                            exit_rows=len(copied))
        return info, parse.TaskRows(written, copied, list(sums.values()),
                                    frozenset(taken & {t.key for t in written})), visited


_STEP = st.tuples(st.sampled_from(["spawn", "thread", "run", "exit", "exec", "walk"]),
                  st.integers(0, 50), st.integers(0, 2))


@settings(max_examples=500, deadline=None)
@given(st.lists(_STEP, min_size=1, max_size=60))
def test_the_readers_tasks_are_the_ones_its_walk_found(steps):
    kernel = Kernel()
    for _ in range(5):
        kernel.spawn()
    session = Session(pins("/sys/fs/bpf/lottery-never-loaded"))
    before = None
    for op, i, during in [*steps, ("walk", 0, 0)]:
        if op != "walk":
            kernel.act(op, i)
        else:
            info, rows, visited = kernel.walk(session._full, during)
            change = session._apply(info, rows)
            live = session._live
            # every task the walk found, with the numbers it found; a task
            # that exited while the walk ran may stay one walk longer
            late = {t.key for t in kernel.exits[info.exits:]}
            assert visited <= live.keys()
            if not session._full:  # else tasks that ended unseen may be held one walk more
                assert live.keys() <= visited | late
            for key in visited:
                assert live[key] == kernel.found[key]
            # what it says changed and left takes the sample before to this one
            if before is not None:
                assert change is not None
                assert change.left == before.keys() - live.keys()
                assert change.changed == {k: t for k, t in live.items() if before.get(k) != t}
            before = dict(live)


def _frame_rows(frame) -> list:
    return sorted((r.pid, r.start_ns, r.state, r.runtime_delta_ns, r.exec_from, r.comm)
                  for r in frame.tasks)


_WALK_STEP = st.tuples(st.sampled_from(["spawn", "thread", "run", "run", "exit", "exec", "walk",
                                        "walk", "exec during a walk"]),
                       st.integers(0, 50), st.integers(0, 2))


@settings(max_examples=300, deadline=None)
@given(st.lists(_WALK_STEP, min_size=1, max_size=60), st.integers(1, 4))
def test_what_each_stage_works_out_again_is_what_working_all_out_gives(steps, cap):
    """The stages after the walk told what changed (records.Change) against
    the same stages told nothing, sample after sample of the model's walks:
    every frame holds the same records, and the exporter's counters (under
    a cap of `cap` labels, so which label gets a series of its own is at
    stake) are the same, whatever tasks do, exec from a thread during a walk
    included."""
    from orchestrator.analysis import tickets
    from orchestrator.analysis.analyser import AnalysisOptions
    from orchestrator.analysis.frames import Pipeline
    from orchestrator.exporter.totals import Totals
    from orchestrator.records import CpuIdle, Snapshot

    kernel = Kernel()
    for _ in range(4):
        kernel.spawn()
    session = Session(pins("/sys/fs/bpf/lottery-never-loaded"))
    draws = AnalysisOptions(draws=100, seed=7)
    told, fresh = Pipeline(tickets.WEIGHT, draws), Pipeline(tickets.WEIGHT, draws)
    by_name = lambda tasks: lambda r: f"c{r.pid % 5}"  # noqa: E731
    counted = [Totals(by_name, cap), Totals(by_name, cap)]
    shown: dict = {}
    for op, i, during in [*steps, ("walk", 0, 0)]:
        if op in ("walk", "exec during a walk"):
            info, rows, _ = kernel.walk(session._full, during,
                                        i if op == "exec during a walk" else None)
            info = replace(info, start_ns=info.snapshot * 10**9)
            change = session._apply(info, rows)
            snap = Snapshot(info, 1.7e9 + info.snapshot, tuple(session._live.values()),
                            tuple(rows.exits), (CpuIdle(0, info.snapshot * 10**8),), {},
                            change, tuple(rows.summed))
            a, b = told.frame(snap), fresh.frame(replace(snap, change=None))
            assert _frame_rows(a) == _frame_rows(b)
            # exec from a thread, during a walk too, never sends a number back
            assert all((r.runtime_delta_ns or 0) >= 0 for r in a.tasks), \
                _frame_rows(a)
            assert {r.key: r.lottery_wins for r in a.tasks} == \
                {r.key: r.lottery_wins for r in b.tasks}  # a seed draws the same wins
            series = counted[0].update(a)
            assert series == counted[1].update(b)
            # and no label's counter goes back (Prometheus would see a reset),
            # though its labels by pid put a thread and its leader apart
            assert all(s.numbers.cpu_ns >= shown[label] for label, s in series.items()
                       if label in shown), (series, shown)
            shown = {label: s.numbers.cpu_ns for label, s in series.items()}
        else:
            kernel.act(op, i)
