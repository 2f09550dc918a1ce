"""The CSV and NDJSON sinks: seed columns first, one schema per file, whole
samples only, the same values in both, and a series that reuses what did
not change writes what working everything out again writes."""

import csv
import json
from dataclasses import replace

import builders
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import records
from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Frame, Pipeline
from orchestrator.constants import SEED_CSV_COLUMNS
from orchestrator.errors import LotteryError
from orchestrator.records import Snapshot, TaskSample
from orchestrator.sinks.csv_file import HEADER, CsvSink
from orchestrator.sinks.ndjson import NdjsonSink


def _sample(runtime_ns=2_500_000) -> Frame:
    t = builders.task(42, start_ns=7, comm='worker, "odd"', nice=5, cpu=1,
                      runtime_ns=runtime_ns, wait_ns=10, wait_max_ns=3, runs=4, voluntary=2,
                      involuntary=1, group=0)
    return Pipeline(tickets.WEIGHT).frame(builders.snap(1, 1_000, [t], idle=(9, 8),
                                                        timestamp_s=1700000000.5))


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


def test_the_record_type_is_the_field_list():
    assert ("timestamp_s", *records.TaskRecord._fields) == records.NAMES
    frame = _sample()
    assert all(len(r) == len(records.TASK_FIELDS) for r in (*frame.tasks, *frame.idle))


def test_both_files_read_back_as_the_same_records_the_frame_held(tmp_path):
    csv_path, json_path = tmp_path / "s.csv", tmp_path / "s.ndjson"
    frame = _sample()
    for sink in (CsvSink(csv_path), NdjsonSink(json_path)):
        sink.write(frame)
        sink.close()
    back = records.read(csv_path)
    assert back == records.read(json_path)
    (only,) = back
    assert only.timestamp_s == frame.timestamp_s
    assert only.tasks == list(frame.tasks) and only.idle == list(frame.idle)
    assert only.tasks[0].comm == 'worker, "odd"' and only.tasks[0].runtime_ms == 2.5


def test_a_file_of_something_else_is_refused_in_one_line(tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(LotteryError, match="not a CSV or NDJSON file"):
        records.read(other)


def _walk(n: int, busy_runtime: int, sleeper: TaskSample, groups=None) -> Snapshot:
    """Snapshot n of a busy task and a task that sleeps throughout."""
    busy = builders.task(7, start_ns=3, comm="busy", runtime_ns=busy_runtime, wait_ns=5 * n,
                         runs=2 * n, voluntary=n, involuntary=n)
    return builders.snap(n, n * 1_000_000, [busy, sleeper], idle=(n * 400_000,),
                         timestamp_s=1700000000.25 + n, groups=groups)


def _lines(path) -> list[str]:
    """A CSV's lines, in order within none of its samples (each line starts
    with its sample's timestamp): a file that reuses lines may hold a
    sample's tasks in another order."""
    return sorted(path.read_text().splitlines())


def _series(kept: CsvSink, fresh: CsvSink, walks) -> list[Frame]:
    """Each walk through a series' pipeline told what changed since the walk
    before (as kernel/snapshot.Session tells it) into one sink, and through
    a pipeline told nothing into another; both make the same frames."""
    quick, full = Pipeline(tickets.WEIGHT), Pipeline(tickets.WEIGHT)
    frames, before = [], None
    for walk in walks:
        told = walk if before is None else replace(walk, change=builders.change(
            before.info.snapshot, before.tasks, walk.tasks))
        a, b = quick.frame(told), full.frame(walk)
        assert sorted(a.tasks) == sorted(b.tasks) and a.idle == b.idle  # reuse changes no value
        assert b.change is None and a.live == b.live == len(walk.tasks)
        if a.change is not None:  # a record not made again is the one of the frame before
            was = {r.key: r for r in frames[-1].tasks[:frames[-1].live]}
            assert all(was[r.key] == r for r in a.tasks[:a.live] if r.key not in a.change.changed)
        kept.write(a)
        fresh.write(b)
        frames.append(a)
        before = walk
    kept.close()
    fresh.close()
    return frames


def _made_again(frame: Frame, key) -> bool:
    return frame.change is None or key in frame.change.changed


def test_a_series_repeats_sleeping_tasks_and_writes_what_fresh_work_writes(tmp_path):
    sleeper = builders.task(9, start_ns=4, comm="sleeper", runtime_ns=700, wait_ns=20, runs=3,
                            voluntary=3)
    kept, fresh = CsvSink(tmp_path / "kept.csv"), CsvSink(tmp_path / "fresh.csv")
    frames = _series(kept, fresh, [_walk(n, 1_000 * n * n, sleeper) for n in range(1, 7)])
    assert _lines(tmp_path / "kept.csv") == _lines(tmp_path / "fresh.csv")
    # the sleeper repeats once its row and its average stop changing; the
    # busy task never does
    assert [_made_again(f, sleeper.key) for f in frames] == [True] * 2 + [False] * 4
    assert all(_made_again(f, (7, 3)) for f in frames)


def test_a_group_that_comes_keeps_repeats_and_a_renamed_one_ends_them(tmp_path):
    root = builders.group(1, 0, "root", number=0)
    a = builders.group(7, 1, name="A")
    sleeper = builders.task(9, start_ns=4, comm="sleeper", runtime_ns=700, group=7)
    groups = [{1: root, 7: a}] * 4 + [{1: root, 7: a, 8: replace(a, id=8, name="B")},
                                      {1: root, 7: replace(a, name="A2")}]
    frames = _series(CsvSink(tmp_path / "k.csv"), CsvSink(tmp_path / "f.csv"),
                     [_walk(n, 1_000 * n * n, sleeper, here)
                      for n, here in enumerate(groups, 1)])
    seen = [(not _made_again(f, sleeper.key),
             next(r.group for r in f.tasks if r.key == sleeper.key)) for f in frames]
    assert seen[3:] == [(True, "/A"), (True, "/A"), (False, "/A2")]


@settings(max_examples=60)
@given(st.data())
def test_a_series_in_any_order_writes_what_fresh_work_writes(tmp_path_factory, data):
    """Tasks sleep (unchanged, as kernel/snapshot.Session says), run, come, leave and
    change places between samples: the frames of a series, and the CSV that
    reuses their lines, are what working each sample out again makes."""
    tmp = tmp_path_factory.mktemp("series")

    def task(pid, runtime=1_000, wait=10, runs=1, vol=1, nice=None):
        return builders.task(pid, start_ns=1, comm=f"t{pid}", nice=pid % 5 if nice is None
                             else nice, cpu=pid % 2, runtime_ns=runtime, wait_ns=wait,
                             runs=runs, voluntary=vol)

    tasks = {pid: task(pid) for pid in range(1, 13)}
    order = list(tasks)
    walks = []
    for n in range(1, 9):
        for _ in range(data.draw(st.integers(0, 4))):
            op = data.draw(st.sampled_from(["run", "come", "leave", "swap"]))
            i = data.draw(st.integers(0, len(order) - 1))
            pid = order[i]
            if op == "run":
                t = tasks[pid]
                tasks[pid] = task(pid, t.runtime_ns + 1_000_000, t.wait_ns + 5, t.runs + 1,
                                  t.voluntary_switches + 1, t.nice)
            elif op == "come":
                new = max(tasks) + 1
                tasks[new] = task(new, 0, 0, 0, 0, 0)
                order.insert(i, new)
            elif op == "leave" and len(order) > 1:
                del order[i]
            elif op == "swap" and i + 1 < len(order):
                order[i], order[i + 1] = order[i + 1], order[i]
        live = [tasks[p] for p in order]
        walks.append(builders.snap(n, n * 1_000_000, live, idle=(n * 400_000,),
                                   timestamp_s=1700000000.25 + n))
    frames = _series(CsvSink(tmp / "kept.csv"), CsvSink(tmp / "fresh.csv"), walks)
    assert _lines(tmp / "kept.csv") == _lines(tmp / "fresh.csv")
    # most tasks sleep a sample
    assert any(not _made_again(f, r.key) for f in frames for r in f.tasks[:f.live])


def test_a_recording_that_holds_a_sample_twice_is_refused_naming_the_line(tmp_path):
    """Two recordings joined (or one written twice) would count every task
    twice in simulate: the reader refuses it, naming where."""
    for sink_class, name in ((CsvSink, "twice.csv"), (NdjsonSink, "twice.ndjson")):
        path = tmp_path / name
        sink = sink_class(path)
        sink.write(_sample())
        sink.close()
        text = path.read_text()
        lines = text.splitlines(keepends=True)
        path.write_text(text + "".join(lines[1:] if sink_class is CsvSink else lines))
        with pytest.raises(LotteryError, match=r"holds a sample twice \(line [45]: alive task 42"):
            records.read(path)


def test_a_sink_that_starts_in_the_middle_of_a_series_writes_every_record(tmp_path):
    """dump's sinks see no frame of its silent baseline: the first frame a
    sink writes says what changed since a frame the sink never wrote, and
    every record of it must be written, not only those."""
    sleeper = builders.task(9, start_ns=4, comm="sleeper", runtime_ns=700)
    walks = [_walk(n, 1_000 * n * n, sleeper) for n in range(1, 6)]
    quick, full = Pipeline(tickets.WEIGHT), Pipeline(tickets.WEIGHT)
    late, whole = CsvSink(tmp_path / "late.csv"), CsvSink(tmp_path / "whole.csv")
    before = None
    for n, walk in enumerate(walks):
        told = walk if before is None else replace(walk, change=builders.change(
            before.info.snapshot, before.tasks, walk.tasks))
        a, b = quick.frame(told), full.frame(walk)
        if n in (1, 3, 4):  # the sink skips the baseline and a frame in the middle
            late.write(a)
            whole.write(b)
        before = walk
    late.close()
    whole.close()
    assert _lines(tmp_path / "late.csv") == _lines(tmp_path / "whole.csv")
    assert len(_lines(tmp_path / "late.csv")) == 1 + 3 * 3  # the header; busy, sleeper, idle


def test_ndjson_gives_each_groups_waits_after_its_records(tmp_path):
    """A real dump (tests/data/waits_groups.csv: two task groups waited in
    each sample) written as NDJSON: after each sample's records, one object
    per task group that waited, its tasks' histograms summed; reading the
    file back passes over them."""
    from conftest import DATA

    from orchestrator import waits
    from orchestrator.analysis.frames import replay_frames
    from orchestrator.sinks import latency

    recording = records.read(DATA / "waits_groups.csv")
    path = tmp_path / "w.ndjson"
    sink = NdjsonSink(path)
    frames = list(replay_frames(recording))
    for frame in frames:
        sink.write(frame)
    sink.close()
    objects = [json.loads(line) for line in path.read_text().splitlines()]
    groups = [o for o in objects if "record" in o]
    many = 0
    for frame in frames:
        mine = [o for o in groups if o["timestamp_s"] == frame.timestamp_s]
        found = {o["group"]: list(waits.decode(o["wait_slots"])) for o in mine}
        assert found == latency.by_group(frame)
        many += len(found) > 1
        for o in mine:
            counts = waits.decode(o["wait_slots"])
            assert o["waits"] == sum(counts)
            assert o["wait_p99_us"] == round(waits.quantile(counts, 0.99), 1)
    assert many  # a real host: several groups waited in a sample
    # each group's objects come after the sample's records
    kinds = ["record" in o for o in objects]
    assert kinds.index(True) > 0 and records.read(path) == recording
    # and every such object is checked as a record is
    text = path.read_text()
    first_group = next(line for line in text.splitlines() if '"record"' in line)
    first_task = text.splitlines()[0]
    bad = {
        '{"record": "cpu_waits", "timestamp_s": 1.0}': "a kind no dump writes",
        first_task[:-1] + ', "record": "group_waits"}': "whose keys are not",
        first_group.replace('"waits":', '"waits":1000000,"was":'): "whose keys are not",
        first_group.replace('"record":"group_waits",', '"record":"group_waits","x":1,'):
            "whose keys are not",
        first_group.replace('"waits":', '"waits":9'): "not the sum",
        first_group.replace('"wait_slots":"', '"wait_slots":"0:1 '): "out of range or repeated",
        first_group.replace('"group":', '"group":[1],"g":'): "whose keys are not",
        first_group: "appear twice",
    }
    for line, why in bad.items():
        other = tmp_path / "other.ndjson"
        other.write_text(text + line + "\n")
        with pytest.raises(LotteryError, match=why):
            records.read(other)
