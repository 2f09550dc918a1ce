"""Demand, quota ceilings and deficits as pure logic, on numbers captured
from real runs on this VM (kernel 6.18; the runs are described with each)."""

from __future__ import annotations

import pytest
from builders import group, task

from orchestrator.analysis import deficit, shares
from orchestrator.sampling.deltas import TaskRow, Throttling, throttling

MS = 1_000_000
T = 2000 * MS  # the runs' interval


def _row(pid, *, ran, waited, switches, involuntary, runs, group_id=1, cpu=1, pinned=True):
    t = task(pid, cpu=cpu, cpus_allowed=1 if pinned else 2, group=group_id)
    return TaskRow(task=t, runtime_delta_ns=ran, wait_delta_ns=waited, switches_delta=switches,
                   runs_delta=runs, involuntary_delta=involuntary)


def test_a_short_burst_that_waited_behind_stress_ng_asked_for_what_it_ran():
    """A bpftool that lived beside stress-ng --cpu 2 --switch 2: 3.2 ms of
    CPU, 592 ms of waiting, 3 runs, 2 of its 3 switch-outs preempted.  The
    wait counted as demand made it owed 11 % of the machine."""
    r = _row(1, ran=3_200_000, waited=592_222_000, switches=3, involuntary=2, runs=3,
             pinned=False)
    assert shares.demand(r) == 3_200_000 + round(2 * 3_200_000 / 3)


def test_a_task_that_never_slept_wanted_all_it_waited():
    r = _row(1, ran=400 * MS, waited=1600 * MS, switches=80, involuntary=80, runs=80)
    assert shares.demand(r) == 2000 * MS


def test_switch_counts_not_known_count_the_whole_wait():
    r = TaskRow(task=task(1), runtime_delta_ns=5 * MS, wait_delta_ns=50 * MS,
                switches_delta=None, runs_delta=None)
    assert shares.demand(r) == 55 * MS


def test_a_credit_never_exceeds_the_wait_after_preemptions():
    """Few, long runs and a short wait: one more run each would be more than
    it waited after being preempted (a quarter of its wait here)."""
    r = _row(1, ran=300 * MS, waited=8 * MS, switches=4, involuntary=1, runs=4)
    assert shares.demand(r) == 300 * MS + 2 * MS


# Q (quota 20 ms per 100 ms) and F, equal weight, one spinner each on CPU 1,
# measured over 2 s: the kernel gave Q 400 ms and F 1600 ms; Q waited 1596 ms
# (its throttled time is in its run_delay), cpu.stat grew 1197 ms.
ROOT = group(1, 0, "root", shares=1024 << 10)
TREE = group(2, 1, name="lt", shares=1024 << 10)


def _quota_case(quota_ns=20 * MS):
    groups = {1: ROOT, 2: TREE,
              3: group(3, 2, name="Q", shares=1024 << 10, quota_ns=quota_ns,
                       period_ns=100 * MS, periods=20, throttled_periods=19,
                       throttled_ns=1197 * MS),
              4: group(4, 2, name="F", shares=1024 << 10, period_ns=100 * MS)}
    q = _row(10, ran=400 * MS, waited=1596 * MS, switches=40, involuntary=40, runs=40,
             group_id=3)
    f = _row(11, ran=1600 * MS, waited=400 * MS, switches=40, involuntary=40, runs=40,
             group_id=4)
    return groups, q, f


def test_a_quota_caps_its_group_at_what_it_may_run():
    groups, q, f = _quota_case()
    got = shares.shares([q, f], lambda r: 1024, T, groups)
    assert got[q.task.key].expected == pytest.approx(0.2, abs=1e-6)
    assert got[f.task.key].expected == pytest.approx(0.8, abs=1e-6)
    # had it no quota, half: what it can be said to fall short of
    assert got[q.task.key].entitled == pytest.approx(0.5, abs=1e-6)
    unlimited, q, f = _quota_case(quota_ns=0)
    got = shares.shares([q, f], lambda r: 1024, T, unlimited)
    assert got[q.task.key].expected == pytest.approx(0.5, abs=1e-6)


def test_a_nested_quota_caps_the_groups_below_it():
    """P (30 % of a CPU) holds A (2048) and B (1024); F beside it."""
    groups = {1: ROOT, 2: group(2, 1, name="P", shares=1024 << 10, quota_ns=30 * MS,
                                period_ns=100 * MS),
              3: group(3, 2, name="A", shares=2048 << 10),
              4: group(4, 2, name="B", shares=1024 << 10),
              5: group(5, 1, name="F", shares=1024 << 10)}
    rows = [_row(10, ran=400 * MS, waited=1600 * MS, switches=9, involuntary=9, runs=9,
                 group_id=3),
            _row(11, ran=200 * MS, waited=1800 * MS, switches=9, involuntary=9, runs=9,
                 group_id=4),
            _row(12, ran=1400 * MS, waited=600 * MS, switches=9, involuntary=9, runs=9,
                 group_id=5)]
    got = shares.shares(rows, lambda r: 1024, T, groups)
    assert [round(got[r.task.key].expected, 4) for r in rows] == [0.2, 0.1, 0.7]
    assert [round(got[r.task.key].entitled, 4) for r in rows] == [0.3333, 0.1667, 0.7]


def test_the_deficit_of_a_limited_group_is_put_to_its_quota():
    groups, q, f = _quota_case()
    got = shares.shares([q, f], lambda r: 1024, T, groups)
    limit = deficit.limits(groups, {3: Throttling(20, 19, 1197 * MS)})[3]
    assert limit.quota_cpus == 0.2 and limit.group == 3
    d = deficit.deficit(q, got[q.task.key], T, limit)
    assert d.total_ns == pytest.approx(600 * MS, rel=1e-6)  # half, less the 400 it ran
    assert d.throttled_ns == pytest.approx(600 * MS, rel=1e-6)
    assert d.cpus_ns == d.waited_ns == d.unasked_ns == 0
    assert deficit.deficit(f, got[f.task.key], T, None).total_ns == 0


def test_a_sleeper_falls_short_by_what_it_did_not_ask_and_what_it_waited():
    """Beside a hog on one CPU: ran 100 ms, waited 150 ms, slept the rest."""
    hog = _row(1, ran=1900 * MS, waited=100 * MS, switches=50, involuntary=50, runs=50)
    sleeper = _row(2, ran=100 * MS, waited=150 * MS, switches=60, involuntary=5, runs=60)
    got = shares.shares([hog, sleeper], lambda r: 1024, T)
    d = deficit.deficit(sleeper, got[sleeper.task.key], T, None)
    assert d.total_ns == pytest.approx(900 * MS, rel=1e-6)  # half of 2 s, less 100
    assert d.waited_ns == 150 * MS and d.throttled_ns == 0
    assert d.unasked_ns == pytest.approx(750 * MS, rel=1e-6)


def test_the_nearest_of_equal_ceilings_and_the_lowest_of_all_binds():
    groups = {1: ROOT, 2: group(2, 1, quota_ns=50 * MS, period_ns=100 * MS),
              3: group(3, 2, quota_ns=30 * MS, period_ns=100 * MS),
              4: group(4, 3, quota_ns=60 * MS, period_ns=100 * MS),
              5: group(5, 1)}
    found = deficit.limits(groups, {})
    assert found[4].group == 3 and found[4].quota_cpus == pytest.approx(0.3)
    assert found[2].group == 2 and found[5] is None and found[1] is None


def test_throttling_counts_only_what_grew_since_the_groups_were_seen_before():
    before = {3: group(3, 1, quota_ns=MS, period_ns=100 * MS, periods=5, throttled_periods=4,
                       throttled_ns=300 * MS)}
    now = {3: group(3, 1, quota_ns=MS, period_ns=100 * MS, periods=25, throttled_periods=23,
                    throttled_ns=1500 * MS),
           4: group(4, 1, quota_ns=MS, period_ns=100 * MS, periods=9, throttled_ns=9 * MS),
           5: group(5, 1, periods=3)}
    assert throttling(now, before) == {3: Throttling(20, 19, 1200 * MS)}
    # a counter that went back (the id's group made anew) is no throttling
    assert throttling(before, now) == {3: Throttling(0, 0, 0)}
