"""Sleeping threads parked in child processes, so that the instance holds
that many real tasks (make bench, make soak)."""

from __future__ import annotations

import subprocess
import sys

_PARK = """
import sys, threading
threading.stack_size(64 * 1024)
release = threading.Event()
for _ in range(int(sys.argv[1])):
    threading.Thread(target=release.wait, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""
_THREADS_PER_PROCESS = 20_000


def park_threads(count: int) -> list[subprocess.Popen]:
    """Park about `count` sleeping threads in child processes, so the task map
    holds that many real tasks; closing their stdin ends them."""
    procs = []
    while count > 0:
        n = min(count, _THREADS_PER_PROCESS)
        procs.append(subprocess.Popen([sys.executable, "-c", _PARK, str(n)], text=True,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE))
        count -= n
    for proc in procs:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a thread-parking child failed")
    return procs


def release(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.stdin.close()
        proc.wait()
