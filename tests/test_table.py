"""The table sink's grouped rows: sums only where they mean something."""

from orchestrator.analysis import currencies
from orchestrator.analysis.analyser import Analysis, RowAnalysis
from orchestrator.analysis.shares import Share
from orchestrator.kernel.records import Group, TaskSample
from orchestrator.sampling.deltas import TaskRow
from orchestrator.sinks import table

GROUPS = {1: Group(1, 0, "root", 0, "", 1024 << 10, False),
          7: Group(7, 1, "cgroup", 7, "A", 1024 << 10, False)}


def _row(pid, comm, group, nice, cpu_set):
    task = TaskSample(pid, pid, 1, comm, nice, 0, 0, 10, 0, 0, 0, 0, 0, False, 1, group)
    share = Share(cpu_set, 0.5, 0.5, 0.5)
    return TaskRow(task, 1024 if nice == 0 else 335, 10, 0, 0, 1), RowAnalysis(share)


def _grouped(rows, by):
    found = Analysis({r.task.key: a for r, a in rows}, [], {}, [], 0)
    return table.group([r for r, _ in rows], by, found, currencies.Paths(GROUPS))


def test_shares_of_different_contention_groups_are_not_added():
    (sh,) = _grouped([_row(1, "sh", 1, 0, "cpu0"), _row(2, "sh", 7, 5, "cpu1")], "comm")
    assert sh.expected is None and sh.observed is None
    assert sh.group == "(2 groups)" and sh.nice is None and sh.tickets is None
    assert sh.threads == 2


def test_one_contention_group_adds_up():
    (a,) = _grouped([_row(1, "x", 7, 0, "cpu1"), _row(2, "y", 7, 0, "cpu1")], "group")
    assert a.group == "/A" and a.expected == 1.0 and a.nice == 0 and a.tickets == 1024


def test_choosing_threads_before_grouping_them_keeps_the_order_of_grouping_all():
    # a recorded dump: every row a thread, many with equal keys (ties keep their order)
    from conftest import DATA

    from orchestrator.sampling.replay import replay_frames
    from orchestrator.sinks import live
    for frame in replay_frames(DATA / "recording.csv"):
        path = currencies.Paths(frame.sample.snapshot.groups)
        rows, found = frame.sample.tasks, frame.analysis
        everything = table.group(rows, "thread", found, path)
        keys = [(table._sort_key(s), table._row_key(s)) for s in table.SORT_KEYS]
        keys += [(live._sort_key(s), live._row_key(s, found)) for s in ("cpu", "error", "wait",
                                                                        "pid")]
        for group_key, row_key in keys:
            for top in (1, 3, len(rows) + 1):
                chosen = table.top_groups(rows, "thread", found, path, top, group_key, row_key)
                expected = sorted(everything, key=group_key, reverse=True)[:top]
                assert chosen == expected


def test_the_table_leaves_out_this_process_and_what_it_started_and_nothing_else():
    import os
    from dataclasses import replace

    from orchestrator.kernel.records import Snapshot, SnapshotInfo
    from orchestrator.sampling.deltas import Sample

    me = os.getpid()

    def task(pid, tgid, ppid, comm):
        return TaskSample(pid, 1, tgid, comm, 0, 0, 0, 10, 0, 0, 0, 0, 0, False, ppid=ppid)

    tasks = [task(me, me, 1, "lottery"), task(me + 1, me, 1, "lottery"),  # its threads
             task(900001, 900001, me, "sudo"), task(900002, 900002, 900001, "bpftool"),
             task(900004, 900004, 1, "sshd"), task(900005, 900005, 900004, "bash")]
    rows = [TaskRow(t, 1024, 10, 0, 0, 1) for t in tasks]
    info = SnapshotInfo(1, 0, 1, len(tasks), 0, 0, 0, 0, len(tasks), 0)
    sample = Sample(Snapshot(info, 0.0, tuple(tasks), (), (), GROUPS), rows, [], None)
    shown = table.without_self(sample)
    assert [r.task.comm for r in shown.tasks] == ["sshd", "bash"]
    assert shown.tasks[0] is rows[4] and replace(shown, tasks=rows) == sample
