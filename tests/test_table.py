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
