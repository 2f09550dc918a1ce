"""The exporter's counters per label, fed with frames as frames.Pipeline
makes them: they never go back while tasks come, exit and vanish."""

from __future__ import annotations

from dataclasses import replace

import builders
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import groupings
from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Pipeline
from orchestrator.exporter.collector import _families, _labeller
from orchestrator.exporter.totals import OTHER, Totals
from orchestrator.records import Group, Snapshot, TaskSample


def _task(pid: int, comm: str, runtime: int, exited: bool = False, seq: int = 0) -> TaskSample:
    return builders.task(pid, start_ns=pid * 10, comm=comm, runtime_ns=runtime,
                         wait_ns=runtime // 2, runs=3, voluntary=2, involuntary=1,
                         cpus_allowed=2, exited=exited, exit_seq=seq)


def _snap(n: int, live: list[TaskSample], exits: list[TaskSample], exits_before: int
          ) -> Snapshot:
    return builders.snap(n, n * 1_000_000_000, live, exits, idle=(n,),
                         exits_before=exits_before, timestamp_s=1.7e9 + n)


def _by_comm(tasks):
    return lambda r: r.comm


def _cpu(series: dict, label: str) -> int:
    return series[label].numbers.cpu_ns if label in series else 0


def test_a_labels_counters_never_go_back_as_its_tasks_exit_or_vanish():
    reader, totals = Pipeline(tickets.WEIGHT), Totals(_by_comm, 10)
    seen: list[dict] = []
    # a, b and c run; c exits with its exit row seen; b vanishes with none
    walks = [
        ([_task(1, "w", 100), _task(2, "w", 50), _task(3, "w", 10)], [], 0),
        ([_task(1, "w", 200), _task(2, "w", 80), _task(3, "w", 20)], [], 0),
        ([_task(1, "w", 300), _task(2, "w", 90)], [_task(3, "w", 25, True, 0)], 1),
        ([_task(1, "w", 400)], [_task(3, "w", 25, True, 0)], 1),
    ] + [([_task(1, "w", 400 + 10 * k)], [], 1) for k in range(1, 9)]
    for n, (live, exits, numbered) in enumerate(walks, 1):
        seen.append(totals.update(reader.frame(_snap(n, live, exits, numbered))))
    cpu = [_cpu(s, "w") for s in seen]
    assert cpu == sorted(cpu), cpu  # never back
    # c counts its final 25 once; b keeps its last 90 after it is gone for good
    assert cpu[-1] == 480 + 90 + 25
    assert seen[-1]["w"].tasks == 1


def test_labels_beyond_the_cap_count_under_other_for_the_tasks_whole_life():
    reader, totals = Pipeline(tickets.WEIGHT), Totals(_by_comm, 2)
    live = [_task(1, "a", 10), _task(2, "b", 10), _task(3, "c", 10), _task(4, "d", 10)]
    first = totals.update(reader.frame(_snap(1, live, [], 0)))
    assert set(first) == {"a", "b", OTHER} and first[OTHER].tasks == 2
    assert totals.folded == 2
    # a leaves; once it is gone for good its slot is free, but c and d stay
    # where they were counted
    later = [_task(2, "b", 20), _task(3, "c", 30), _task(4, "d", 40)]
    for n in range(2, 9):
        out = totals.update(reader.frame(_snap(n, later, [], 0)))
    assert "a" not in out  # gone: no stale series
    out = totals.update(reader.frame(_snap(9, [*later, _task(5, "e", 5)], [], 0)))
    assert out[OTHER].numbers.cpu_ns == 70 and "c" not in out
    assert out["e"].numbers.cpu_ns == 5


ID_A, ID_B, ID_C = ("a" * 64, "b" * 64, "c" * 64)
POD_UID = "5b6f1d2e-8c3a-4e9b-a7d1-0c2e4f6a8b9d"
_CONTAINER_GROUPS = {
    1: builders.group(1, 0, "root", number=0),
    2: builders.group(2, 1, name="kubepods"),
    3: builders.group(3, 2, name=f"pod{POD_UID}"),
    4: builders.group(4, 3, name=ID_A),
    5: builders.group(5, 1, name="system.slice"),
    6: builders.group(6, 5, name=f"docker-{ID_B}.scope"),
    7: builders.group(7, 5, name=f"docker-{ID_C}.scope"),
    8: builders.group(8, 5, name="sshd.service"),
}


def _in(pid: int, group: int, runtime: int) -> TaskSample:
    return builders.task(pid, start_ns=pid * 10, comm="w", runtime_ns=runtime, group=group)


def _container_series(totals: Totals, reader: Pipeline, n: int, live: list[TaskSample],
                      *more: Group):
    groups = {**_CONTAINER_GROUPS, **{g.id: g for g in more}}
    snap = builders.snap(n, n * 1_000_000_000, live, idle=(n,), groups=groups,
                         timestamp_s=1.7e9 + n)
    return totals.update(reader.frame(snap))


def test_containers_label_series_by_id_and_pod_uid_and_fold_beyond_the_cap():
    other = (OTHER, "", "")
    totals = Totals(_labeller(groupings.get("container")), 3, other)
    reader = Pipeline(tickets.WEIGHT)
    live = [_in(1, 4, 10), _in(2, 4, 20), _in(3, 6, 30), _in(4, 8, 40), _in(5, 7, 50)]
    first = _container_series(totals, reader, 1, live)
    assert set(first) == {(ID_A, ID_A, POD_UID), (ID_B, ID_B, ""), ("host", "", ""), other}
    assert first[(ID_A, ID_A, POD_UID)].numbers.cpu_ns == 30
    assert first[other].numbers.cpu_ns == 50 and totals.folded == 1
    # A's container goes: its series goes once its tasks are gone for good,
    # and its slot is free for the next container, while C stays in other
    later = [_in(3, 6, 60), _in(4, 8, 70), _in(5, 7, 80)]
    for n in range(2, 9):
        out = _container_series(totals, reader, n, later)
    assert (ID_A, ID_A, POD_UID) not in out
    conmon = builders.group(9, 3, name="crio-conmon-" + "d" * 64 + ".scope")  # the pod's own
    out = _container_series(totals, reader, 9, [*later, _in(6, 9, 5)], conmon)
    assert out[(f"pod-{POD_UID}", "", POD_UID)].numbers.cpu_ns == 5
    assert out[other].numbers.cpu_ns == 80
    text = "".join(f"{m.name} {s.labels}\n" for m in _families("lottery", [
        "group", "container_id", "pod_uid"], out) for s in m.samples)
    assert f"'group': 'pod-{POD_UID}', 'container_id': '', 'pod_uid': '{POD_UID}'" in text
    assert f"'group': '{ID_B}', 'container_id': '{ID_B}', 'pod_uid': ''" in text


def test_a_task_groups_summed_exits_count_in_its_series_where_labels_name_groups():
    """A walk's sum of 40 short exits in group 6 (beyond those it lists),
    where a task lives too: with labels that name task groups it counts in
    group 6's series; with labels by command it has none to count in, and
    makes none."""
    summed = builders.task(0, start_ns=6, comm="", runtime_ns=500, wait_ns=30, runs=40,
                           voluntary=40, group=6, exited=True, exit_seq=40)
    for grouping, sums in (("group", True), ("comm", False)):
        totals = Totals(_labeller(groupings.get(grouping)), 10, sums=sums)
        reader = Pipeline(tickets.WEIGHT)
        out = {}
        for n, (runtime, numbered, sums_) in enumerate(((10, 0, ()), (20, 40, (summed,))), 1):
            live = [_in(1, 4, runtime), _in(2, 6, runtime)]
            snap = builders.snap(n, n * 1_000_000_000, live, idle=(n,),
                                 groups=_CONTAINER_GROUPS, timestamp_s=1.7e9 + n,
                                 exits_before=numbered, summed=sums_)
            frame = reader.frame(snap)
            out = totals.update(frame)
        assert [r.state for r in frame.tasks] == ["alive", "alive", "summed"]
        assert frame.seen.exits_passed == 40 and frame.seen.exits_missed == 0
        cpu = sorted(s.numbers.cpu_ns for s in out.values())
        assert cpu == ([20, 520] if sums else [40]), (grouping, out)


@settings(max_examples=80)
@given(st.data())
def test_counters_kept_as_tasks_change_are_what_adding_every_task_again_gives(data):
    """Totals told what changed (Frame.change) add only that; fed the same
    frames told nothing, they add every task again.  As tasks run, sleep,
    come, exit (with their exit rows) and vanish, under a cap of 3 labels,
    both must show the same series and the same count of folded labels."""
    quick, full = Totals(_by_comm, 3), Totals(_by_comm, 3)
    pipeline = Pipeline(tickets.WEIGHT)
    live = {pid: _task(pid, f"c{pid % 5}", 1000) for pid in range(1, 9)}
    before: list[TaskSample] = []
    exits, next_pid = 0, 9
    for n in range(1, 10):
        ended = []
        for pid in list(live):
            what = data.draw(st.sampled_from(["sleep", "sleep", "run", "exit", "vanish"]))
            t = live[pid]
            if what == "run":
                live[pid] = _task(pid, t.comm, t.runtime_ns + data.draw(st.integers(1, 10**6)))
            elif what == "exit":
                ended.append(_task(pid, t.comm, t.runtime_ns + 7, exited=True, seq=exits))
                exits += 1
                del live[pid]
            elif what == "vanish":
                del live[pid]
        for _ in range(data.draw(st.integers(0, 2))):
            live[next_pid] = _task(next_pid, f"c{next_pid % 7}", 0)
            next_pid += 1
        now = list(live.values())
        walk = _snap(n, now, ended, exits - len(ended))
        if before:
            walk = replace(walk, change=builders.change(n - 1, before, now))
        frame = pipeline.frame(walk)
        a, b = quick.update(frame), full.update(replace(frame, change=None))
        # expected CPU is a float summed in another order: equal to rounding
        assert {k: replace(v, expected_ns=0.0) for k, v in a.items()} == \
            {k: replace(v, expected_ns=0.0) for k, v in b.items()}
        assert all(a[k].expected_ns == pytest.approx(b[k].expected_ns, rel=1e-12) for k in a)
        assert quick.folded == full.folded
        before = now
