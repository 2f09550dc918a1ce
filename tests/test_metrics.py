"""Deltas between snapshots, exit handling, conservation, tickets."""

from dataclasses import replace

import pytest

from orchestrator import metrics, tickets
from orchestrator.records import CpuIdle, Snapshot, SnapshotInfo, TaskSample


def task(pid=10, start=100, runtime=0, wait=0, vol=0, invol=0, exited=False, nice=0, policy=0):
    return TaskSample(pid, start, pid, "t", nice, policy, 0, runtime, wait, 0, 0, vol, invol,
                      exited)


def snap(n, at_ns, tasks, idle=(0, 0)):
    return Snapshot(SnapshotInfo(n, at_ns, len(tasks), 0), 0.0, tuple(tasks),
                    tuple(CpuIdle(i, ns) for i, ns in enumerate(idle)))


def test_deltas_are_against_the_same_task_in_the_previous_snapshot():
    a = snap(1, 1_000, [task(runtime=5, wait=1, vol=2)])
    b = snap(2, 2_000, [task(runtime=25, wait=4, vol=3, invol=1)])
    row = metrics.compare(a, b, tickets.weight_tickets).tasks[0]
    assert (row.runtime_delta_ns, row.wait_delta_ns, row.switches_delta) == (20, 3, 2)


def test_first_sample_has_no_deltas():
    row = metrics.compare(None, snap(1, 1_000, [task(runtime=5)]), tickets.weight_tickets).tasks[0]
    assert row.runtime_delta_ns is None and row.switches_delta is None


def test_reused_pid_counts_from_zero_not_from_the_old_task():
    old = snap(1, 1_000, [task(pid=10, start=100, runtime=900)])
    new = snap(2, 2_000, [task(pid=10, start=1_500, runtime=30)])
    assert metrics.compare(old, new, tickets.weight_tickets).tasks[0].runtime_delta_ns == 30


def test_exited_task_is_shown_once():
    first = snap(1, 1_000, [task(runtime=5)])
    gone = snap(2, 2_000, [task(runtime=8, exited=True)])
    again = snap(3, 3_000, [task(runtime=8, exited=True)])
    assert metrics.compare(first, gone, tickets.weight_tickets).tasks[0].runtime_delta_ns == 3
    assert metrics.compare(gone, again, tickets.weight_tickets).tasks == []


def test_conservation_adds_task_and_idle_time_against_the_interval():
    a = snap(1, 0, [task(runtime=0)], idle=(0, 0))
    b = snap(2, 1_000, [task(runtime=600)], idle=(400, 1_000))
    check = metrics.compare(a, b, tickets.weight_tickets).conservation
    assert (check.cpus, check.capacity_ns, check.busy_ns, check.idle_ns) == (2, 2_000, 600, 1_400)
    assert check.error == 0.0
    short = metrics.compare(a, replace(b, idle=(CpuIdle(0, 300), CpuIdle(1, 1_000))),
                            tickets.weight_tickets).conservation
    assert short.error == pytest.approx(-0.05)


def test_weight_tickets_follow_the_kernel_table():
    assert tickets.weight_tickets(0) == 1024 and tickets.weight_tickets(5) == 335
    assert tickets.weight_tickets(-20) == 88761 and tickets.weight_tickets(19) == 15
    assert tickets.weight_tickets(0, tickets.SCHED_IDLE) == 3


def test_linear_tickets_are_the_seeds_formula():
    assert [tickets.linear_tickets(n) for n in (-5, 0, 5, 9, 19)] == [150, 100, 50, 10, 10]


@pytest.mark.parametrize("policy", [tickets.SCHED_FIFO, tickets.SCHED_RR, tickets.SCHED_DEADLINE])
def test_real_time_tasks_hold_no_tickets(policy):
    assert tickets.weight_tickets(0, policy) is None
    assert tickets.linear_tickets(0, policy) is None
