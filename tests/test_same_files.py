"""No command writes a file it reads, nor one file through two outputs: for
every command that reads and writes files, each way of naming one file twice
(the same path, another spelling of it, a hard link, a symbolic link on
either side, standard output) is refused in one line with exit 2, and the
file read is byte for byte what it was.

The commands run in this process (run_in_process): the check is what a
command says and what it leaves of the files. One case of each kind runs
as a program (run_lottery, or a child whose standard output is the file),
the entry point and start-up included."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import DATA, _argv_env, one_line_error, run_in_process, run_lottery

RECORDING = DATA / "recording.csv"
MAPPING = "-20..19 100\n"


def _spellings(tmp_path: Path, name: str) -> dict[str, tuple[Path, Path]]:
    """(the file read, the same file as an output names it), per way of
    naming it; the file read is made by the caller at tmp_path/name."""
    real = tmp_path / name
    (tmp_path / "sub").mkdir(exist_ok=True)
    hard = tmp_path / f"hard-{name}"
    os.link(real, hard)
    link = tmp_path / f"link-{name}"
    link.symlink_to(real)
    (tmp_path / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    return {
        "same path": (real, real),
        "another spelling": (real, tmp_path / "sub" / ".." / name),
        "a hard link": (real, hard),
        "a link as the output": (real, link),
        "a link as the input": (link, real),
        "a linked directory": (real, tmp_path / "dirlink" / name),
    }


SPELLINGS = ["same path", "another spelling", "a hard link", "a link as the output",
             "a link as the input", "a linked directory"]

# (argv with IN for the file read and OUT for the output, the file read's
# name and what it holds); every command that reads a file and writes one
CASES = {
    "dump --replay, -o": (["dump", "--replay", "IN", "-q", "-o", "OUT"], "r.csv", None),
    "dump --replay, --json-output": (["dump", "--replay", "IN", "-q", "--json-output", "OUT"],
                                     "r.csv", None),
    "dump --replay, --trace-output": (["dump", "--replay", "IN", "-q", "--trace-output",
                                       "OUT"], "r.csv", None),
    "dump --tickets, -o": (["dump", "--tickets", "IN", "-n", "1", "-o", "OUT"], "m.txt",
                           MAPPING),
    "dump --tickets, --trace-output": (["dump", "--tickets", "IN", "-n", "1",
                                        "--trace-output", "OUT"], "m.txt", MAPPING),
    "dump --replay --tickets, --json-output": (
        ["dump", "--replay", str(RECORDING), "--tickets", "IN", "-q", "--json-output", "OUT"],
        "m.txt", MAPPING),
    "simulate CSV, -o": (["simulate", "IN", "-o", "OUT"], "r.csv", None),
    "simulate --tickets, -o": (["simulate", str(RECORDING), "--tickets", "IN", "-o", "OUT"],
                               "m.txt", MAPPING),
    "simulate --live --tickets, -o": (["simulate", "--live", "1", "--tickets", "IN", "-o",
                                       "OUT"], "m.txt", MAPPING),
    "plot, -o": (["plot", "IN", "-o", "OUT"], "r.csv", None),
}


@pytest.fixture
def pin_dir() -> Path:
    """An instance nobody loaded: each command is refused before it looks."""
    path = Path(f"/sys/fs/bpf/lottery-test-{uuid.uuid4().hex[:8]}")
    yield path
    assert not path.exists()


def _first(*params) -> bool:
    """Is this the first case of a parametrized test (run as a program)?"""
    return all(value == values[0] for value, values in params)


def _make(path: Path, text: str | None) -> bytes:
    data = RECORDING.read_bytes() if text is None else text.encode()
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("case", list(CASES))
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(tmp_path, case, spelling,
                                                                    pin_dir):
    argv, name, text = CASES[case]
    before = _make(tmp_path / name, text)
    read, written = _spellings(tmp_path, name)[spelling]
    args = [str(read) if a == "IN" else str(written) if a == "OUT" else a for a in argv]
    # an instance that is not loaded: refused before it is looked for
    run = run_lottery if _first((case, list(CASES)), (spelling, SPELLINGS)) else run_in_process
    result = run(*args, *(["--pin-dir", str(pin_dir)] if args[0] != "plot" else []))
    one_line_error(result, "same file", str(written))
    assert (tmp_path / name).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["sub", "dirlink", name, f"hard-{name}", f"link-{name}"])


def test_plot_refuses_a_recording_whose_png_would_be_itself(tmp_path):
    recording = tmp_path / "run.png"
    before = _make(recording, None)
    one_line_error(run_in_process("plot", str(recording)), "same file", "--output")
    assert recording.read_bytes() == before


TWO_OUTPUTS = [("dump", "--replay", str(RECORDING), "-q", A, B)
               for A, B in (("-o", "--json-output"), ("-o", "--trace-output"),
                            ("--json-output", "--trace-output"))]
TWO_OUTPUTS += [("experiment", *sub, "-o", "--png") for sub in
                ((), ("ratio",), ("insulation",), ("fairness",), ("error",))]
TWICE = ["same path", "a hard link", "a link as the output", "another spelling"]


@pytest.mark.parametrize("spelling", TWICE)
@pytest.mark.parametrize("command", TWO_OUTPUTS,
                         ids=lambda argv: " ".join(a for a in argv if a != str(RECORDING)))
def test_two_outputs_naming_one_file_are_refused(tmp_path, command, spelling, pin_dir):
    """Also when the file is there already: it stays as it was."""
    target = tmp_path / "out"
    target.write_bytes(b"kept\n")
    one, two = _spellings(tmp_path, "out")[spelling]
    *head, first, second = command
    run = run_lottery if _first((command, TWO_OUTPUTS), (spelling, TWICE)) else run_in_process
    result = run(*head, first, str(one), second, str(two), "--pin-dir", str(pin_dir))
    one_line_error(result, "name the same file", first, second)
    assert target.read_bytes() == b"kept\n"


@pytest.mark.parametrize("first,second", [("-o", "--json-output"), ("-o", "--trace-output")])
def test_two_outputs_naming_one_new_file_are_refused(tmp_path, first, second):
    """A file not there yet, named once through a dangling link."""
    (tmp_path / "link").symlink_to(tmp_path / "new")
    result = run_in_process("dump", "--replay", str(RECORDING), "-q", first,
                            str(tmp_path / "new"), second, str(tmp_path / "link"))
    one_line_error(result, "name the same file")
    assert not (tmp_path / "new").exists()


def _run_into(args: list[str], stdout: Path, as_program: bool = False):
    """The CLI with standard output appended to `stdout` (a shell's >>), in
    this process or as a program."""
    if not as_program:
        return run_in_process(*args, stdout=stdout)
    argv, env = _argv_env(args, None, None)
    with stdout.open("ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, text=True, env=env,
                              stdin=subprocess.DEVNULL, timeout=60)
    return subprocess.CompletedProcess(argv, done.returncode, "", done.stderr)


@pytest.mark.parametrize("option", ["-o", "--json-output"])
def test_dash_is_standard_output_and_refused_when_that_is_the_recording(tmp_path, option):
    recording = tmp_path / "r.csv"
    before = _make(recording, None)
    result = _run_into(["dump", "--replay", str(recording), "-q", option, "-"], recording,
                       as_program=option == "-o")
    one_line_error(result, "same file", "standard output")
    assert recording.read_bytes() == before


@pytest.mark.parametrize("argv", [
    ["dump", "--replay", "IN"], ["dump", "--replay", "IN", "-q", "-o", "OTHER"],
    ["simulate", "IN"], ["plot", "IN", "-o", "OTHER"]], ids=" ".join)
def test_standard_output_appended_to_the_recording_is_refused(tmp_path, argv):
    recording = tmp_path / "r.csv"
    before = _make(recording, None)
    args = [str(recording) if a == "IN" else str(tmp_path / "other") if a == "OTHER" else a
            for a in argv]
    one_line_error(_run_into(args, recording, as_program=argv[0] == "simulate"),
                     "standard output", "reads")
    assert recording.read_bytes() == before
    assert not (tmp_path / "other").exists()


def test_standard_output_appended_to_an_output_is_refused(tmp_path):
    out = tmp_path / "out.csv"
    out.write_bytes(b"")
    result = _run_into(["dump", "--replay", str(RECORDING), "-q", "-o", str(out)], out)
    one_line_error(result, "standard output", "writes")
    assert out.read_bytes() == b""


def test_distinct_files_and_standard_output_elsewhere_still_work(tmp_path):
    """Two inputs may be one file; outputs beside the input are written."""
    mapping = tmp_path / "m.txt"
    mapping.write_text(MAPPING)
    log = tmp_path / "log"
    result = _run_into(["simulate", str(RECORDING), "--tickets", str(mapping), "-o",
                        str(tmp_path / "res.csv")], log)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "res.csv").read_text().startswith("pid,comm,")
    assert "wrote" in log.read_text()
    result = _run_into(["dump", "--replay", str(RECORDING), "-q", "-o", "-"], log)
    assert result.returncode == 0, result.stderr
    assert log.read_text().count("timestamp_s,pid,") == 1
