"""PNGs: the ratio experiment, in the style of the lottery paper's figure 4
(observed ratio against allocated ratio, with the y = x line), and a dump's
recording (shares over time, wait, conservation)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from orchestrator import files, units
from orchestrator.analysis.experiment import RatioResult
from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.sinks import record


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise LotteryError("matplotlib is not installed, so no PNG can be drawn",
                           "run make setup, or pip install 'lottery[plot]'") from None
    return plt


def _save(fig, path: Path) -> None:
    png = io.BytesIO()
    fig.savefig(png, format="png")
    _pyplot().close(fig)
    files.write_atomically(path, png.getvalue())


def ratio_plot(results: Sequence[RatioResult], path: Path, title: str) -> None:
    plt = _pyplot()
    top = max(max(r.allocated, r.observed, r.lottery_mean + r.lottery_sd) for r in results)
    fig, ax = plt.subplots(figsize=(6, 5), dpi=120)
    ax.plot([0, top * 1.1], [0, top * 1.1], color="grey", linestyle="--", label="y = x")
    alloc = [r.allocated for r in results]
    ax.plot(alloc, [r.weight_ratio for r in results], "s", mfc="none", color="tab:green",
            label="kernel weight ratio (nearest nice)")
    ax.errorbar(alloc, [r.lottery_mean for r in results], yerr=[r.lottery_sd for r in results],
                fmt="^", color="tab:orange", capsize=3, label="simulated lottery (mean ± sd)")
    ax.plot(alloc, [r.observed for r in results], "o", color="tab:blue",
            label="observed on Linux (CFS/EEVDF)")
    ax.set_xlabel("allocated ratio")
    ax.set_ylabel("observed runtime ratio")
    ax.set_xlim(0, top * 1.1)
    ax.set_ylim(0, top * 1.1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def dump_plot(rows: list[dict[str, object]], path: Path, top: int, title: str) -> int:
    """Observed (solid) against expected (dashed) share over time of the
    `top` busiest tasks, their wait per interval, and each sample's
    conservation error; return how many tasks are drawn."""
    tasks: dict[tuple, list[dict[str, object]]] = {}
    for row in rows:
        if row["state"] in ("alive", "exited") and row["runtime_delta_ns"] is not None:
            tasks.setdefault((row["pid"], row["start_ns"]), []).append(row)
    busiest = sorted(tasks.values(), key=lambda r: -sum(x["runtime_delta_ns"] for x in r))[:top]
    if not busiest:
        raise LotteryError("the file holds no task with an interval to plot",
                           "dump at least one sample (lottery dump 1 5 -o FILE)", code=EXIT_USAGE)
    start = min(r["timestamp_s"] for r in rows)
    plt = _pyplot()
    fig, (shares, waits, check) = plt.subplots(3, 1, figsize=(9, 8), dpi=110, sharex=True,
                                               gridspec_kw={"height_ratios": [3, 2, 1]})
    for n, series in enumerate(busiest):
        first = series[0]
        color = f"C{n % 10}"
        label = f"{first['comm']} {first['pid']} ({first['contention_group'] or '-'})"
        when = [r["timestamp_s"] - start for r in series]
        shares.plot(when, [100 * (r["observed_share"] or 0) for r in series], color=color,
                    label=label)
        shares.plot(when, [100 * (r["expected_share"] or 0) for r in series], color=color,
                    linestyle="--")
        waits.plot(when, [units.ms(r["wait_delta_ns"] or 0) for r in series], color=color)
    errors = record.conservation(rows)
    check.axhline(0, color="grey", linewidth=0.8)
    check.plot([t - start for t, _ in errors], [100 * e for _, e in errors], "o-",
               color="black", markersize=3)
    shares.set_ylabel("share of its CPU set, %\n(solid: Linux, dashed: lottery)")
    waits.set_ylabel("run-queue wait\nper interval, ms")
    check.set_ylabel("conservation\nerror, %")
    check.set_xlabel("seconds since the first sample")
    shares.legend(fontsize=7, loc="upper left", ncol=2)
    shares.set_title(title, fontsize=9)
    for ax in (shares, waits, check):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    return len(busiest)
