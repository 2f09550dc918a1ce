"""lottery plot: a dump's CSV or NDJSON as a PNG (shares over time, wait,
conservation)."""

from __future__ import annotations

from pathlib import Path

from orchestrator import bounds, records
from orchestrator.constants import EXIT_OK, EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.sinks import plot as plots


def plot(path: Path, output: Path | None, top: int) -> int:
    bounds.check("--plot-top", top, "--top")
    samples = records.read(path)
    out = output or path.with_suffix(".png")
    if out.resolve() == path.resolve():
        raise LotteryError(f"--output {out} is the input file", "pass another PNG path",
                           code=EXIT_USAGE)
    drawn = plots.dump_plot(samples, out, top, f"{path.name}: {len(samples)} samples; the "
                            f"{top} busiest tasks")
    print(f"wrote {out} ({drawn} tasks, {len(samples)} samples)")
    return EXIT_OK
