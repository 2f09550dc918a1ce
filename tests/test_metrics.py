"""Deltas between snapshots, exit handling, conservation, tickets."""

from dataclasses import replace

import builders
import pytest
from builders import change, snap
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.analysis import tickets
from orchestrator.records import CpuIdle
from orchestrator.sampling import deltas


def task(pid=10, start=100, runtime=0, wait=0, vol=0, invol=0, exited=False, nice=0, policy=0,
         exit_seq=0):
    return builders.task(pid, start_ns=start, runtime_ns=runtime, wait_ns=wait, voluntary=vol,
                         involuntary=invol, exited=exited, nice=nice, policy=policy,
                         exit_seq=exit_seq)


def test_deltas_are_against_the_same_task_in_the_previous_snapshot():
    a = snap(1, 1_000, [task(runtime=5, wait=1, vol=2)])
    b = snap(2, 2_000, [task(runtime=25, wait=4, vol=3, invol=1)])
    row = deltas.compare(a, b).tasks[0]
    assert (row.runtime_delta_ns, row.wait_delta_ns, row.switches_delta) == (20, 3, 2)


def test_first_sample_has_no_deltas():
    row = deltas.compare(None, snap(1, 1_000, [task(runtime=5)])).tasks[0]
    assert row.runtime_delta_ns is None and row.switches_delta is None


def test_reused_pid_counts_from_zero_not_from_the_old_task():
    old = snap(1, 1_000, [task(pid=10, start=100, runtime=900)])
    new = snap(2, 2_000, [task(pid=10, start=1_500, runtime=30)])
    assert deltas.compare(old, new).tasks[0].runtime_delta_ns == 30


def test_an_exit_counts_once_in_the_interval_it_was_numbered_in():
    dead = task(runtime=8, exited=True, exit_seq=0)
    reader = deltas.Reader()
    reader.advance(snap(1, 1_000, [task(runtime=5)]))
    second = reader.advance(snap(2, 2_000, [], exits_before=1, exit_rows=[dead]))
    third = reader.advance(snap(3, 3_000, [], exits_before=1, exit_rows=[dead]))
    assert [(r.task.exited, r.runtime_delta_ns) for r in second.tasks] == [(True, 3)]
    assert third.tasks == [] and third.exits_missed == 0


def test_every_reader_sees_every_exit_whatever_the_others_read():
    """Two readers whose snapshots interleave: reading changes nothing in
    the kernel's rows, so each finds the exit against its own baseline."""
    dead = task(runtime=50, exited=True, exit_seq=7)
    fast, slow = deltas.Reader(), deltas.Reader()
    fast.advance(snap(1, 1_000, [task(runtime=10)], exits_before=7))
    slow.advance(snap(2, 1_500, [task(runtime=20)], exits_before=7))
    fast.advance(snap(3, 2_000, [task(runtime=30)], exits_before=7))
    seen_fast = fast.advance(snap(4, 3_000, [], exits_before=8, exit_rows=[dead]))
    seen_slow = slow.advance(snap(5, 3_500, [], exits_before=8, exit_rows=[dead]))
    assert [r.runtime_delta_ns for r in seen_fast.tasks] == [20]
    assert [r.runtime_delta_ns for r in seen_slow.tasks] == [30]


def test_a_task_that_dies_while_the_walk_passes_keeps_its_baseline():
    """Off the task list but its exit numbered after the walk began: the
    next sample counts it, from the numbers the reader last saw."""
    dead = task(runtime=25, exited=True, exit_seq=0)
    reader = deltas.Reader()
    reader.advance(snap(1, 1_000, [task(runtime=10)]))
    between = reader.advance(snap(2, 2_000, [], exits_before=0, exit_rows=[dead]))
    later = reader.advance(snap(3, 3_000, [], exits_before=1, exit_rows=[dead]))
    assert between.tasks == []
    assert [r.runtime_delta_ns for r in later.tasks] == [15]


def test_exits_that_left_the_map_are_counted_as_missed():
    reader = deltas.Reader()
    reader.advance(snap(1, 1_000, [], exits_before=10))
    kept = task(pid=11, start=1_200, runtime=4, exited=True, exit_seq=14)
    sample = reader.advance(snap(2, 2_000, [], exits_before=15, exit_rows=[kept]))
    assert sample.exits_missed == 4
    # started in the interval; the 4 others in one row
    assert [r.runtime_delta_ns for r in sample.tasks if not r.unseen_exits] == [4]
    assert [r.unseen_exits for r in sample.tasks if r.unseen_exits] == [4]


def test_exits_that_left_the_map_are_accounted_from_the_totals_of_exits():
    """A ran 100 ns by the first sample and died at 150; B was born and died
    at 30.  A's exit row was pushed out of the ring before the second sample:
    the totals of all exits the program keeps still give its last 50 ns, in
    one row."""
    a = replace(task(pid=1, start=1, runtime=100), group=5)
    b = replace(task(pid=2, start=1_500, runtime=30, exited=True, exit_seq=1), group=5)
    first = snap(1, 1_000, [a], idle=(0, 0))
    second = snap(2, 2_000, [], idle=(1_000, 920), exits_before=2, exit_rows=[b],
                  retired=(180, 0, 0, 0))
    reader = deltas.Reader()
    reader.advance(first)
    sample = reader.advance(second)
    assert sample.exits_missed == 1
    unseen = [r for r in sample.tasks if r.unseen_exits]
    assert [(r.unseen_exits, r.runtime_delta_ns) for r in unseen] == [(1, 50)]
    assert sample.conservation.busy_ns == 80 and sample.conservation.error == 0.0


def test_conservation_adds_task_and_idle_time_against_the_interval():
    a = snap(1, 0, [task(runtime=0)], idle=(0, 0))
    b = snap(2, 1_000, [task(runtime=600)], idle=(400, 1_000))
    check = deltas.compare(a, b).conservation
    assert (check.cpus, check.capacity_ns, check.busy_ns, check.idle_ns) == (2, 2_000, 600, 1_400)
    assert check.error == 0.0
    short = deltas.compare(a, replace(b, idle=(CpuIdle(0, 300), CpuIdle(1, 1_000)))
                           ).conservation
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


@settings(max_examples=150)
@given(st.data())
def test_what_is_passed_over_as_unchanged_is_what_working_it_out_again_gives(data):
    """A reader told what changed since its snapshot before visits only
    that (and the rows that moved then): every row, and the conservation
    check, must be what a reader told nothing works out, as tasks run,
    sleep, come and go."""
    quick, full = deltas.Reader(), deltas.Reader()
    numbers: dict[tuple[int, int], int] = {}
    before: list = []
    for n in range(1, 9):
        for pid in range(1, 7):
            key = next((k for k in numbers if k[0] == pid), None)
            if key is not None and data.draw(st.booleans()):
                numbers[key] += data.draw(st.integers(0, 1000))
            elif key is not None and data.draw(st.integers(0, 5)) == 0:
                del numbers[key]  # it ended (no exit row: it vanished)
            elif key is None and data.draw(st.booleans()):
                numbers[(pid, n)] = data.draw(st.integers(0, 1000))  # a new task
        tasks = [task(pid=pid, start=start, runtime=ran)
                 for (pid, start), ran in numbers.items()]
        a = quick.advance(snap(n, n * 1000, tasks, change=change(n - 1, before, tasks)
                               if n > 1 else None))
        b = full.advance(snap(n, n * 1000, tasks))
        assert {r.task.key: r for r in a.tasks} == {r.task.key: r for r in b.tasks}
        assert len(a.tasks) == len(b.tasks) and a.conservation == b.conservation
        if a.change is not None:  # what it did not make again was quiet
            assert all(r.quiet for r in a.tasks if r.task.key not in a.change.changed)
        before = tasks


def test_a_reader_told_a_change_against_a_snapshot_it_did_not_take_starts_afresh():
    """A snapshot says what changed since the one its session took before; a
    reader that did not take that one (a pipeline started again, a sample
    skipped) must work every row out, as a reader told nothing does."""
    quick, full = deltas.Reader(), deltas.Reader()
    walks = [[task(pid=1, start=1, runtime=100 * n), task(pid=2, start=2, runtime=50)]
             for n in range(1, 5)]
    for n in (1, 3, 4):  # snapshot 2 is never given to either
        told = snap(n, n * 1000, walks[n - 1],
                    change=change(n - 1, walks[n - 2], walks[n - 1]) if n > 1 else None)
        a = quick.advance(told)
        b = full.advance(snap(n, n * 1000, walks[n - 1]))
        assert {r.task.key: r for r in a.tasks} == {r.task.key: r for r in b.tasks}
        assert a.conservation == b.conservation
    assert a.tasks[0].runtime_delta_ns == 100  # from snapshot 3, not from 2


def test_the_longest_wait_is_the_walks_for_a_task_it_wrote_and_none_otherwise():
    """A walk takes a task's longest wait for its reader as it writes the
    task: a task it wrote has that interval's, one it did not write again
    (the same sample object as before) had no wait end, a baseline and an
    instance that keeps none say nothing, a sum of exits has the longest of
    them, and exits no one saw have none known."""
    a = replace(task(runtime=5), wait_longest_ns=900)
    b = replace(task(runtime=9), wait_longest_ns=40)
    reader = deltas.Reader()
    first = reader.advance(snap(1, 1_000, [a]))
    second = reader.advance(snap(2, 2_000, [b], change=change(1, [a], [b])))
    third = reader.advance(snap(3, 3_000, [b], change=change(2, [b], [b])))
    assert first.tasks[0].wait_longest_ns is None
    assert second.tasks[0].wait_longest_ns == 40 and not second.tasks[0].quiet
    assert third.tasks[0].wait_longest_ns == 0 and third.tasks[0].quiet
    older = replace(task(runtime=12), wait_longest_ns=None)
    assert deltas.compare(snap(1, 1_000, [a]), snap(2, 2_000, [older])
                          ).tasks[0].wait_longest_ns is None
    summed = replace(task(pid=0, start=5, runtime=30, exit_seq=3), wait_longest_ns=77)
    reader = deltas.Reader()
    reader.advance(snap(1, 1_000, [], exits_before=10))
    sample = reader.advance(snap(2, 2_000, [], exits_before=15, summed=[summed]))
    rows = {r.task.comm: r.wait_longest_ns for r in sample.tasks}
    assert rows == {"(3 exits summed)": 77, "(2 exits not seen)": None}, rows
