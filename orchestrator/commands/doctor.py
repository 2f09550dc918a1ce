"""lottery doctor: check every prerequisite and print the fix for each failure."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator import paths
from orchestrator.constants import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.kernel import bpffs, helper, tools
from orchestrator.paths import Pins


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _btf() -> Check:
    btf = paths.btf_path()
    ok = btf.exists() and os.access(btf, os.R_OK)
    return Check("kernel BTF", ok, str(btf),
                 "boot a kernel with CONFIG_DEBUG_INFO_BTF=y, or set BTF_PATH")


def _bpffs() -> Check:
    ok = bpffs.is_mounted()
    return Check("bpffs mounted", ok, "/sys/fs/bpf" if ok else "not mounted",
                 "sudo lottery load mounts it, or: mount -t bpf bpf /sys/fs/bpf")


def _bpftool() -> Check:
    if not tools.which("bpftool"):
        return Check("bpftool with autoattach", False, "not found",
                     "apt-get install -t bookworm-backports bpftool (or make setup)")
    ok = tools.bpftool_can_autoattach()
    return Check("bpftool with autoattach", ok, f"{tools.which('bpftool')} "
                 f"v{tools.bpftool_version()}",
                 "bpftool 7.3+ needed: apt-get install -t bookworm-backports bpftool")


def _clang() -> Check:
    clang = tools.which("clang")
    if not clang:
        return Check("clang", False, "not found", "apt-get install clang llvm (or make setup)")
    targets = tools.run([clang, "--print-targets"])
    return Check("clang with BPF target", " bpf " in f" {targets} ", clang,
                 "install a clang built with the BPF backend (Debian's clang has it)")


def _headers() -> Check:
    header = Path("/usr/include/bpf/bpf_helpers.h")
    return Check("libbpf headers", header.exists(), str(header),
                 "apt-get install libbpf-dev (or make setup)")


def _privilege() -> Check:
    if tools.is_root():
        return Check("root or sudo", True, "running as root")
    sudo = tools.which("sudo")
    return Check("root or sudo", bool(sudo), sudo or "not root and no sudo",
                 "run as root, or apt-get install sudo and add a sudoers rule")


CHECKS: tuple[Callable[[], Check], ...] = (_btf, _bpffs, _bpftool, _clang, _headers, _privilege)


def run_checks() -> list[Check]:
    return [check() for check in CHECKS]


def doctor() -> int:
    """Print one line per check; exit 1 if any failed."""
    results = run_checks()
    width = max(len(r.name) for r in results)
    for r in results:
        mark = "ok  " if r.ok else "FAIL"
        line = f"{mark} {r.name:<{width}}  {r.detail}"
        print(line + ("" if r.ok else f"\n     fix: {r.fix}"))
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)} of {len(results)} checks passed")
    return EXIT_ERROR if failed else EXIT_OK


# Characters a sudoers argument may hold without escaping, and a user name.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._/+-]+")
_USER = re.compile(r"[a-z_][a-z0-9_-]*\$?")


def sudoers_rules(user: str, pins: Pins) -> list[str]:
    """The sudoers lines that let `user` read the instance at `pins` (dump,
    top) and nothing else: each names one command with its exact arguments,
    so sudo refuses any other file, map or bpftool subcommand."""
    if not _USER.fullmatch(user):
        raise LotteryError(f"{user!r} is not a user name", "pass a login name, e.g. alice",
                           code=EXIT_USAGE)
    pins.checked()
    # walks of a slot of the user's own, through lottery's root helper
    # (kernel/helper.py): no rule lets a user open another reader's slot
    reads = [helper.argv(pins)]
    reads += [[tools.require("bpftool"), "-j", "map", "dump", "pinned", str(pin)]
              for pin in (pins.tasks, pins.groups, pins.snapshots, pins.settings)]
    # serve's run time and count of the programs (kernel.bpf_stats_enabled):
    # which programs are the instance's, then every program's counters
    reads += [[tools.require("bpftool"), "-j", "link", "show", "pinned", str(pin)]
              for pin in (pins.switch_link, pins.snapshot_link)]
    reads += [[tools.require("bpftool"), "-j", "prog", "show"]]
    for argv in reads:
        if not all(_PLAIN_PATH.fullmatch(arg) for arg in argv):
            raise LotteryError(f"{' '.join(argv)} has characters sudoers would read as syntax",
                               "pass a --pin-dir of letters, digits and . _ - /",
                               code=EXIT_USAGE)
    return [f"# lottery: {user} may read the instance at {pins.dir} (dump, top, serve), "
            "nothing else",
            *(f"{user} ALL=(root) NOPASSWD: {' '.join(argv)}" for argv in reads)]


def sudoers(user: str, pins: Pins) -> int:
    print("\n".join(sudoers_rules(user, pins)))
    return EXIT_OK
