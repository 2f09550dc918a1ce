"""Unbounded numbers, from options and from files: every one is refused in
one line with exit 2 before anything runs, never a traceback, a hang or a
machine run out of memory (issue 10).

The walks run the command line in this process (run_in_process): what is
checked is what each command says. One case of each kind still runs as a
program (run_lottery), the entry point and start-up included."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
import typer
from conftest import DATA, one_line_error, run_in_process, run_lottery

from orchestrator import bounds, records
from orchestrator.cli import app
from orchestrator.errors import LotteryError

# Options whose table entry has another name, and numeric options checked
# otherwise: --cpu against this process's CPUs, --seed takes any integer.
_KEY = {("plot", "--top"): "--plot-top", ("dump", "INTERVAL"): "--interval",
        ("dump", "COUNT"): "--iterations",
        **{(f"experiment{sub}", "--duration"): "--experiment-duration"
           for sub in ("", " ratio", " insulation", " fairness", " error")}}
_OTHERWISE = {"--cpu", "--seed"}
# What each command needs besides the option, so that the option is what fails.
_NOT_LOADED = ["--pin-dir", "/sys/fs/bpf/lottery-never-loaded"]
_BASE = {"simulate": ["tests/data/dump.csv"], "plot": ["tests/data/recording.csv"],
         **{f"experiment{sub}": _NOT_LOADED
            for sub in ("", " ratio", " insulation", " fairness", " error")},
         "load": ["--obj", "/nonexistent.o", "--pin-dir", "/sys/fs/bpf/lottery-never-loaded"]}
_BASE_FOR = {("simulate", "--live"): [], ("simulate", "--interval"): ["--live", "1"]}


def _numeric_params(group=None, prefix: str = "") -> list[tuple[str, object]]:
    """(command, parameter) of every int or float the command line takes,
    subcommands ("experiment insulation") included."""
    group = group or typer.main.get_command(app)
    found = []
    for name, command in group.commands.items():
        found += [(f"{prefix}{name}", param) for param in command.params
                  if param.bare_type() in ("int", "float")]
        if hasattr(command, "commands"):
            found += _numeric_params(command, f"{prefix}{name} ")
    return found


def _is_argument(param) -> bool:
    return param.param_type_name == "argument"


def _label(param) -> str:
    return param.metavar if _is_argument(param) else param.opts[0]


def test_every_numeric_option_has_a_bound():
    unbounded = [(name, _label(p)) for name, p in _numeric_params()
                 if _label(p) not in _OTHERWISE
                 and _KEY.get((name, _label(p)), _label(p)) not in bounds.OPTIONS]
    assert not unbounded, f"add these to bounds.OPTIONS: {unbounded}"


def _cases() -> list[tuple[str, str, list[str]]]:
    cases = []
    for name, param in _numeric_params():
        label = _label(param)
        if label in _OTHERWISE:
            continue
        bound = bounds.OPTIONS[_KEY.get((name, label), label)]
        if param.bare_type() == "int":
            values = [str(int(bound.low) - 1), str(int(bound.high) + 1), "9" * 30]
        else:
            values = ["nan", "inf", "1e300", f"{bound.high * 1.5:.17g}",
                      f"{bound.low:.17g}" if bound.low_open else f"{bound.low * 0.5 - 1:.17g}"]
        for value in values:
            if _is_argument(param):
                if value.startswith("-"):
                    continue  # would read as an option
                args = ["1", value] if label == "COUNT" else [value]
            else:
                args = [label, value]
            base = _BASE_FOR.get((name, label), _BASE.get(name, []))
            cases.append((name, label, [*name.split(), *base, *args]))
    return cases


def test_every_numeric_option_refuses_what_is_out_of_range():
    cases = _cases()
    assert len(cases) > 60  # every command's every number, several values each
    # the first as a program; every one (that one again) in process
    done = [run_lottery(*cases[0][2], timeout=30)]
    done += [run_in_process(*args, timeout=30) for _, _, args in cases]
    wrong = []
    for (_, label, args), result in zip([cases[0], *cases], done, strict=True):
        shown = "--interval" if label == "INTERVAL" else \
            "--iterations" if label == "COUNT" else label
        lines = result.stderr.strip().splitlines()
        if not (result.returncode == 2 and len(lines) == 1 and shown in lines[0]
                and "out of range" in lines[0] and result.stdout == ""):
            wrong.append((args, result.returncode, lines[-1:] if lines else result.stdout[:80]))
    assert not wrong, "\n".join(map(str, wrong))


@pytest.mark.parametrize("via,ratio,nearest", [
    ("nice", "1000:1", "68.3:1"), ("nice", "inf:1", "68.3:1"), ("nice", "1:100", "68.3:1"),
    ("nice", "inf:inf", "68.3:1"), ("cgroup", "1000:1", "100:1"), ("cgroup", "1:101", "100:1"),
    ("cgroup", "inf:1", "100:1")])
def test_a_ratio_out_of_reach_is_refused_naming_the_nearest(via, ratio, nearest):
    done = run_in_process("experiment", "--ratios", f"2:1,{ratio}", "--via", via,
                       "--pin-dir", "/sys/fs/bpf/lottery-never-loaded")
    one_line_error(done, "--ratios", nearest, f"up to {nearest.split('.')[0]}")


def test_a_simulation_beyond_the_draws_bound_names_the_option_that_brings_it_down():
    done = run_in_process("simulate", "tests/data/dump.csv", "--quantum", "0.01",
                       "--replays", "10000")
    one_line_error(done, "draws", "--quantum")


def _rows() -> tuple[list[str], list[list[str]]]:
    with (DATA / "recording.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _with(tmp_path: Path, name: str, column: str, value: str) -> Path:
    header, body = _rows()
    at = header.index(column)
    for row in body:
        if row[header.index("pid")] != "0":
            row[at] = value
    path = tmp_path / name
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *body])
    return path


def _hostile_recordings(tmp_path: Path) -> dict[str, Path]:
    files = {
        "runtime 1e30": _with(tmp_path, "a.csv", "runtime_delta_ns", "1e30"),
        "runtime nan": _with(tmp_path, "b.csv", "runtime_ns", "nan"),
        "400 digits": _with(tmp_path, "c.csv", "runtime_ns", "9" * 400),
        "zero tickets": _with(tmp_path, "d.csv", "tickets", "0"),
        "negative switches": _with(tmp_path, "e.csv", "switches", "-5"),
        "timestamp inf": _with(tmp_path, "f.csv", "timestamp_s", "inf"),
        "nice 99": _with(tmp_path, "g.csv", "nice", "99"),
        "share nan": _with(tmp_path, "h.csv", "ticket_share", "nan"),
        "huge name": _with(tmp_path, "i.csv", "comm", "x" * 300_000),
        "blank timestamp": _with(tmp_path, "j.csv", "timestamp_s", ""),
        "blank pid": _with(tmp_path, "k.csv", "pid", ""),
        "blank state": _with(tmp_path, "l.csv", "state", ""),
    }
    rand = tmp_path / "random.csv"
    rand.write_bytes(os.urandom(20_000))
    files["random bytes"] = rand
    rows = [dict(zip(records.NAMES, (sample.timestamp_s, *r), strict=True))
            for sample in records.read(DATA / "recording.csv")
            for r in (*sample.tasks, *sample.idle)]
    for name, change in (("ndjson bool", {"pid": True}), ("ndjson list", {"runtime_ns": [1]}),
                         ("ndjson 1e400", {"wait_ns": 1e400}),
                         ("ndjson float pid", {"pid": 1.5}),
                         ("ndjson null timestamp", {"timestamp_s": None}),
                         ("ndjson null pid", {"pid": None}),
                         ("ndjson null state", {"state": None}),
                         ("ndjson unknown state", {"state": "zombie"}),
                         ("ndjson share below 0", {"expected_share": -0.001794}),
                         ("ndjson share above 1", {"observed_share": 1.5})):
        path = tmp_path / f"{name.replace(' ', '-')}.ndjson"
        with path.open("w") as handle:
            for row in rows:
                handle.write(json.dumps({**row, **change}) + "\n")
        files[name] = path
    nested = tmp_path / "nested.ndjson"
    nested.write_text("[" * 100_000 + "\n")
    files["nested json"] = nested
    files["a directory"] = tmp_path
    files["/dev/zero"] = Path("/dev/zero")
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    files["a FIFO nobody writes"] = fifo
    return files


@pytest.fixture(scope="module")
def hostile_recordings(tmp_path_factory) -> dict[str, Path]:
    """Made once for the four commands (some are tens of megabytes)."""
    return _hostile_recordings(tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("command", ["simulate", "plot", "dump --replay", "top --replay"])
def test_hostile_recordings_are_refused_in_one_line(tmp_path, command, hostile_recordings):
    for n, (what, path) in enumerate(hostile_recordings.items()):
        args = [*command.split(), str(path)]
        if command == "plot":
            args += ["-o", str(tmp_path / "out.png")]
        # the first as a program, the rest in process
        done = (run_lottery if n == 0 else run_in_process)(*args, timeout=30)
        one_line_error(done, str(path))
        assert done.stdout == "", what
        assert not (tmp_path / "out.png").exists(), what


def test_a_recording_of_an_older_version_reads_its_fields_and_no_more(tmp_path):
    older = tmp_path / "older.csv"
    shutil.copy(DATA / "dump.csv", older)  # written before group, dropped, exits_missed
    samples = records.read(older)
    assert samples and all(r.group is None and r.exits_missed is None
                           for s in samples for r in s.tasks)
    done = run_in_process("simulate", str(older), "--seed", "1")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "lottery-work" in done.stdout


@pytest.mark.parametrize("text,words", [
    ("-20..19 " + "9" * 400 + "\n", ["400-digit", "1 to 1,000,000,000"]),
    ("-20..19 1000000001\n", ["1000000001", "1 to 1,000,000,000"]),
    ("-20..19 nan\n", ["is not `NICE TICKETS`"]),
    ("9" * 5000 + " 5\n", ["is not `NICE TICKETS`"]),
    ("# a comment\n" * 10_000, ["larger than 64 KiB"]),
])
def test_hostile_ticket_mappings_are_refused_in_one_line(tmp_path, text, words):
    mapping = tmp_path / "tickets.txt"
    mapping.write_text(text)
    done = run_in_process("simulate", "tests/data/dump.csv", "--tickets", str(mapping))
    one_line_error(done, *words)


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_ticket_mapping_that_never_ends_is_refused(tmp_path, special):
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    done = run_in_process("simulate", "tests/data/dump.csv", "--tickets", str(path), timeout=30)
    one_line_error(done, "not a regular file")


def test_the_documented_limits_are_the_checked_ones():
    usage = (Path(__file__).parent.parent / "docs" / "USAGE.md").read_text()
    limits = usage.split("## Limits", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in limits.splitlines() if line.startswith("| `")]
    assert len(rows) == len(bounds.OPTIONS)
    for bound in bounds.OPTIONS.values():
        assert f"| {bound.what} | {bound.range_text()} |" in limits, bound
    assert f"{bounds.MAX_DRAWS:,}" in limits


@pytest.mark.parametrize("pids,words", [("\u0661\u0662", "not a list of PIDs"),
                                        ("99999999", "not a list of PIDs"),
                                        ("4194305", "out of range"), ("0", "out of range")])
def test_pids_are_ascii_numbers_the_kernel_can_have(pids, words):
    for command in (["dump", "--replay", "tests/data/recording.csv"],
                    ["serve", "--pin-dir", "/sys/fs/bpf/lottery-never-loaded"]):
        one_line_error(run_in_process(*command, "-p", pids), "--pid", words)


def test_a_byte_order_mark_is_not_part_of_a_recording_or_a_mapping(tmp_path):
    recording, mapping = tmp_path / "bom.csv", tmp_path / "tickets.txt"
    recording.write_bytes(b"\xef\xbb\xbf" + (DATA / "dump.csv").read_bytes())
    mapping.write_bytes(b"\xef\xbb\xbf-20..19 100\n")
    done = run_in_process("simulate", str(recording), "--tickets", str(mapping), "--seed", "1")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "LOTTERY ms" in done.stdout


@pytest.mark.parametrize(("value", "reason"), [("x" * 300_000, "a field is longer than"),
                                               ("abc", "runtime_ns 'abc' is not an integer")])
def test_a_bad_row_is_named_by_its_own_line(tmp_path, value, reason):
    header, body = _rows()
    body[2][header.index("runtime_ns")] = value  # the fourth line of the file
    path = tmp_path / "bad.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *body])
    with pytest.raises(LotteryError, match=rf"\(line 4: {reason}"):
        records.read(path)
