"""PNG of the ratio experiment, in the style of the lottery paper's figure 4:
observed ratio against allocated ratio, with the y = x line."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from orchestrator import files
from orchestrator.errors import LotteryError
from orchestrator.experiment import RatioResult


def ratio_plot(results: Sequence[RatioResult], path: Path, title: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise LotteryError("matplotlib is not installed, so no PNG can be drawn",
                           "run make setup, or pip install 'lottery[plot]'") from None
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
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    files.write_atomically(path, png.getvalue())
