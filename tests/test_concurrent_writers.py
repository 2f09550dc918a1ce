"""Two lottery processes appending to one file: every sample of each is in
it whole, also when one of them fails to write (its file size limit,
RLIMIT_FSIZE, as a full disk would): its cut-back never takes the other's
bytes."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from conftest import DATA, PATIENCE_S, REPO, start_lottery

from orchestrator import records
from orchestrator.sinks.csv_file import HEADER

RECORDING = DATA / "recording.csv"
ROWS = 40  # records per sample: a sample of a few kilobytes, so writes overlap

# A writer: opens the CSV through the sink, says "ready", waits for the
# word to go, then appends COUNT samples, each ROWS records with its writer
# number as pid and its sample number as timestamp; with LIMIT, the file
# size limit is LIMIT bytes, and a failed sample is counted, not fatal.
# It prints how many samples it wrote and how many failed.
WRITER = """
import resource, sys
from pathlib import Path
from orchestrator.analysis.frames import Frame
from orchestrator.errors import LotteryError
from orchestrator.records import TASK_FIELDS, TaskRecord
from orchestrator.sinks.csv_file import CsvSink

path, writer, count, rows, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
    int(sys.argv[4]), int(sys.argv[5])
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
sink = CsvSink(Path(path))
print("ready", flush=True)
sys.stdin.readline()
blank = TaskRecord._make(0 if not f.text else "w" for f in TASK_FIELDS)
wrote = failed = 0
for n in range(count):
    records = (blank._replace(pid=writer),) * rows
    try:
        sink.write(Frame(timestamp_s=float(n), tasks=records, idle=(), interval_s=1.0,
                         asked_s=1.0))
        wrote += 1
    except LotteryError as err:
        assert "\\n" not in err.line() and "every sample before" in err.line(), err.line()
        failed += 1
sink.close()
print(wrote, failed, flush=True)
"""


def _start(path: Path, writer: int, count: int, limit: int = 0) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(writer), str(count), str(ROWS),
         str(limit)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert child.stdout.readline() == "ready\n"
    return child


def _run_together(children: list[subprocess.Popen]) -> list[tuple[int, int]]:
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    done = []
    for child in children:
        out, _ = child.communicate(timeout=PATIENCE_S)
        assert child.returncode == 0, out
        wrote, failed = map(int, out.split())
        done.append((wrote, failed))
    return done


def _samples(path: Path) -> Counter:
    """(writer, sample) -> how many times it is in the file, each time whole:
    its ROWS lines one after another, the file whole to its last newline."""
    text = path.read_text()
    assert text.endswith("\n")
    header, *lines = text.split("\n")[:-1]
    assert header == HEADER
    found: Counter = Counter()
    at = 0
    while at < len(lines):
        stamp, pid = lines[at].split(",")[:2]
        run = lines[at:at + ROWS]
        assert run == [lines[at]] * ROWS, f"sample {stamp} of writer {pid} is cut at line {at}"
        found[(int(pid), int(float(stamp)))] += 1
        at += ROWS
    return found


def test_two_writers_keep_every_sample_of_each_whole(tmp_path):
    path = tmp_path / "same.csv"
    count = 1500
    # both open the new file before either writes: both may find it empty
    children = [_start(path, 1, count), _start(path, 2, count)]
    assert _run_together(children) == [(count, 0), (count, 0)]
    found = _samples(path)
    assert found == Counter({(w, n): 1 for w in (1, 2) for n in range(count)})


def test_a_failed_write_never_cuts_the_other_writers_samples(tmp_path):
    path = tmp_path / "same.csv"
    count = 1500
    # writer 1 may not grow the file past 200 kB: its writes fail from there
    # on, a sample at the limit half written, while writer 2 goes on
    children = [_start(path, 1, count, limit=200_000), _start(path, 2, count)]
    (wrote, failed), other = _run_together(children)
    assert failed > 0 and wrote + failed == count and other == (count, 0)
    found = _samples(path)
    assert found == Counter({**{(1, n): 1 for n in range(wrote)},
                             **{(2, n): 1 for n in range(count)}})


def _long_recording(path: Path, repeats: int) -> Path:
    """The recording's samples again and again, later each time: a replay
    long enough that dumps started together write at the same time."""
    header, *lines = RECORDING.read_text().splitlines()
    stamps = sorted({float(line.split(",", 1)[0]) for line in lines})
    span = stamps[-1] - stamps[0] + 0.5
    out = [header]
    for k in range(repeats):
        for line in lines:
            stamp, rest = line.split(",", 1)
            out.append(f"{float(stamp) + k * span:.6f},{rest}")
    path.write_text("\n".join(out) + "\n")
    return path


def test_dumps_replaying_into_one_csv_keep_every_sample_whole(tmp_path):
    recording = _long_recording(tmp_path / "long.csv", 100)
    alone = tmp_path / "alone.csv"
    one = start_lottery("dump", "--replay", str(recording), "-q", "-o", str(alone))
    assert one.wait(timeout=PATIENCE_S) == 0
    path = tmp_path / "same.csv"
    dumps = [start_lottery("dump", "--replay", str(recording), "-q", "-o", str(path))
             for _ in range(3)]
    for dump in dumps:
        _, err = dump.communicate(timeout=PATIENCE_S)
        assert dump.returncode == 0, err
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER and lines.count(HEADER) == 1
    assert Counter(lines[1:]) == Counter({line: 3 for line in alone.read_text().splitlines()[1:]})
    # each sample's rows one after another: runs of one timestamp as long as
    # the sample (or as two or three of it, where writers wrote one after another)
    per_sample = {s.timestamp_s: len(s.tasks) + len(s.idle) for s in records.read(recording)}
    stamps = [line.split(",", 1)[0] for line in lines[1:]]
    at = 0
    while at < len(stamps):
        size = per_sample[float(stamps[at])]
        assert set(stamps[at:at + size]) == {stamps[at]}, f"a sample is cut at line {at}"
        at += size
