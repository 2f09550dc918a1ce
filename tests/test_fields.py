"""Whatever the kernel's counters do between two samples (a counter that
goes back when a thread execs, a task that comes with no baseline, real-time
tasks, idle CPUs whose clock steps back), every value a frame's records
hold is one the reader of recordings takes back: no dump writes a file its
own replay refuses."""

from __future__ import annotations

import builders
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import records
from orchestrator.analysis import tickets
from orchestrator.analysis.analyser import AnalysisOptions
from orchestrator.analysis.frames import Pipeline
from orchestrator.analysis.tickets import SCHED_FIFO, SCHED_IDLE, SCHED_NORMAL

_COUNTER = st.integers(0, 2**40)
_TASK = st.tuples(st.integers(1, 40), _COUNTER, _COUNTER, _COUNTER, _COUNTER, _COUNTER,
                  st.integers(-20, 19), st.sampled_from([SCHED_NORMAL, SCHED_IDLE, SCHED_FIFO]),
                  st.integers(0, 1), st.integers(1, 2))


def _snap(n: int, tasks, idle) -> object:
    live = {}
    for pid, runtime, wait, runs, vol, invol, nice, policy, cpu, allowed in tasks:
        live[pid] = builders.task(pid, comm=f"t{pid}", nice=nice, policy=policy, cpu=cpu,
                                  cpus_allowed=allowed, runtime_ns=runtime, wait_ns=wait,
                                  wait_max_ns=wait, runs=runs, voluntary=vol, involuntary=invol)
    return builders.snap(n, n * 1_000_000_000, list(live.values()), idle=idle,
                         timestamp_s=1.7e9 + n)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.lists(_TASK, max_size=8), st.tuples(_COUNTER, _COUNTER)),
                min_size=2, max_size=5), st.sampled_from(["weight", "flat", "linear"]))
def test_every_value_a_frame_holds_is_one_a_recording_may_hold(samples, model):
    pipeline = Pipeline(tickets.model(model), AnalysisOptions(draws=100, seed=1))
    for n, (tasks, idle) in enumerate(samples, 1):
        frame = pipeline.frame(_snap(n, tasks, idle))
        records.TIMESTAMP.check(frame.timestamp_s)
        for record in (*frame.tasks, *frame.idle):
            for field, value in zip(records.TASK_FIELDS, record, strict=True):
                try:
                    field.check(value)
                except ValueError as err:
                    raise AssertionError(f"{err} in {record}") from None
