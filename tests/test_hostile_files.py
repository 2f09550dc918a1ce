"""Output files as a hostile user, a full disk or a service manager would
have them: refused or reported in one line, never half a sample, never a
write through someone else's link.  Refusals run the command line in this
process (run_in_process), but for one that runs as a program."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
)

from orchestrator.analysis.frames import Frame
from orchestrator.errors import LotteryError
from orchestrator.records import TASK_FIELDS, TaskRecord
from orchestrator.sinks.csv_file import HEADER, CsvSink

RECORDING = DATA / "recording.csv"


@pytest.fixture
def shared(tmp_path):
    """A directory like /tmp: anyone may add names (sticky)."""
    path = tmp_path / "shared"
    path.mkdir()
    os.chmod(path, 0o1777)
    return path


def test_no_write_through_a_link_planted_in_a_shared_directory(shared, tmp_path):
    target = tmp_path / "precious"
    target.write_text("mine\n")
    (shared / "out.csv").symlink_to(target)
    result = run_lottery("dump", "--replay", str(RECORDING), "-q", "-o", str(shared / "out.csv"))
    one_line_error(result, "symbolic link", code=None)
    assert target.read_text() == "mine\n"


def test_a_file_another_user_left_in_a_shared_directory_is_not_appended_to(shared):
    planted = shared / "out.csv"
    planted.write_text(HEADER + "\n")
    os.chown(planted, 65534, 65534)
    result = run_in_process("dump", "--replay", str(RECORDING), "-q", "-o", str(planted))
    one_line_error(result, "belongs to another user", code=None)
    assert planted.read_text() == HEADER + "\n"


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/null"])
def test_only_regular_files_or_stdout(tmp_path, special):
    if special == "fifo":
        special = str(tmp_path / "pipe")
        os.mkfifo(special)
    result = run_in_process("dump", "--replay", str(RECORDING), "-q", "-o", special, timeout=20)
    one_line_error(result, "not a regular file", code=None)


def test_dash_writes_the_csv_to_standard_output():
    result = run_in_process("dump", "--replay", str(RECORDING), "-q", "-o", "-")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == HEADER and len(lines) == len(RECORDING.read_text().splitlines())


def _output(n: int) -> Frame:
    """A frame of 50 records as the CSV sink takes it (values only matter)."""
    record = TaskRecord._make(0 if not f.text else "x" for f in TASK_FIELDS)
    return Frame(timestamp_s=float(n), tasks=(record,) * 50, idle=(), interval_s=1.0,
                 asked_s=1.0)


def test_a_file_deleted_mid_run_is_an_error_not_silent_loss(tmp_path):
    path = tmp_path / "s.csv"
    sink = CsvSink(path)
    sink.write(_output(1))
    path.unlink()
    with pytest.raises(LotteryError, match="removed or replaced"):
        sink.write(_output(2))
    sink.close()


def test_a_full_disk_leaves_the_file_whole(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        path = small / "s.csv"
        sink = CsvSink(path)
        written = 0
        with pytest.raises(LotteryError, match="No space left") as err:
            for n in range(10_000):
                sink.write(_output(n))
                written += 1
        sink.close()
        assert "\n" not in str(err.value.problem)
        text = path.read_text()
        assert text.endswith("\n") and text.count("\n") == 1 + 50 * written
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_file_that_cannot_be_opened_for_writing_is_one_line(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("")
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        result = run_in_process("dump", "--replay", str(RECORDING), "-q", "-o", str(path))
        one_line_error(result, "cannot write CSV", code=None)
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_workload_stopped_by_a_service_manager_ends_its_children(signum):
    work = subprocess.Popen([sys.executable, "-m", "orchestrator", "workload", "--duration", "60",
                             "--procs", "2"], env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, text=True)
    pids = [int(work.stdout.readline().split()[1]) for _ in range(2)]
    work.send_signal(signum)
    assert work.wait(timeout=PATIENCE_S) == 128 + signum
    # each ends, however long a busy machine takes to run its exit
    for pid in pids:
        wait_until(lambda pid=pid: _gone_or_zombie(pid), f"its child {pid} to end")


def test_workload_killed_outright_takes_its_children_along():
    work = subprocess.Popen([sys.executable, "-m", "orchestrator", "workload", "--duration", "60"],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            text=True)
    pid = int(work.stdout.readline().split()[1])
    work.kill()
    work.wait(timeout=PATIENCE_S)
    wait_until(lambda: _gone_or_zombie(pid), f"its child {pid} to end")


def _gone_or_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_dump_stopped_by_a_signal_keeps_whole_samples(instance, tmp_path, signum):
    path = tmp_path / "s.csv"
    dump = start_lottery("dump", "--pin-dir", str(instance.dir), "-q", "-i", "0.1", "-o",
                         str(path))
    wait_until(lambda: path.exists() and path.read_text().count("\n") >= 3, "a sample")
    dump.send_signal(signum)
    _, err = dump.communicate(timeout=PATIENCE_S)
    assert dump.returncode == 128 + signum, err
    assert "interrupted after" in err and "Traceback" not in err
    text = path.read_text()
    assert text.endswith("\n")
    stamps = [line.split(",", 1)[0] for line in text.splitlines()[1:]]
    assert all(stamps.count(s) == stamps.count(stamps[0]) for s in set(stamps))


def test_result_files_never_write_through_a_planted_link(shared, tmp_path):
    """experiment, simulate and plot write through files.write_atomically."""
    from orchestrator import files
    target = tmp_path / "precious"
    target.write_text("mine\n")
    (shared / "out.png").symlink_to(target)
    (shared / "out.png.tmp").symlink_to(target)  # the name the old code wrote first
    files.write_atomically(shared / "out.png", b"picture")
    assert target.read_text() == "mine\n"
    assert not (shared / "out.png").is_symlink() and (shared / "out.png").read_bytes() == \
        b"picture"
    assert sorted(p.name for p in shared.iterdir()) == ["out.png", "out.png.tmp"]


@pytest.mark.parametrize("option", ["-o", "--json-output"])
def test_a_file_starting_with_a_blank_line_is_refused_not_emptied(tmp_path, option):
    """Its first line says nothing of its schema; what follows is someone's."""
    path = tmp_path / "notes"
    path.write_text("\nprecious notes\n")
    result = run_in_process("dump", "--replay", str(RECORDING), "-q", option, str(path))
    one_line_error(result, "does not start with a line of", code=None)
    assert path.read_text() == "\nprecious notes\n"


@pytest.mark.parametrize("kind", ["device", "fifo", "socket"])
@pytest.mark.parametrize("argv", [
    ["simulate", str(RECORDING), "-o"], ["plot", str(RECORDING), "-o"],
    # refused before it looks for an instance, let alone runs for a minute
    ["experiment", "--pin-dir", "/sys/fs/bpf/lottery-test-never-loaded", "--png"]],
    ids=["simulate", "plot", "experiment"])
def test_result_files_never_replace_a_device_fifo_or_socket(tmp_path, kind, argv):
    """simulate -o /dev/null as root renamed a regular file over the device."""
    import socket
    import stat as stat_mod
    special = tmp_path / kind
    if kind == "device":  # a null device of our own: the machine's stays untouched
        os.mknod(special, stat_mod.S_IFCHR | 0o666, os.makedev(1, 3))
    elif kind == "fifo":
        os.mkfifo(special)
    else:
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(str(special))  # the socket's name stays after it is closed
    before = special.lstat()
    result = run_in_process(*argv, str(special))
    one_line_error(result, "not a regular file", code=None)
    after = special.lstat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == [kind]
