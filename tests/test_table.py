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
