"""lottery simulate: replay a dump CSV under lottery and stride scheduling."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tabulate import tabulate

from orchestrator import simulate as sim
from orchestrator import tickets
from orchestrator.constants import EXIT_OK, EXIT_USAGE
from orchestrator.errors import LotteryError


def simulate(path: Path, quantum_ms: float, replays: int, seed: int | None,
             ticket_model: str | None, top: int, output: Path | None) -> int:
    if not quantum_ms > 0:
        raise LotteryError(f"--quantum {quantum_ms} must be above 0",
                           "pass milliseconds, e.g. --quantum 4", code=EXIT_USAGE)
    if replays < 2:
        raise LotteryError(f"--replays {replays} must be at least 2 (for a spread)",
                           "pass e.g. --replays 20", code=EXIT_USAGE)
    model = tickets.model(ticket_model) if ticket_model else None
    intervals, tasks = sim.read_csv(path, model)
    results = sim.replay(intervals, tasks, round(quantum_ms * 1e6), replays, seed)
    body = [[r.pid, r.comm, r.nice, r.tickets, f"{r.observed_ns / 1e6:.1f}",
             f"{r.lottery_mean_ns / 1e6:.1f} ± {r.lottery_sd_ns / 1e6:.1f}",
             f"{r.stride_ns / 1e6:.1f}"] for r in results[:top]]
    print(f"{len(intervals)} intervals of {path}, quantum {quantum_ms:g} ms, "
          f"{replays} lottery replays")
    print(tabulate(body, headers=["PID", "COMM", "NICE", "TICKETS", "LINUX ms",
                                  "LOTTERY ms (mean ± sd)", "STRIDE ms"],
                   tablefmt="simple", disable_numparse=True))
    if output:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["pid", "comm", "nice", "tickets", "linux_ns", "lottery_mean_ns",
                         "lottery_sd_ns", "stride_ns"])
        writer.writerows([r.pid, r.comm, r.nice, r.tickets, r.observed_ns,
                          round(r.lottery_mean_ns), round(r.lottery_sd_ns), round(r.stride_ns)]
                         for r in results)
        write_atomically(output, buf.getvalue())
        print(f"wrote {len(results)} tasks to {output}")
    return EXIT_OK


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` whole: a reader sees the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as err:
        raise LotteryError(f"cannot write {path} ({err.strerror})",
                           "choose a writable output path", code=EXIT_USAGE) from None
