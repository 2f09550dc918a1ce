"""lottery simulate on a CSV that a real dump wrote (tests/data/dump.csv:
lottery-work at nice 0 and nice 5 pinned to one CPU, four samples)."""

from __future__ import annotations

import csv
import shutil

import pytest
from conftest import DATA, run_in_process, run_lottery

from orchestrator import records
from orchestrator.analysis import simulate as sim
from orchestrator.analysis import tickets
from orchestrator.errors import LotteryError

QUANTUM = 4_000_000


def _pair(results):
    work = sorted((r for r in results if r.comm == "lottery-work"), key=lambda r: r.nice)
    assert [r.nice for r in work] == [0, 5]
    return work


def test_replay_of_the_pinned_pair_follows_their_tickets():
    intervals, tasks = sim.from_samples(records.read(DATA / "dump.csv"))
    assert len(intervals) == 3
    fast, slow = _pair(sim.replay(intervals, tasks, QUANTUM, 20, seed=1))
    assert fast.stride_ns / slow.stride_ns == pytest.approx(1024 / 335, rel=0.02)
    for r in (fast, slow):  # Linux's split lies within the lottery's spread
        assert abs(r.observed_ns - r.lottery_mean_ns) < 3 * r.lottery_sd_ns
        assert abs(r.stride_ns - r.observed_ns) < 0.01 * (fast.observed_ns + slow.observed_ns)


def test_replay_is_repeatable_with_a_seed_and_varies_without():
    runs = []
    for seed in (5, 5, 6):
        intervals, tasks = sim.from_samples(records.read(DATA / "dump.csv"))
        runs.append([r.lottery_ns for r in sim.replay(intervals, tasks, QUANTUM, 5, seed)])
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_no_task_gets_more_than_it_was_runnable_for():
    intervals, tasks = sim.from_samples(records.read(DATA / "dump.csv"))
    asked = {}
    for interval in intervals:
        for members in interval.values():
            for m in members:
                asked[m.key] = asked.get(m.key, 0) + round((m.runtime_ns + m.wait_ns) / QUANTUM)
    for r in sim.replay(intervals, tasks, QUANTUM, 5, seed=2):
        key = next(k for k, t in tasks.items() if t is r)
        assert max(r.lottery_ns) <= asked[key] * QUANTUM and r.stride_ns <= asked[key] * QUANTUM


def test_another_ticket_model_changes_the_split():
    intervals, tasks = sim.from_samples(records.read(DATA / "dump.csv"), tickets.LINEAR)
    fast, slow = _pair(sim.replay(intervals, tasks, QUANTUM, 5, seed=1))
    assert (fast.tickets, slow.tickets) == (100, 50)
    assert fast.stride_ns / slow.stride_ns == pytest.approx(2.0, rel=0.02)


def test_a_csv_without_the_columns_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(LotteryError, match="not a CSV or NDJSON file of this lottery"):
        sim.from_samples(records.read(path))


def test_a_damaged_row_names_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    with (DATA / "dump.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    row = next(i for i, r in enumerate(rows) if r[header.index("contention_group")] == "cpu1")
    rows[row][header.index("runtime_delta_ns")] = "12x"
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    with pytest.raises(LotteryError, match=f"line {row + 1}"):
        sim.from_samples(records.read(path))


def test_cli_prints_the_table_and_writes_the_csv(tmp_path):
    shutil.copy(DATA / "dump.csv", tmp_path / "run.csv")
    out = tmp_path / "replay.csv"
    done = run_lottery("simulate", str(tmp_path / "run.csv"), "--seed", "1", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "LOTTERY ms (mean ± sd)" in done.stdout and "lottery-work" in done.stdout
    assert out.read_text().splitlines()[0].startswith("pid,comm,nice,tickets,linux_ns")


@pytest.mark.parametrize("args,message", [
    (["simulate", "/nonexistent.csv"], "cannot read /nonexistent.csv"),
    (["simulate"], "give either a CSV or --live N"),
    (["simulate", str(DATA / "dump.csv"), "--quantum", "0"], "--quantum 0"),
    (["simulate", str(DATA / "dump.csv"), "--replays", "1"], "--replays 1"),
    (["experiment", "--ratios", "3-1"], "--ratios part '3-1'"),
    (["experiment", "--cpu", "99"], "--cpu 99"),
    (["dump", "--alpha", "0"], "--alpha 0"),
    (["dump", "--simulate-draws", "-1"], "--simulate-draws -1"),
])
def test_bad_analysis_input_is_one_line(args, message):
    done = run_in_process(*args)
    assert done.returncode == 2 and done.stdout == "", done
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
