"""lottery plot on a recording of a real dump (tests/data/recording.csv: four
samples, every task and idle row), from its CSV and from the same records as
NDJSON: a PNG that is not blank.  The CSV is drawn by the program, the
rest in this process (run_in_process)."""

from __future__ import annotations

from conftest import DATA, run_in_process, run_lottery

from orchestrator import records
from orchestrator.analysis.frames import replay_frames
from orchestrator.sinks.ndjson import NdjsonSink


def _drawn(png) -> float:
    """How much the picture varies: 0 for a blank one."""
    import matplotlib.image
    return float(matplotlib.image.imread(png).std())


def test_plot_draws_a_csv_and_the_same_records_as_ndjson(tmp_path):
    ndjson = tmp_path / "recording.ndjson"
    sink = NdjsonSink(ndjson)
    for frame in replay_frames(records.read(DATA / "recording.csv")):
        sink.write(frame)
    sink.close()
    for source in (DATA / "recording.csv", ndjson):
        png = tmp_path / f"{source.suffix[1:]}.png"
        run = run_lottery if source.suffix == ".csv" else run_in_process
        done = run("plot", str(source), "-o", str(png), "--top", "3")
        assert done.returncode == 0, done.stderr
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert _drawn(png) > 0.05
        assert "3 tasks, 4 samples" in done.stdout


def test_a_recording_without_intervals_is_refused(tmp_path):
    only_header = tmp_path / "empty.csv"
    only_header.write_text(",".join(records.NAMES) + "\n")
    done = run_in_process("plot", str(only_header))
    assert done.returncode == 2 and "no task with an interval" in done.stderr
    assert done.stdout == "" and not only_header.with_suffix(".png").exists()
