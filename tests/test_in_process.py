"""The in-process runner (conftest.run_in_process), which most usage-error
tests use instead of a child: it must say what the program says, and leave
this process as it found it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import DATA, run_in_process, run_lottery

from orchestrator import signals

RECORDING = str(DATA / "recording.csv")
DUMP = str(DATA / "dump.csv")

# In this order: dump's table sink is imported in this process before
# simulate draws its own table, and simulate must not look any different.
CASES = [["--version"], [], ["dump", "--bogus"], ["dump", "--help"], ["dump", "--interval", "0"],
         ["dump", "--replay", RECORDING, "--top", "3"],
         ["dump", "--replay", RECORDING, "-q", "-o", "-"],
         ["simulate", DUMP, "--seed", "1"], ["plot", "/nonexistent/run.csv"],
         ["experiment", "--ratios", "3-1"]]


def test_a_command_run_in_process_says_what_the_program_says():
    for args in CASES:
        here, child = run_in_process(*args), run_lottery(*args)
        assert (here.returncode, here.stdout, here.stderr) == \
            (child.returncode, child.stdout, child.stderr), args


def _state() -> tuple:
    return ({signum: signal.getsignal(signum) for signum in signals.STOPPING},
            sys.unraisablehook, list(sys.argv), dict(os.environ), os.getcwd(),
            sys.stdin, sys.stdout, sys.stderr, sorted(os.listdir("/proc/self/fd")),
            [os.readlink(f"/proc/self/fd/{fd}") for fd in (0, 1, 2)])


def test_the_process_is_as_it_was_after_a_command_in_process(tmp_path):
    before = _state()
    done = run_in_process("dump", "--replay", RECORDING, "-q", "-o", "s.csv", cwd=tmp_path,
                          env={"LOTTERY_PIN_DIR": "/sys/fs/bpf/lottery-never-loaded"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wrote 4 samples to s.csv\n" and done.stderr == ""
    assert (tmp_path / "s.csv").read_bytes() == (DATA / "recording.csv").read_bytes()
    assert _state() == before


def test_standard_output_appended_to_a_file(tmp_path):
    log = tmp_path / "log"
    log.write_text("before\n")
    done = run_in_process("dump", "--replay", RECORDING, "-q", "-o", "-", stdout=log)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "wrote 4 samples to -\n")
    assert log.read_text() == "before\n" + (DATA / "recording.csv").read_text()


def test_a_failure_the_program_does_not_catch_is_a_traceback_and_status_1(monkeypatch):
    """As Python prints it: so that a test's `Traceback not in stderr` can fail."""
    from orchestrator import cli

    def broken(argv):
        raise ValueError("not caught")

    monkeypatch.setattr(cli, "run", broken)
    done = run_in_process("--version")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("Traceback") and "ValueError: not caught" in done.stderr


def test_a_stop_in_process_is_what_a_stop_of_the_program_is(monkeypatch):
    from orchestrator import cli

    def stopped(argv):
        os.kill(os.getpid(), signal.SIGTERM)
        pytest.fail("the stop did not interrupt the command")

    monkeypatch.setattr(cli, "run", stopped)
    handler = signal.getsignal(signal.SIGTERM)
    done = run_in_process("--version")
    assert (done.returncode, done.stderr) == (128 + signal.SIGTERM, "lottery: interrupted\n")
    assert signal.getsignal(signal.SIGTERM) is handler  # this process's again


def test_a_command_that_does_not_end_is_stopped_and_fails_the_test(monkeypatch):
    from orchestrator import cli

    def endless(argv):
        time.sleep(60)

    monkeypatch.setattr(cli, "run", endless)
    alarm = signal.getsignal(signal.SIGALRM)
    with pytest.raises(subprocess.TimeoutExpired) as late:
        run_in_process("--version", timeout=0.2)
    assert late.value.stderr == "lottery: interrupted\n"  # stopped, and it cleaned up
    assert signal.getsignal(signal.SIGALRM) is alarm and signal.getitimer(
        signal.ITIMER_REAL) == (0.0, 0.0)
