"""lottery simulate: replay a dump CSV under lottery and stride scheduling."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from orchestrator import bounds, files, records, units
from orchestrator.analysis import simulate as sim
from orchestrator.analysis import tickets
from orchestrator.analysis.frames import live_frames
from orchestrator.constants import EXIT_OK, EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.kernel import snapshot
from orchestrator.paths import Pins
from orchestrator.sinks import results as results_file
from orchestrator.sinks.results import column

# The results file: a row per task.
COLUMNS = (column("pid"), column("comm"), column("nice"), column("tickets"),
           column("linux_ns", "observed_ns"), column("lottery_mean_ns", digits=0),
           column("lottery_sd_ns", digits=0), column("stride_ns", digits=0))


def _live(pins: Pins, intervals: int, interval_s: float, model_name: str | None):
    """Sample the loaded program `intervals` times after a baseline; the
    frames' shares are funded as the model says."""
    bounds.check("--interval", interval_s)
    snapshot.require_loaded(pins)
    model = tickets.model(model_name or "weight")
    # a frame across a reload is a new baseline, not an interval
    frames = [f for f in live_frames(pins, model, interval_s, intervals) if not f.reloaded]
    return sim.from_samples(frames, source=f"{intervals} live intervals")


def validate_replays(quantum_ms: float, replays: int) -> None:
    """The options of a simulated scheduler, shared with `experiment`."""
    bounds.check("--quantum", quantum_ms)
    bounds.check("--replays", replays)


def simulate(path: Path | None, quantum_ms: float, replays: int, seed: int | None,
             ticket_model: str | None, top: int, output: Path | None,
             live: int | None = None, interval_s: float = 1.0, pins: Pins | None = None) -> int:
    validate_replays(quantum_ms, replays)
    bounds.check("--top", top)
    files.distinct([files.Named("the CSV", path),
                    files.Named("--tickets", tickets.mapping_file(ticket_model))],
                   [files.Named("--output", output)])
    if (path is None) == (live is None):
        raise LotteryError("give either a CSV or --live N", "see lottery simulate --help",
                           code=EXIT_USAGE)
    if live is not None:
        bounds.check("--live", live)
        intervals, tasks = _live(pins, live, interval_s, ticket_model)
        source = f"{live} live intervals"
    else:
        model = tickets.model(ticket_model) if ticket_model else None
        intervals, tasks = sim.from_samples(records.read(path), model, str(path))
        source = str(path)
    results = sim.replay(intervals, tasks, units.ns_from_ms(quantum_ms), replays, seed)
    body = [[r.pid, r.comm, r.nice, r.tickets, f"{units.ms(r.observed_ns):.1f}",
             f"{units.ms(r.lottery_mean_ns):.1f} ± {units.ms(r.lottery_sd_ns):.1f}",
             f"{units.ms(r.stride_ns):.1f}"] for r in results[:top]]
    print(f"{len(intervals)} intervals ({source}), quantum {quantum_ms:g} ms, "
          f"{replays} lottery replays")
    print(tabulate(body, headers=["PID", "COMM", "NICE", "TICKETS", "LINUX ms",
                                  "LOTTERY ms (mean ± sd)", "STRIDE ms"],
                   tablefmt="simple", disable_numparse=True))
    if output:
        results_file.write_csv(output, COLUMNS, results)
        print(f"wrote {len(results)} tasks to {output}")
    return EXIT_OK
