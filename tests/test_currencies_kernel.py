"""Expected shares through the kernel's own task groups, against what the
kernel gave the same tasks (/proc/PID/schedstat), on one shared CPU.

Only the ratios among the test's own tasks are compared, so tasks that
other users run on the same CPU change nothing; the tasks run until stopped,
whatever time a busy machine takes to sample them."""

from __future__ import annotations

import os
import time

import pytest
from conftest import normalised, schedstat_runtime

from orchestrator import workload
from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Pipeline
from orchestrator.kernel import snapshot

CPU = max(os.sched_getaffinity(0))


def _expected_and_kernel(instance, pids, span_s=2.0, model=tickets.WEIGHT):
    pipeline = Pipeline(model)
    time.sleep(0.5)  # let the scheduler settle the group weights (they are set up: spin)
    pipeline.frame(snapshot.take(instance))
    before = schedstat_runtime(pids)
    time.sleep(span_s)
    snap = snapshot.take(instance)
    frame = pipeline.frame(snap)
    after = schedstat_runtime(pids)
    records = {r.pid: r for r in frame.tasks if r.pid in pids}
    expected = {pid: records[pid].expected_share for pid in pids}
    kernel = {pid: after[pid] - before[pid] for pid in pids}
    return normalised(expected), normalised(kernel), {t.pid: t for t in snap.tasks}


def _measured(instance, pids):
    """_expected_and_kernel while the workloads run; they are stopped after."""
    try:
        return _expected_and_kernel(instance, pids)
    finally:
        workload.stop(pids)
        workload.wait(pids)


def test_each_session_is_a_currency_of_equal_weight(instance, spin):
    """Two CPU-bound tasks at nice 0 and 5 started in two sessions (autogroup
    on): the kernel gives them half each, and so must the expected share."""
    pids = spin(0, CPU, new_session=True) + spin(5, CPU, new_session=True)
    expected, kernel, rows = _measured(instance, pids)
    assert rows[pids[0]].group != rows[pids[1]].group
    for pid in pids:
        assert expected[pid] == pytest.approx(kernel[pid], abs=0.03), (expected, kernel)
    assert kernel[pids[0]] == pytest.approx(0.5, abs=0.05)  # not 1024:335 = 75:25


def test_cgroup_weights_are_currencies(instance, cgroups, spin):
    """A (2048) holds a nice-0 task, B (1024) a nice-0 and a nice-5 task:
    the kernel gives about 66.7 / 25.1 / 8.2 %."""
    a, b = cgroups.make("A", 2048), cgroups.make("B", 1024)
    pids = spin(0, CPU, cgroup=a) + spin(0, CPU, cgroup=b) + spin(5, CPU, cgroup=b)
    expected, kernel, rows = _measured(instance, pids)
    for pid in pids:
        assert expected[pid] == pytest.approx(kernel[pid], abs=0.03), (expected, kernel)
    assert expected[pids[0]] == pytest.approx(2 / 3, abs=0.03)
    groups = snapshot.take(instance).groups
    assert [groups[rows[pid].group].name for pid in pids] == ["A", "B", "B"]


def test_the_flat_model_still_expects_nice_alone(instance, spin):
    pids = spin(0, CPU, new_session=True) + spin(5, CPU, new_session=True)
    try:
        expected, _, _ = _expected_and_kernel(instance, pids, 1.0, tickets.FLAT)
    finally:
        workload.stop(pids)
        workload.wait(pids)
    assert expected[pids[0]] == pytest.approx(1024 / (1024 + 335), abs=0.02)
