"""Records for tests of pure logic, built by field name with defaults, so
that a test says only what it is about."""

from __future__ import annotations

from orchestrator.records import Change, CpuIdle, Group, Snapshot, SnapshotInfo, TaskSample
from orchestrator.sampling.deltas import TaskRow


def task(pid: int = 10, *, start_ns: int | None = None, tgid: int | None = None, ppid: int = 1,
         comm: str = "t", nice: int = 0, policy: int = 0, cpu: int = 0, cpus_allowed: int = 1,
         runtime_ns: int = 0, wait_ns: int = 0, wait_max_ns: int = 0, runs: int = 0,
         voluntary: int = 0, involuntary: int = 0, group: int = 1, exited: bool = False,
         exit_seq: int = 0, waits: tuple[int, ...] = ()) -> TaskSample:
    return TaskSample(pid=pid, start_ns=pid if start_ns is None else start_ns,
                      tgid=pid if tgid is None else tgid, ppid=ppid, comm=comm, nice=nice,
                      policy=policy, cpu=cpu, cpus_allowed=cpus_allowed, runtime_ns=runtime_ns,
                      wait_ns=wait_ns, wait_max_ns=wait_max_ns, runs=runs,
                      voluntary_switches=voluntary, involuntary_switches=involuntary,
                      group=group, exited=exited, exit_seq=exit_seq, waits=waits)


def row(t: TaskSample, runtime: int | None = 0, wait: int | None = 0, switches: int | None = 0,
        runs: int | None = 0, unseen_exits: int = 0) -> TaskRow:
    return TaskRow(task=t, runtime_delta_ns=runtime, wait_delta_ns=wait,
                   switches_delta=switches, runs_delta=runs, unseen_exits=unseen_exits)


def info(n: int = 1, at_ns: int = 0, rows: int = 0, *, end_ns: int | None = None,
         dropped: int = 0, exits: int = 0, exits_lost: int = 0, groups_lost: int = 0,
         live_rows: int | None = None, exit_rows: int = 0,
         retired: tuple[int, int, int, int] = (0, 0, 0, 0)) -> SnapshotInfo:
    return SnapshotInfo(snapshot=n, start_ns=at_ns, end_ns=at_ns if end_ns is None else end_ns,
                        rows=rows, dropped=dropped, full=0, exits=exits, exits_from=exits,
                        exits_lost=exits_lost,
                        groups_lost=groups_lost, live_rows=rows if live_rows is None
                        else live_rows, exit_rows=exit_rows, retired_runtime_ns=retired[0],
                        retired_wait_ns=retired[1], retired_runs=retired[2],
                        retired_switches=retired[3])


def snap(n: int, at_ns: int, tasks=(), exit_rows=(), idle=(0, 0), exits_before: int = 0,
         groups: dict | None = None, timestamp_s: float = 0.0, dropped: int = 0,
         change: Change | None = None, retired: tuple[int, int, int, int] = (0, 0, 0, 0),
         summed=()) -> Snapshot:
    """A snapshot as snapshot.take returns it: its live rows, the exit rows
    read, how many exits were numbered before its walk began, and its sums
    of the exits it passed over."""
    return Snapshot(info(n, at_ns, len(tasks), exits=exits_before, exit_rows=len(exit_rows),
                         dropped=dropped, retired=retired),
                    timestamp_s, tuple(tasks), tuple(exit_rows),
                    tuple(CpuIdle(i, ns) for i, ns in enumerate(idle)), groups or {}, change,
                    tuple(summed))


def group(gid: int, parent: int, kind: str = "cgroup", name: str = "", shares: int = 1024,
          number: int | None = None, idle: bool = False, **exited) -> Group:
    return Group(id=gid, parent=parent, kind=kind, number=gid if number is None else number,
                 name=name, shares=shares, idle=idle, **exited)


def change(since: int, before, now) -> Change:
    """How the live tasks `now` differ from `before`, as kernel/snapshot.Session
    says it to the stages after it."""
    was = {t.key: t for t in before}
    here = {t.key: t for t in now}
    return Change(since, {k: t for k, t in here.items() if was.get(k) != t},
                  frozenset(was.keys() - here.keys()))
