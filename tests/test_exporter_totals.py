"""The exporter's counters per label, fed with frames as frames.Pipeline
makes them: they never go back while tasks come, exit and vanish."""

from __future__ import annotations

import builders

from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Pipeline
from orchestrator.exporter.totals import OTHER, Totals
from orchestrator.records import Snapshot, TaskSample


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
