"""The command line as a user meets it: one-line errors, exit codes, CSV
ownership, Ctrl-C.  Tests named *_loaded or taking pin_dir use the kernel."""

from __future__ import annotations

import csv
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from conftest import (
    DATA,
    PATIENCE_S,
    REPO,
    one_line_error,
    run_in_process,
    run_lottery,
    start_lottery,
    wait_until,
    write_sudoers,
)

from orchestrator import records, waits


@pytest.mark.parametrize("args,words", [
    (["dump", "--interval", "0"], ["--interval", "out of range"]),
    (["dump", "--interval", "inf"], ["--interval", "out of range"]),
    (["dump", "--interval", "1e-9"], ["--interval", "out of range"]),
    (["simulate", "--live", "1", "--interval", "inf"], ["--interval", "out of range"]),
    (["load", "--exit-retention", "nan"], ["--exit-retention", "out of range"]),
    (["dump", "--interval", "-1"], ["--interval"]),
    (["dump", "--iterations", "0"], ["--iterations", "out of range"]),
    (["dump", "--sort", "bogus"], ["--sort", "pass one of"]),
    (["dump", "--tickets", "bogus"], ["--tickets"]),
    (["dump", "--interval", "soon"], ["--interval", "lottery dump --help"]),
    (["dump", "--bogus"], ["--bogus"]),
    (["dump", "2", "--interval", "1"], ["interval is given twice"]),
    (["dump", "1", "5", "-n", "3"], ["count is given twice"]),
    (["dump", "-p", "12,x"], ["--pid", "list of PIDs"]),
    (["dump", "--columns", "pid,bogus"], ["--columns", "'bogus'", "pick from"]),
    (["dump", "--replay", "tests/data/recording.csv", "-o", "/tmp/lt-same.out",
      "--trace-output", "/tmp/lt-same.out"], ["same file"]),
    (["plot", "/nonexistent/run.csv"], ["cannot read", "lottery dump"]),
    (["plot", "tests/data/proc_stat.txt"], ["not a CSV or NDJSON", "lottery dump"]),
    (["workload", "--nice", "30"], ["--nice", "-20 to 19"]),
    (["workload", "--cpu", "4096"], ["--cpu"]),
    (["load", "--max-tasks", "0", "--obj", "/nonexistent.o"], ["--max-tasks"]),
])
def test_bad_input_is_one_line_and_exit_2(args, words):
    # in process: what is checked is what the command says (the first case
    # runs as a program, and so do the tests below)
    run = run_lottery if args == ["dump", "--interval", "0"] else run_in_process
    done = run(*args)
    one_line_error(done, *words)


def test_version_is_printed():
    result = run_lottery("--version")
    assert result.returncode == 0 and result.stdout.startswith("lottery ")


def test_help_lists_the_choices_of_sort_and_by():
    shown = run_lottery("dump", "--help").stdout
    assert "delta|runtime|wait|switches|error|deficit|pid" in shown
    assert "thread|process|comm|group" in shown


def test_every_command_has_help_with_examples():
    for command in ("build", "load", "dump", "unload", "workload", "status", "doctor",
                    "simulate", "experiment", "plot", "top", "serve"):
        result = run_in_process(command, "--help")
        assert result.returncode == 0 and "Examples:" in result.stdout, command
        assert result.stdout.startswith(f"Usage: lottery {command} ") and result.stderr == ""


def test_load_without_object_names_the_fix(tmp_path, pin_dir):
    result = run_lottery("load", "--pin-dir", str(pin_dir), cwd=tmp_path)
    one_line_error(result, "no BPF object", "lottery build", code=1)


def test_dump_and_status_with_nothing_loaded_say_so(pin_dir):
    one_line_error(run_lottery("dump", "-n", "1", "--pin-dir", str(pin_dir)),
                   "not loaded", "sudo lottery load", code=1)
    assert "not loaded" in run_lottery("status", "--pin-dir", str(pin_dir)).stdout


def test_unload_twice_is_not_an_error(instance):
    assert run_lottery("unload", "--pin-dir", str(instance.dir)).returncode == 0
    again = run_lottery("unload", "--pin-dir", str(instance.dir))
    assert again.returncode == 0 and "not loaded" in again.stderr


def test_second_load_is_refused_and_force_replaces(instance, bpf_object):
    args = ("load", "--pin-dir", str(instance.dir), "--obj", str(bpf_object))
    one_line_error(run_lottery(*args), "already loaded", "--force", code=1)
    forced = run_lottery(*args, "--force")
    assert forced.returncode == 0 and "attached to sched_switch" in forced.stdout
    status = run_lottery("status", "--pin-dir", str(instance.dir))
    assert status.returncode == 0 and "attached to sched_switch" in status.stdout


def test_pins_are_root_only(instance):
    assert oct(instance.dir.stat().st_mode & 0o777) == "0o700"
    for pin in instance.dir.iterdir():
        assert pin.stat().st_mode & 0o077 == 0, pin


def test_verifier_rejection_shows_the_log_tail(tmp_path, pin_dir, bpf_object):
    bad = tmp_path / "bad.bpf.c"
    # reads past the end of the map value: the verifier must refuse it
    bad.write_text('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
                   "struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);"
                   " __type(key, int); __type(value, long); } m SEC(\".maps\");\n"
                   'SEC("tp_btf/sched_switch") int bad(void *ctx) { int k = 0;'
                   " long *v = bpf_map_lookup_elem(&m, &k); return v ? v[64] : 0; }\n"
                   'char LICENSE[] SEC("license") = "GPL";\n')
    obj = tmp_path / "bad.o"
    subprocess.run(["clang", "-target", "bpf", "-g", "-O2", f"-I{bpf_object.parent}", "-c",
                    str(bad), "-o", str(obj)], check=True)
    result = run_lottery("load", "--pin-dir", str(pin_dir), "--obj", str(obj))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    first, *tail = result.stderr.strip().splitlines()
    assert "verifier rejected" in first
    assert any("invalid access to map value" in line for line in tail)
    assert not pin_dir.exists() or not any(pin_dir.iterdir())


def test_dump_prints_tables_and_writes_csv(instance, tmp_path):
    # it outlives the dump however busy the machine is; Ctrl-C stops it after
    work = subprocess.Popen([sys.executable, "-m", "orchestrator", "workload", "--nice", "3",
                             "--duration", "60", "--cpu", str(max(os.sched_getaffinity(0)))],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE)
    pid = work.stdout.readline().split()[1].decode()  # it has started
    out = tmp_path / "stats.csv"
    result = run_lottery("dump", "--pin-dir", str(instance.dir), "-i", "0.5", "-n", "3",
                         "-o", str(out))
    work.send_signal(signal.SIGINT)
    work.wait(timeout=PATIENCE_S)
    assert result.returncode == 0, result.stderr
    # a silent baseline first: every sample printed covers one interval
    assert result.stdout.count("conservation: tasks") == 3
    assert "needs two samples" not in result.stdout
    rows = list(csv.DictReader(out.open()))
    # its own worker: others' lottery-work may run meanwhile
    mine = [r for r in rows if r["pid"] == pid]
    assert {r["comm"] for r in mine} == {"lottery-work"}
    assert len(mine) == 3 and mine[-1]["nice"] == "3" and int(mine[-1]["runtime_delta_ns"]) > 0
    assert sorted({r["cpu"] for r in rows if r["state"] == "idle"}) == \
        [str(c) for c in range(os.cpu_count())]


def test_dump_writes_ndjson_beside_the_csv_with_the_same_rows(instance, tmp_path):
    csv_path, json_path = tmp_path / "s.csv", tmp_path / "s.ndjson"
    # four samples: from the third on, the CSV reuses the lines of sleeping tasks
    result = run_lottery("dump", "--pin-dir", str(instance.dir), "-i", "0.3", "-n", "4", "-q",
                         "-o", str(csv_path), "--json-output", str(json_path))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(csv_path.open(newline="")))
    every = [json.loads(line) for line in json_path.read_text().splitlines()]
    objects = [o for o in every if "record" not in o]
    assert len(rows) == len(objects) > 10
    for row, obj in zip(rows, objects, strict=True):
        assert list(row) == list(obj)
        assert all((row[k] == "") == (obj[k] is None) for k in row)
    assert records.read(csv_path) == records.read(json_path)
    # and each task group's waits in each interval: its rows' summed
    groups = [o for o in every if "record" in o]
    summed: dict[tuple, list[int]] = {}
    for row in rows:
        counts = waits.decode(row["wait_slots"] or None)
        if row["state"] != "idle" and counts and any(counts):
            waits.add(summed.setdefault((float(row["timestamp_s"]), row["group"] or None), []),
                      counts)
    assert groups and {o["record"] for o in groups} == {"group_waits"}
    found = {(o["timestamp_s"], o["group"]): list(waits.decode(o["wait_slots"])) for o in groups}
    assert found == summed
    assert all(o["waits"] == sum(waits.decode(o["wait_slots"])) and o["wait_p99_us"] > 0
               for o in groups)
    last = max(r["timestamp_s"] for r in objects)
    quiet = [r for r in objects if r["timestamp_s"] == last and r["runs_delta"] == 0]
    assert quiet  # a host always has sleeping tasks: the repeated lines were checked


def _spinners(name: str, count: int) -> list[subprocess.Popen]:
    """CPU-bound processes named `name` (no other task is), until killed."""
    code = "import sys\nopen('/proc/self/comm', 'w').write(sys.argv[1])\nwhile True: pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", code, name]) for _ in range(count)]
    for proc in procs:
        wait_until(lambda proc=proc: _named(proc, name), f"the name {name}")
    return procs


def _named(proc: subprocess.Popen, name: str) -> bool:
    assert proc.poll() is None, "a spinner ended early"
    return Path(f"/proc/{proc.pid}/comm").read_text() == name + "\n"


def test_dump_interval_and_count_positional_with_pid_lists_and_patterns(instance, tmp_path):
    # a name no other task has: others may run lottery-work meanwhile
    name = f"lt-{uuid.uuid4().hex[:6]}-work"
    procs = _spinners(name, 2)
    pids = [str(proc.pid) for proc in procs]
    out = {kind: tmp_path / f"{kind}.csv" for kind in ("pids", "sub", "regex")}
    base = ("dump", "--pin-dir", str(instance.dir), "-q", "0.3", "2")
    try:
        by_pid = run_lottery(*base, "-p", ",".join(pids), "-o", str(out["pids"]))
        by_sub = run_lottery(*base, "--comm", name[1:-2], "-o", str(out["sub"]))
        by_regex = run_lottery(*base, "--comm", "^nothing$", "--comm",
                               f"^{name[:-4]}w.rk$", "-o", str(out["regex"]))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    for done in (by_pid, by_sub, by_regex):
        assert done.returncode == 0, done.stderr
    for path in out.values():
        rows = list(csv.DictReader(path.open(newline="")))
        assert len({r["timestamp_s"] for r in rows}) == 2  # COUNT 2
        assert {r["pid"] for r in rows} == set(pids), path.name


def test_the_default_table_fits_120_columns_and_wide_shows_all(instance, cgroups):
    """A 15-character name, a group path longer than its column, exited rows."""
    deep = cgroups.make("a-cgroup-name-long-enough-to-be-cut-in-the-table", 1024)
    work = subprocess.Popen([sys.executable, "-c", "import os, time\n"
                             "open('/proc/self/comm', 'w').write('x' * 15)\n"
                             # until killed: on a busy machine the two dumps take a while
                             "end = time.monotonic() + 600\nwhile time.monotonic() < end: pass"])
    (deep / "cgroup.procs").write_text(str(work.pid))
    try:
        wait_until(lambda: _named(work, "x" * 15), "the 15-character name")
        args = ("dump", "--pin-dir", str(instance.dir), "0.5", "1", "--top", "200")
        narrow = run_lottery(*args, "--include-self")  # the exited bpftool rows too
        wide = run_lottery(*args, "--wide")
    finally:
        work.kill()
        work.wait()
    assert narrow.returncode == wide.returncode == 0, narrow.stderr + wide.stderr
    assert "xxxxxxxxxxxxxxx" in narrow.stdout and "(exited)" in narrow.stdout
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 120
    assert "…" in narrow.stdout and deep.name in wide.stdout  # cut, and shown whole
    header = next(line for line in wide.stdout.splitlines() if line.startswith("PID"))
    assert "MAX WAIT ms" in header and "EWMA ms" in header


def _table_pids(text: str) -> set[int]:
    return {int(line.split()[0]) for line in text.splitlines()
            if line.split() and line.split()[0].isdigit()}


def test_the_table_leaves_lottery_itself_out_unless_asked(instance, tmp_path):
    out = tmp_path / "all.csv"
    args = ("dump", "--pin-dir", str(instance.dir), "-i", "0.3", "-n", "2", "--top", "500")
    # by its own pid: other users' lottery and bpftool may run meanwhile, and show
    quiet, loud = start_lottery(*args, "-o", str(out)), start_lottery(*args, "--include-self")
    (quiet_out, quiet_err), (loud_out, loud_err) = (quiet.communicate(timeout=PATIENCE_S),
                                                  loud.communicate(timeout=PATIENCE_S))
    assert quiet.returncode == loud.returncode == 0, quiet_err + loud_err
    assert quiet.pid not in _table_pids(quiet_out) and loud.pid in _table_pids(loud_out)
    assert "bpftool (exited)" in loud_out
    rows = list(csv.DictReader(out.open(newline="")))
    assert "bpftool" in {r["comm"] for r in rows}  # files hold every task: conservation
    assert str(quiet.pid) in {r["pid"] for r in rows}


def _samples_written(path: Path, proc: subprocess.Popen, count: int) -> bool:
    assert proc.poll() is None, proc.communicate()
    lines = path.read_text().split("\n")[1:-1] if path.exists() else []
    return len({line.split(",", 1)[0] for line in lines}) >= count


def test_ctrl_c_leaves_only_whole_rows_and_exits_130(instance, tmp_path):
    out = tmp_path / "stats.csv"
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "dump", "--pin-dir",
                             str(instance.dir), "-i", "0.05", "-q", "-o", str(out)],
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # stopped while it writes sample after sample, however long they take
    wait_until(lambda: _samples_written(out, proc, 3), "three samples")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=PATIENCE_S)
    assert proc.returncode == 130 and "Traceback" not in err
    text = out.read_text()
    assert text.endswith("\n")
    rows = list(csv.reader(text.splitlines()))
    assert len(rows) > 10 and {len(r) for r in rows} == {len(rows[0])}


def test_non_root_dump_elevates_only_bpftool_and_owns_its_csv(instance, throwaway_user,
                                                             request):
    """A user with the rules `lottery doctor --sudoers` prints, and no more."""
    user, rules = throwaway_user
    write_sudoers(rules, user, instance)
    home = Path(tempfile.mkdtemp(prefix="lottery-home-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    shutil.chown(home, user=user)
    out = home / "stats.csv"
    result = run_lottery("dump", "--pin-dir", str(instance.dir), "-n", "2", "-i", "0.2",
                         "-o", str(out), user=user, cwd=home)
    assert result.returncode == 0, result.stderr
    assert os.stat(out).st_uid == pwd.getpwnam(user).pw_uid
    assert len(out.read_text().splitlines()) > 10


def test_a_program_that_cannot_start_is_one_line(instance, throwaway_user, tmp_path):
    """Run from a directory the user may not enter (root's, say), sudo cannot
    be started there: that is one line, not a traceback."""
    user, rules = throwaway_user
    write_sudoers(rules, user, instance)
    result = run_lottery("dump", "--pin-dir", str(instance.dir), "-n", "1", "-q", user=user,
                         cwd=tmp_path)  # tmp_path lies under root's 0700 directory
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr
    assert "could not be started: Permission denied" in lines[0], lines


def test_latency_alone_means_by_group_and_is_no_other_options_value():
    from orchestrator import cli

    command = cli.command_line()
    for argv, seen in ((["dump", "--latency"], ["dump", "--latency=group"]),
                       (["dump", "--latency", "1", "5"], ["dump", "--latency=group", "1", "5"]),
                       (["dump", "-q", "--latency", "-n", "2"],
                        ["dump", "-q", "--latency=group", "-n", "2"]),
                       (["dump", "--latency", "cpu"], ["dump", "--latency", "cpu"]),
                       (["dump", "--comm", "--latency"], ["dump", "--comm", "--latency"]),
                       (["dump", "-o", "--latency"], ["dump", "-o", "--latency"]),
                       (["dump", "--", "--latency"], ["dump", "--", "--latency"]),
                       (["top", "--latency"], ["top", "--latency"])):
        assert cli._with_values(command, argv) == seen, argv


def test_a_recording_whose_waits_are_all_zero_is_shown_not_a_traceback(tmp_path):
    """`0:0` is a histogram a file may hold (no wait in any slot)."""
    lines = (DATA / "latency.csv").read_text().splitlines()
    at = lines[0].split(",").index("wait_slots")
    zero = tmp_path / "zero.csv"
    zero.write_text("\n".join([lines[0], *(",".join("0:0" if i == at else cell for i, cell
                                                    in enumerate(line.split(",")))
                                           for line in lines[1:])]) + "\n")
    for args in (["dump", "--replay", str(zero), "--latency", "-q"],
                 ["plot", str(zero), "-o", str(tmp_path / "zero.png")]):
        done = run_lottery(*args)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    done = run_lottery("dump", "--replay", str(zero), "--latency", "-q")
    assert "none in this interval" in done.stdout
