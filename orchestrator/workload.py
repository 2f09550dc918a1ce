"""CPU-bound processes with a chosen nice value and CPU, for repeatable pressure."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

from orchestrator import signals

COMM = "lottery-work"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with(parent: int) -> None:
    """Be killed when the parent dies, however it dies (SIGKILL included)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the request was made
        os._exit(1)


def _spin(nice: int, cpu: int | None, duration_s: float, new_session: bool,
          cgroup: Path | None, parent: int, held: set[int]) -> None:
    """Burn CPU until the deadline (runs in the child; never returns)."""
    code = 0
    try:
        # Signals were held across the fork: now they kill, as in any program.
        signals.default()
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        if new_session:
            os.setsid()  # with autogroup on, a session is a task group of its own
        if cgroup is not None:
            with open(cgroup / "cgroup.procs", "w", encoding="ascii") as handle:
                handle.write(str(os.getpid()))
        with open("/proc/self/comm", "w", encoding="utf-8") as handle:
            handle.write(COMM)  # so `dump --comm lottery-work` finds it
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        os.setpriority(os.PRIO_PROCESS, 0, nice)
        _die_with(parent)
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline:
            pass
    except BaseException:  # a child must never return into the parent's code
        code = 1
    os._exit(code)


def start(nice: int, duration_s: float, cpu: int | None = None, procs: int = 1,
          new_session: bool = False, cgroup: Path | None = None) -> list[int]:
    """Fork `procs` spinning children, each in a new session if asked and in
    `cgroup` (a cgroup directory) if given; return their PIDs."""
    pids = []
    parent = os.getpid()
    for _ in range(procs):
        # Held until the child has its own handlers: a stop that came while
        # it still ran the parent's would be lost in the fork's own hooks.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, signals.STOPPING)
        pid = os.fork()
        if pid == 0:
            _spin(nice, cpu, duration_s, new_session, cgroup, parent, held)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        pids.append(pid)
    return pids


def wait(pids: Iterable[int]) -> int:
    """Wait for the children; return how many failed."""
    failed = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    return failed


def stop(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
