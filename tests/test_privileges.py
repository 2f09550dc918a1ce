"""The documented way for a user who is not root to read an instance
(`lottery doctor --sudoers USER`), tried by a throwaway user: reading works,
and nothing else runs as root."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import run_lottery, write_sudoers

from orchestrator.kernel import tools


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
