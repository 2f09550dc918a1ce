"""The CSV and NDJSON sinks: seed columns first, one schema per file, whole
samples only, the same values in both."""

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.analysis import tickets
from orchestrator.analysis.analyser import Analyser, Analysis
from orchestrator.constants import SEED_CSV_COLUMNS
from orchestrator.errors import LotteryError
from orchestrator.kernel.records import CpuIdle, Snapshot, SnapshotInfo, TaskSample
from orchestrator.sampling import deltas
from orchestrator.sinks import Output, record
from orchestrator.sinks.csv_file import HEADER, CsvSink
from orchestrator.sinks.ndjson import NdjsonSink


def _sample(runtime_ns=2_500_000):
    t = TaskSample(42, 7, 42, "worker, \"odd\"", 5, 0, 1, runtime_ns, 10, 3, 4, 2, 1, False)
    idle = (CpuIdle(0, 9), CpuIdle(1, 8))
    info = SnapshotInfo(1, 1_000, 1_100, 1, 0, 0, 0, 0, 1, 0)
    snap = Snapshot(info, 1700000000.5, (t,), (), idle, {})
    sample = deltas.compare(None, snap, tickets.WEIGHT)
    return Output(sample, Analysis({}, [], {}, [], 0), record.records(sample), [])


def test_header_starts_with_the_seed_columns(tmp_path):
    path = tmp_path / "s.csv"
    CsvSink(path).close()
    assert path.read_text().splitlines()[0].split(",")[:7] == list(SEED_CSV_COLUMNS)


def test_rows_hold_tasks_and_one_idle_row_per_cpu(tmp_path):
    path = tmp_path / "s.csv"
    sink = CsvSink(path)
    sink.write(_sample())
    sink.close()
    rows = list(csv.DictReader(path.open()))
    assert [r["pid"] for r in rows] == ["42", "0", "0"]
    assert rows[0]["runtime_ms"] == "2.500" and rows[0]["tickets"] == "335"
    assert rows[0]["switches"] == "3" and rows[0]["comm"] == 'worker, "odd"'
    assert [(r["state"], r["cpu"]) for r in rows[1:]] == [("idle", "0"), ("idle", "1")]


def test_appending_keeps_one_header(tmp_path):
    path = tmp_path / "s.csv"
    for _ in range(2):
        sink = CsvSink(path)
        sink.write(_sample())
        sink.close()
    lines = path.read_text().splitlines()
    assert lines.count(HEADER) == 1 and len(lines) == 7


def test_dump_refuses_csv_with_other_header(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(LotteryError, match="other fields"):
        CsvSink(path)
    assert path.read_text() == "a,b,c\n1,2,3\n"


def test_dump_refuses_csv_ending_in_half_a_row(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(HEADER + "\n1.0,42,12")
    with pytest.raises(LotteryError, match="half-written"):
        CsvSink(path)


def test_unwritable_csv_is_refused_before_sampling(tmp_path):
    blocked = tmp_path / "dir"
    blocked.mkdir()
    with pytest.raises(LotteryError, match="is a directory"):
        CsvSink(blocked)
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(LotteryError, match="cannot write CSV"):
        CsvSink(tmp_path / "file.txt" / "below-a-file.csv")


def _same_values(csv_rows, json_rows):
    """Blank in the CSV is null in NDJSON; every other cell the same value."""
    assert len(csv_rows) == len(json_rows)
    for c, j in zip(csv_rows, json_rows, strict=True):
        assert list(c) == list(j)  # the same names, in the same order
        for name, text in c.items():
            value = j[name]
            if text == "":
                assert value is None, name
            elif isinstance(value, str):
                assert value == text, name
            else:
                assert value == float(text) and type(value) in (int, float), name


def test_ndjson_holds_the_csv_fields_with_the_same_values(tmp_path):
    csv_path, json_path = tmp_path / "s.csv", tmp_path / "s.ndjson"
    for sink in (CsvSink(csv_path), NdjsonSink(json_path)):
        sink.write(_sample())
        sink.write(_sample(3_000_000))
        sink.close()
    lines = json_path.read_text().splitlines()
    assert len(lines) == 6 and all(line.startswith("{") for line in lines)
    _same_values(list(csv.DictReader(csv_path.open(newline=""))),
                 [json.loads(line) for line in lines])


def test_ndjson_refuses_a_file_with_other_fields_or_half_a_row(tmp_path):
    other = tmp_path / "other.ndjson"
    other.write_text('{"a": 1}\n')
    with pytest.raises(LotteryError, match="other fields"):
        NdjsonSink(other)
    half = tmp_path / "half.ndjson"
    sink = NdjsonSink(half)
    sink.write(_sample())
    sink.close()
    half.write_text(half.read_text() + '{"timestamp_s": 1.0, "pid"')
    with pytest.raises(LotteryError, match="half-written"):
        NdjsonSink(half)


def test_every_field_has_a_value_in_every_record():
    for values in _sample().records:
        assert len(values) == len(record.FIELDS)


def test_both_files_read_back_as_the_same_typed_records(tmp_path):
    csv_path, json_path = tmp_path / "s.csv", tmp_path / "s.ndjson"
    for sink in (CsvSink(csv_path), NdjsonSink(json_path)):
        sink.write(_sample())
        sink.close()
    assert record.read(csv_path) == record.read(json_path)
    first = record.read(csv_path)[0]
    assert first["pid"] == 42 and first["comm"] == 'worker, "odd"' and first["runtime_ms"] == 2.5


def test_a_file_of_something_else_is_refused_in_one_line(tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(LotteryError, match="not a CSV or NDJSON file"):
        record.read(other)


def _walk(n: int, busy_runtime: int, sleeper: TaskSample) -> Snapshot:
    """Snapshot n of a busy task and a task that sleeps throughout (the same
    object every time, as parse.RowMemo hands it over)."""
    busy = TaskSample(7, 3, 7, "busy", 0, 0, 0, busy_runtime, 5 * n, 0, 2 * n, n, n, False)
    info = SnapshotInfo(n, n * 1_000_000, n * 1_000_000 + 10, 2, 0, 0, 0, 0, 2, 0)
    return Snapshot(info, 1700000000.25 + n, (busy, sleeper), (),
                    (CpuIdle(0, n * 400_000),), {})


def _write_kept_and_fresh(kept: CsvSink, fresh: Path, sample, found, rows, repeats) -> None:
    """One sample into a series' sink, reusing lines, and into a new sink each
    time, which has nothing to reuse."""
    kept.write(Output(sample, found, rows, [], repeats))
    one = CsvSink(fresh)
    one.write(Output(sample, found, record.records(sample, found), []))
    one.close()


def test_a_series_repeats_sleeping_tasks_and_writes_what_fresh_sinks_write(tmp_path):
    sleeper = TaskSample(9, 4, 9, "sleeper", 0, 0, 0, 700, 20, 0, 3, 3, 0, False)
    reader, analysing = deltas.Reader(tickets.WEIGHT), Analyser()
    series = record.Records()
    kept, fresh = CsvSink(tmp_path / "kept.csv"), tmp_path / "fresh.csv"
    flags = []
    for n in range(1, 6):
        sample = reader.advance(_walk(n, 1_000 * n * n, sleeper))
        found = analysing.analyse(sample)
        rows, repeats = series(sample, found)
        assert rows == record.records(sample, found)  # reuse changes no value
        flags.append(repeats)
        _write_kept_and_fresh(kept, fresh, sample, found, rows, repeats)
    kept.close()
    assert (tmp_path / "kept.csv").read_text() == fresh.read_text()
    # the sleeper repeats once its row and its average stop changing; the
    # busy task and the idle row never do
    assert [f[0] for f in flags] == [-1] * 5 and [f[2] for f in flags] == [-1] * 5
    assert flags[-1][1] == 1 and flags[0][1] == -1


def test_a_group_that_comes_keeps_repeats_and_a_renamed_one_ends_them():
    from dataclasses import replace

    from orchestrator.kernel.records import Group
    root = Group(1, 0, "root", 0, "", 1024, False)
    a = Group(7, 1, "cgroup", 7, "A", 1024, False)
    sleeper = TaskSample(9, 4, 9, "sleeper", 0, 0, 0, 700, 20, 0, 3, 3, 0, False, 1, 7)
    reader, analysing, series = deltas.Reader(tickets.WEIGHT), Analyser(), record.Records()
    groups = [{1: root, 7: a}] * 3 + [{1: root, 7: a, 8: replace(a, id=8, name="B")},
                                      {1: root, 7: replace(a, name="A2")}]
    seen = []
    for n, here in enumerate(groups, 1):
        sample = reader.advance(replace(_walk(n, 1_000 * n * n, sleeper), groups=here))
        found = analysing.analyse(sample)
        rows, repeats = series(sample, found)
        assert rows == record.records(sample, found)  # reuse changes no value
        seen.append((repeats[1], rows[1][record.NAMES.index("group")]))
    assert seen[2:] == [(1, "/A"), (1, "/A"), (-1, "/A2")]


@settings(max_examples=60)
@given(st.data())
def test_a_series_in_any_order_writes_what_fresh_sinks_write(tmp_path_factory, data):
    """Tasks sleep (the same object each walk, as parse.RowMemo gives it),
    run, come, leave and change places between samples: the records of a
    series, and the CSV that reuses their lines, are what a fresh start
    makes of each sample."""
    tmp = tmp_path_factory.mktemp("series")
    tasks = {pid: TaskSample(pid, 1, pid, f"t{pid}", pid % 5, 0, pid % 2, 1_000, 10, 0, 1, 1, 0,
                             False) for pid in range(1, 13)}
    order = list(tasks)
    reader, analysing, series = deltas.Reader(tickets.WEIGHT), Analyser(), record.Records()
    kept, fresh = CsvSink(tmp / "kept.csv"), tmp / "fresh.csv"
    reused = 0
    for n in range(1, 9):
        for _ in range(data.draw(st.integers(0, 4))):
            op = data.draw(st.sampled_from(["run", "come", "leave", "swap"]))
            i = data.draw(st.integers(0, len(order) - 1))
            pid = order[i]
            if op == "run":
                t = tasks[pid]
                tasks[pid] = TaskSample(pid, 1, pid, t.comm, t.nice, 0, t.cpu,
                                        t.runtime_ns + 1_000_000, t.wait_ns + 5, 0, t.runs + 1,
                                        t.voluntary_switches + 1, 0, False)
            elif op == "come":
                new = max(tasks) + 1
                tasks[new] = TaskSample(new, 1, new, f"t{new}", 0, 0, 0, 0, 0, 0, 0, 0, 0, False)
                order.insert(i, new)
            elif op == "leave" and len(order) > 1:
                del order[i]
            elif op == "swap" and i + 1 < len(order):
                order[i], order[i + 1] = order[i + 1], order[i]
        info = SnapshotInfo(n, n * 1_000_000, n * 1_000_000 + 10, len(order), 0, 0, 0, 0,
                            len(order), 0)
        snap = Snapshot(info, 1700000000.25 + n, tuple(tasks[p] for p in order), (),
                        (CpuIdle(0, n * 400_000),), {})
        sample = reader.advance(snap)
        found = analysing.analyse(sample)
        rows, repeats = series(sample, found)
        assert rows == record.records(sample, found)  # reuse changes no value
        _write_kept_and_fresh(kept, fresh, sample, found, rows, repeats)
        reused += sum(i >= 0 for i in repeats)
    kept.close()
    assert (tmp / "kept.csv").read_text() == fresh.read_text()
    assert reused  # at most 4 of 12 tasks change a sample: the others repeat
