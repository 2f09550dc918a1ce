"""lottery plot: a dump's CSV or NDJSON as a PNG (shares over time, wait,
conservation)."""

from __future__ import annotations

from pathlib import Path

from orchestrator import bounds, files, records
from orchestrator.constants import EXIT_OK
from orchestrator.sinks import plot as plots


def plot(path: Path, output: Path | None, top: int) -> int:
    bounds.check("--plot-top", top, "--top")
    out = output or path.with_suffix(".png")
    files.distinct([files.Named("the recording", path)],
                   [files.Named("--output", out)])  # the default too: FILE.png may be FILE
    samples = records.read(path)
    drawn = plots.dump_plot(samples, out, top, f"{path.name}: {len(samples)} samples; the "
                            f"{top} busiest tasks", str(path))
    print(f"wrote {out} ({drawn} tasks, {len(samples)} samples)")
    return EXIT_OK
