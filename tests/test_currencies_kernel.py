"""Expected shares through the kernel's own task groups, against what the
kernel gave the same tasks (/proc/PID/schedstat), on one shared CPU.

Only the ratios among the test's own tasks are compared, so tasks that
other users run on the same CPU change nothing."""

from __future__ import annotations

import os
import time

import pytest

from orchestrator import workload
from orchestrator.analysis import analyser, tickets
from orchestrator.kernel import snapshot
from orchestrator.sampling import deltas

CPU = max(os.sched_getaffinity(0))


def _schedstat(pids):
    out = {}
    for pid in pids:
        with open(f"/proc/{pid}/schedstat") as handle:
            out[pid] = int(handle.read().split()[0])
    return out


def _normalised(values: dict[int, float]) -> dict[int, float]:
    total = sum(values.values())
    return {k: v / total for k, v in values.items()}


def _expected_and_kernel(instance, pids, span_s=2.0):
    reader = deltas.Reader(tickets.WEIGHT)
    time.sleep(0.5)  # let the scheduler settle the group weights
    reader.advance(snapshot.take(instance))
    before = _schedstat(pids)
    time.sleep(span_s)
    sample = reader.advance(snapshot.take(instance))
    after = _schedstat(pids)
    found = analyser.Analyser().analyse(sample)
    rows = {r.task.pid: r for r in sample.tasks if r.task.pid in pids}
    expected = {pid: found.rows[rows[pid].task.key].share.expected for pid in pids}
    kernel = {pid: after[pid] - before[pid] for pid in pids}
    return _normalised(expected), _normalised(kernel), rows


def _measured(instance, pids):
    """_expected_and_kernel while the workloads run; they are stopped after."""
    try:
        return _expected_and_kernel(instance, pids)
    finally:
        workload.stop(pids)
        workload.wait(pids)


def test_each_session_is_a_currency_of_equal_weight(instance):
    """Two CPU-bound tasks at nice 0 and 5 started in two sessions (autogroup
    on): the kernel gives them half each, and so must the expected share."""
    pids = (workload.start(0, 4.0, CPU, new_session=True)
            + workload.start(5, 4.0, CPU, new_session=True))
    expected, kernel, rows = _measured(instance, pids)
    assert rows[pids[0]].task.group != rows[pids[1]].task.group
    for pid in pids:
        assert expected[pid] == pytest.approx(kernel[pid], abs=0.03), (expected, kernel)
    assert kernel[pids[0]] == pytest.approx(0.5, abs=0.05)  # not 1024:335 = 75:25


def test_cgroup_weights_are_currencies(instance, cgroups):
    """A (2048) holds a nice-0 task, B (1024) a nice-0 and a nice-5 task:
    the kernel gives about 66.7 / 25.1 / 8.2 %."""
    a, b = cgroups.make("A", 2048), cgroups.make("B", 1024)
    pids = (workload.start(0, 4.0, CPU, cgroup=a) + workload.start(0, 4.0, CPU, cgroup=b)
            + workload.start(5, 4.0, CPU, cgroup=b))
    expected, kernel, rows = _measured(instance, pids)
    for pid in pids:
        assert expected[pid] == pytest.approx(kernel[pid], abs=0.03), (expected, kernel)
    assert expected[pids[0]] == pytest.approx(2 / 3, abs=0.03)
    groups = snapshot.take(instance).groups
    assert [groups[rows[pid].task.group].name for pid in pids] == ["A", "B", "B"]


def test_the_flat_model_still_expects_nice_alone(instance):
    pids = (workload.start(0, 3.0, CPU, new_session=True)
            + workload.start(5, 3.0, CPU, new_session=True))
    try:
        reader = deltas.Reader(tickets.FLAT)
        time.sleep(0.3)
        reader.advance(snapshot.take(instance))
        time.sleep(1.0)
        sample = reader.advance(snapshot.take(instance))
    finally:
        workload.stop(pids)
        workload.wait(pids)
    found = analyser.Analyser(hierarchical=False).analyse(sample)
    share = {r.task.pid: found.rows[r.task.key].share.expected
             for r in sample.tasks if r.task.pid in pids}
    assert _normalised(share)[pids[0]] == pytest.approx(1024 / (1024 + 335), abs=0.02)
