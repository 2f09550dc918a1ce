"""lottery workload: CPU-bound load that prints its PIDs and exits when done."""

from __future__ import annotations

import os

from orchestrator import bounds, signals
from orchestrator import workload as load_gen
from orchestrator.constants import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from orchestrator.errors import LotteryError


def validate(nice: int, duration_s: float, cpu: int | None, procs: int) -> None:
    bounds.check("--nice", nice)
    bounds.check("--duration", duration_s)
    bounds.check("--procs", procs)
    if cpu is not None and cpu not in os.sched_getaffinity(0):
        allowed = ",".join(map(str, sorted(os.sched_getaffinity(0))))
        raise LotteryError(f"--cpu {cpu} is not available here", f"pick one of {allowed}",
                           code=EXIT_USAGE)
    if nice < os.getpriority(os.PRIO_PROCESS, 0) and os.geteuid() != 0:
        raise LotteryError(f"--nice {nice} is below this shell's nice value and needs root",
                           "pass a higher --nice, or run as root", code=EXIT_USAGE)


def workload(nice: int, duration_s: float, cpu: int | None = None, procs: int = 1) -> int:
    validate(nice, duration_s, cpu, procs)
    pids = load_gen.start(nice, duration_s, cpu, procs)
    where = f"CPU {cpu}" if cpu is not None else "any CPU"
    try:
        for pid in pids:
            print(f"pid {pid} nice {nice} on {where} for {duration_s:g} s", flush=True)
        failed = load_gen.wait(pids)
    except KeyboardInterrupt as err:  # Ctrl-C, SIGTERM, SIGHUP: the children end too
        load_gen.stop(pids)
        load_gen.wait(pids)
        return signals.exit_code(err)
    return EXIT_ERROR if failed else EXIT_OK
