"""lottery plot: a dump's CSV or NDJSON as a PNG (shares over time, wait,
conservation)."""

from __future__ import annotations

from pathlib import Path

from orchestrator import bounds, files
from orchestrator.constants import EXIT_OK
from orchestrator.sinks import plot as plots
from orchestrator.sinks import record


def plot(path: Path, output: Path | None, top: int) -> int:
    bounds.check("--plot-top", top, "--top")
    out = output or path.with_suffix(".png")
    files.distinct([files.Named("the recording", path)],
                   [files.Named("--output", out)])  # the default too: FILE.png may be FILE
    rows = record.read(path)
    times = {r["timestamp_s"] for r in rows}
    drawn = plots.dump_plot(rows, out, top, f"{path.name}: {len(times)} samples; the {top} "
                            "busiest tasks", str(path))
    print(f"wrote {out} ({drawn} tasks, {len(times)} samples)")
    return EXIT_OK
