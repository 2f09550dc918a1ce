"""CPU-bound processes with a chosen nice value and CPU, for repeatable pressure."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

COMM = "lottery-work"


def _spin(nice: int, cpu: int | None, duration_s: float, new_session: bool,
          cgroup: Path | None) -> None:
    """Burn CPU until the deadline (runs in the child; never returns)."""
    code = 0
    try:
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
        signal.signal(signal.SIGINT, signal.SIG_DFL)
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
    for _ in range(procs):
        pid = os.fork()
        if pid == 0:
            _spin(nice, cpu, duration_s, new_session, cgroup)
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
