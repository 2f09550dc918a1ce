"""Recordings too short for what is asked of them: plot, dump --replay and
top --replay say so in one line instead of drawing empty axes or showing
nothing.  The recordings are cut from a real dump's (tests/data).  The
commands run in this process (run_in_process), but for one plot that draws."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from conftest import DATA, one_line_error, run_in_process, run_lottery

from orchestrator import records

RECORDING = DATA / "recording.csv"


def _rows() -> tuple[list[str], list[list[str]]]:
    header, *rows = csv.reader(io.StringIO(RECORDING.read_text()))
    return header, rows


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])
    return path


def _one_sample(tmp_path: Path) -> Path:
    header, rows = _rows()
    return _write(tmp_path / "one.csv", header, [r for r in rows if r[0] == rows[0][0]])


def _header_only(tmp_path: Path) -> Path:
    return _write(tmp_path / "none.csv", _rows()[0], [])


def _no_deltas(tmp_path: Path) -> Path:
    header, rows = _rows()
    at = header.index("runtime_delta_ns")
    for row in rows:
        row[at] = ""
    return _write(tmp_path / "nodelta.csv", header, rows)


def _each_task_once(tmp_path: Path) -> Path:
    """Four samples, but no task in two of them (each its own pid)."""
    header, rows = _rows()
    stamps = sorted({r[0] for r in rows})
    for row in rows:
        if row[header.index("state")] != "idle":
            row[1] = str(int(row[1]) + 1_000_000 * (stamps.index(row[0]) + 1))
    return _write(tmp_path / "once.csv", header, rows)


@pytest.mark.parametrize("make,words", [
    (_one_sample, "holds one sample"),
    (_header_only, "no task with an interval"),
    (_no_deltas, "no task with an interval"),
    (_each_task_once, "no task with an interval in two samples"),
], ids=["one sample", "no sample", "no deltas", "no task twice"])
def test_plot_of_too_little_data_says_so(tmp_path, make, words):
    recording = make(tmp_path)
    assert records.read(recording) is not None  # a recording dump could have written
    one_line_error(run_in_process("plot", str(recording)), words, recording.name)
    assert not recording.with_suffix(".png").exists()


def test_plot_of_one_sample_as_ndjson_says_so_too(tmp_path):
    ndjson = tmp_path / "one.ndjson"
    converted = run_in_process("dump", "--replay", str(_one_sample(tmp_path)), "-q",
                            "--json-output", str(ndjson))
    assert converted.returncode == 0, converted.stderr
    one_line_error(run_in_process("plot", str(ndjson)), "holds one sample")


def test_plot_of_two_samples_draws(tmp_path):
    header, rows = _rows()
    stamps = sorted({r[0] for r in rows})[:2]
    two = _write(tmp_path / "two.csv", header, [r for r in rows if r[0] in stamps])
    done = run_lottery("plot", str(two))
    assert done.returncode == 0, done.stderr
    assert "2 samples" in done.stdout and two.with_suffix(".png").stat().st_size > 0


def test_dump_replay_of_no_sample_is_refused_before_writing(tmp_path):
    out = tmp_path / "out.csv"
    result = run_in_process("dump", "--replay", str(_header_only(tmp_path)), "-q", "-o",
                            str(out))
    one_line_error(result, "holds no sample to replay")
    assert not out.exists()


def test_dump_replay_of_one_sample_shows_it_and_says_what_is_missing(tmp_path):
    one = _one_sample(tmp_path)
    out = tmp_path / "out.csv"
    result = run_in_process("dump", "--replay", str(one), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "holds one sample" in result.stderr and "CPU %" in result.stderr
    assert "PID" in result.stdout and "wrote 1 samples" in result.stdout
    assert records.read(out) == records.read(one)


@pytest.mark.parametrize("make,words", [(_one_sample, "holds one sample"),
                                        (_header_only, "holds no sample to replay")],
                         ids=["one sample", "no sample"])
def test_top_replay_of_too_few_samples_says_so(tmp_path, make, words):
    # before it asks for a terminal: the recording is what is wrong
    one_line_error(run_in_process("top", "--replay", str(make(tmp_path))), words,
                     "dump --replay" if "one" in words else "lottery dump")
