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


def test_a_recording_with_run_queue_waits_gets_their_heatmap(tmp_path):
    """tests/data/latency.csv: two tasks of a real dump pinned to one CPU,
    each waiting a slice (2 to 4 ms) for the other.  Its plot gains a
    heatmap of the waits by log2 slot over time, not blank; the same
    recording without its waits has none (a shorter picture)."""
    import matplotlib.image

    recording = DATA / "latency.csv"
    with_waits, without = tmp_path / "waits.png", tmp_path / "none.png"
    done = run_in_process("plot", str(recording), "-o", str(with_waits))
    assert done.returncode == 0, done.stderr
    lines = recording.read_text().splitlines()
    names = lines[0].split(",")
    blank = names.index("wait_slots")
    stripped = tmp_path / "stripped.csv"
    stripped.write_text("\n".join([lines[0], *(
        ",".join("" if i == blank else cell for i, cell in enumerate(line.split(",")))
        for line in lines[1:])]) + "\n")
    assert run_in_process("plot", str(stripped), "-o", str(without)).returncode == 0
    image, plain = matplotlib.image.imread(with_waits), matplotlib.image.imread(without)
    assert image.shape[0] > plain.shape[0]  # one more panel
    # the heatmap's panel, the third of four (heights 3:2:2:1): coloured cells
    rows = image.shape[0]
    band = image[int(rows * 0.62):int(rows * 0.78), int(image.shape[1] * 0.2):
                 int(image.shape[1] * 0.8)]
    assert float(band.std()) > 0.05
