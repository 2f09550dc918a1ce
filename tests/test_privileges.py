"""The documented way for a user who is not root to read an instance
(`lottery doctor --sudoers USER`), tried by a throwaway user: reading works,
and nothing else runs as root."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import PATIENCE_S, run_lottery, write_sudoers

from orchestrator import records
from orchestrator.errors import LotteryError
from orchestrator.kernel import helper, snapshot, tools


def _as(user: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", "sudo", "-n", *argv],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def test_the_printed_rules_let_a_user_read_and_nothing_more(instance, throwaway_user,
                                                             request):
    user, rules = throwaway_user
    write_sudoers(rules, user, instance)
    out = Path(tempfile.mkdtemp(prefix="lottery-privileges-", dir="/tmp"))
    shutil.chown(out, user=user)
    request.addfinalizer(lambda: shutil.rmtree(out, ignore_errors=True))
    read = run_lottery("dump", "--pin-dir", str(instance.dir), "-n", "1", "-q", "-i", "0.2",
                       "-o", str(out / "s.csv"), user=user)
    assert read.returncode == 0, read.stderr
    assert (out / "s.csv").read_text().count("\n") > 10

    bpftool, cat = tools.require("bpftool"), tools.require("cat")
    attempts = [
        [cat, "/etc/shadow"],
        [cat, str(instance.snapshot_link), "/etc/shadow"],
        [cat, str(instance.reader(0))],
        [*helper.argv(instance)[:-1], "/sys/fs/bpf"],
        [bpftool, "prog", "dump", "xlated", "pinned", str(instance.dir / "on_switch"),
         "file", "/etc/lottery-owned"],
        [bpftool, "-j", "map", "dump", "pinned", str(instance.counters)],
        [bpftool, "-j", "map", "update", "pinned", str(instance.settings), "key", "0", "0",
         "0", "0", "value", *["0"] * 24],
        [bpftool, "prog", "loadall", "/nonexistent.o", "/sys/fs/bpf/x", "autoattach"],
        ["/bin/sh", "-c", "id"],
        ["rm", "-rf", str(instance.dir)],
    ]
    for argv in attempts:
        tried = _as(user, *argv)
        assert tried.returncode != 0, argv
        assert "password is required" in tried.stderr or "not allowed" in tried.stderr, \
            (argv, tried.stderr)
    assert not Path("/etc/lottery-owned").exists() and instance.tasks.exists()


@pytest.mark.alone
def test_a_user_walking_in_loops_cannot_stop_a_root_reader(instance, throwaway_user,
                                                           tmp_path):
    """A user holding exactly the read rules, walking without end through
    three loops of the root helper (full walks, as fast as it answers) and
    dumping the exit map in a fourth: root's dump is slowed at most, never
    stopped, and its samples keep conservation."""
    user, rules = throwaway_user
    write_sudoers(rules, user, instance)
    full = helper.request(True).decode().strip()
    walks = (f"while :; do yes '{full}' | sudo -n {' '.join(helper.argv(instance))} "
             ">/dev/null; done")
    dumps = (f"while :; do sudo -n {tools.require('bpftool')} -j map dump pinned "
             f"{instance.tasks} >/dev/null; done")
    loops = [subprocess.Popen(["runuser", "-u", user, "--", "sh", "-c", loop],
                              start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for loop in (walks, walks, walks, dumps)]
    try:
        time.sleep(0.5)  # the loops are walking
        out = tmp_path / "root.csv"
        done = run_lottery("dump", "0.2", "8", "-q", "-o", str(out), "--pin-dir",
                           str(instance.dir), timeout=PATIENCE_S)
        assert done.returncode == 0, done.stderr
        errors = [abs(e) for _, e in records.conservation(records.read(out))]
        assert len(errors) >= 7 and statistics.median(errors) < 0.05, errors
        # no rule opens a slot's pin: a user walks only through the helper
        tried = _as(user, tools.require("cat"), str(instance.reader(0)))
        assert tried.returncode != 0
        assert "password is required" in tried.stderr or "not allowed" in tried.stderr
    finally:
        for loop in loops:
            os.killpg(loop.pid, signal.SIGKILL)
            loop.wait()
        _end_helpers(instance)


def _helper(user: str, pins) -> subprocess.Popen:
    return subprocess.Popen(["runuser", "-u", user, "--", "sudo", "-n", *helper.argv(pins)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _answers(proc: subprocess.Popen, within_s: float, asked: bool = False) -> bool:
    """Ask the helper for a walk (unless `asked` already); did its answer
    begin within `within_s`?  Its texts are read whole."""
    if not asked:
        proc.stdin.write(helper.request(False))
        proc.stdin.flush()
    ready, _, _ = select.select([proc.stdout], [], [], within_s)
    if not ready:
        return False
    for _ in helper.FIELDS:
        head = proc.stdout.readline().strip()
        if not head.isdigit():
            return False
        proc.stdout.read(int(head))
    return True


def _end_helpers(pins) -> None:
    """Root's helpers run as root: a user's end does not end them."""
    subprocess.run(["pkill", "-KILL", "-f", f"lottery reader --pin-dir {pins.dir}$"],
                   check=False)


def test_one_user_holds_two_slots_at_most_and_a_third_reader_waits(instance, throwaway_user):
    """Users holding the read rules cannot take every slot: a user's third
    helper waits until one of its first two ends; root still finds a slot."""
    user, rules = throwaway_user
    write_sudoers(rules, user, instance)
    helpers = []
    try:
        for _ in range(2):
            helpers.append(_helper(user, instance))
            assert _answers(helpers[-1], PATIENCE_S)
        helpers.append(_helper(user, instance))
        assert not _answers(helpers[2], 2.0)  # waiting for one of the user's places
        with snapshot.session(instance) as root:
            assert root.take().info.full  # a root reader is not kept out
        helpers[0].stdin.close()
        assert helpers[0].wait(timeout=PATIENCE_S) == 0
        assert _answers(helpers[2], PATIENCE_S, asked=True)
    finally:
        for proc in helpers:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            proc.stdout.close()
            proc.kill()
            proc.wait()
        _end_helpers(instance)


def test_a_helper_of_another_version_refuses_instead_of_leaving_the_reader_waiting(instance):
    """A reader whose checkout changed after `make setup` installed the
    helper reads another number of texts: each side would wait for the
    other.  The request names the number; the helper refuses another."""
    import io

    out = io.BytesIO()
    with pytest.raises(LotteryError) as failed:
        helper.serve(instance, io.BytesIO(b"full %d\n" % (len(helper.FIELDS) - 1)), out)
    assert "another version" in failed.value.problem and "make setup" in failed.value.fix
    assert out.getvalue() == b""
    # the request as this version writes it is answered
    out = io.BytesIO()
    assert helper.serve(instance, io.BytesIO(helper.request(True)), out) == 0
    assert out.getvalue().count(b"\n") >= len(helper.FIELDS)
