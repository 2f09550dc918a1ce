"""PNGs: the ratio experiment, in the style of the lottery paper's figure 4
(observed ratio against allocated ratio, with the y = x line), and a dump's
recording (shares over time, wait, conservation)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from orchestrator import files, units
from orchestrator import waits as wait_slots
from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.records import RecordedSample, TaskRecord, conservation
from orchestrator.sinks import latency


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


def ratio_plot(results: Sequence, path: Path, title: str) -> None:
    """`results`: experiments.ratio.RatioResult, one per ratio."""
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


def _lines(samples: list[RecordedSample], name: str
           ) -> list[list[tuple[float, TaskRecord]]]:
    """Each task's records that have an interval, for the tasks that have
    one in two samples or more (a line needs two points; one point alone is
    drawn as nothing).  Too little data for that is refused in one line."""
    tasks: dict[tuple, list[tuple[float, TaskRecord]]] = {}
    for sample in samples:
        for r in sample.tasks:
            if r.state in ("alive", "exited") and r.runtime_delta_ns is not None:
                tasks.setdefault(r.key, []).append((sample.timestamp_s, r))
    fix = "dump more samples, e.g. lottery dump 1 5 -o FILE, and plot that"
    if not tasks:
        raise LotteryError(f"{name} holds no task with an interval to plot", fix,
                           code=EXIT_USAGE)
    if len(samples) < 2:
        raise LotteryError(f"{name} holds one sample, and a plot of its tasks over time needs "
                           "two or more", fix, code=EXIT_USAGE)
    lines = [series for series in tasks.values() if len(series) > 1]
    if not lines:
        raise LotteryError(f"{name} holds no task with an interval in two samples, so there "
                           "is no line to draw", fix, code=EXIT_USAGE)
    return lines


def dump_plot(samples: list[RecordedSample], path: Path, top: int, title: str,
              name: str = "the recording") -> int:
    """Observed (solid) against expected (dashed) share over time of the
    `top` busiest tasks, their wait per interval, and each sample's
    conservation error; return how many tasks are drawn.  `name` names the
    recording in a refusal."""
    busiest = sorted(_lines(samples, name),
                     key=lambda series: -sum(r.runtime_delta_ns for _, r in series))[:top]
    start = samples[0].timestamp_s
    plt = _pyplot()
    slots = _wait_slots(samples)
    fig, axes = plt.subplots(4 if slots else 3, 1, figsize=(9, 10.5 if slots else 8), dpi=110,
                             sharex=True,
                             gridspec_kw={"height_ratios": [3, 2, 2, 1] if slots else [3, 2, 1]})
    shares, waits, check = axes[0], axes[1], axes[-1]
    for n, series in enumerate(busiest):
        first = series[0][1]
        color = f"C{n % 10}"
        label = f"{first.comm} {first.pid} ({first.contention_group or '-'})"
        when = [t - start for t, _ in series]
        shares.plot(when, [100 * (r.observed_share or 0) for _, r in series], color=color,
                    label=label)
        shares.plot(when, [100 * (r.expected_share or 0) for _, r in series], color=color,
                    linestyle="--")
        waits.plot(when, [units.ms(r.wait_delta_ns or 0) for _, r in series], color=color)
    errors = conservation(samples)
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
    if slots:
        _heatmap(fig, axes[2], slots, start)
    fig.tight_layout()
    _save(fig, path)
    return len(busiest)


def _wait_slots(samples: list[RecordedSample]) -> list[tuple[float, float, list[int]]]:
    """Each sample's run-queue waits of all its tasks by slot, with the time
    its interval began and ended (an interval without waits too: a column
    of its own); [] for a recording without any."""
    out = [(before.timestamp_s, sample.timestamp_s, latency.summed(sample.tasks))
           for before, sample in zip(samples, samples[1:], strict=False)]
    return out if any(any(counts) for _, _, counts in out) else []


def _heatmap(fig, ax, slots: list[tuple[float, float, list[int]]], start: float) -> None:
    """Waits by log2 slot of microseconds over time (runqlat's slots on the
    y axis), each interval a column, the count as colour (log scale)."""
    from matplotlib.colors import LogNorm

    filled = [k for _, _, counts in slots for k, n in enumerate(counts) if n]
    low, high = max(0, min(filled) - 1), max(filled) + 2  # a slot of room each side
    edges = [slots[0][0] - start, *(end - start for _, end, _ in slots)]
    grid = [[(counts[k] if k < len(counts) else 0) or float("nan") for _, _, counts in slots]
            for k in range(low, high)]
    mesh = ax.pcolormesh(edges, range(low, high + 1), grid, norm=LogNorm(), cmap="viridis",
                         shading="flat")
    ticks = range(low, high, max(1, (high - low) // 6))
    ax.set_yticks([k + 0.5 for k in ticks], [_us_text(wait_slots.lower_us(k)) for k in ticks],
                  fontsize=7)
    ax.set_ylabel("run-queue wait,\nfrom (log2 slot)")
    # beside the panel, not in its width: the panels share their time axis
    fig.colorbar(mesh, cax=ax.inset_axes([1.01, 0, 0.015, 1]), label="waits")


def _us_text(us: int) -> str:
    return f"{us} us" if us < 1000 else f"{us / 1000:.3g} ms" if us < 1_000_000 \
        else f"{us / 1_000_000:.3g} s"


def insulation_plot(timeline, half_s: float, path: Path, title: str) -> None:
    """Cumulative CPU seconds of each task over time, currency A above and B
    below, as the lottery paper's figure 9 draws them."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(7, 6), dpi=120, sharex=True)
    times = [t for t, _ in timeline]
    for ax, currency in zip(axes, ("A", "B"), strict=True):
        names = sorted({n for _, ran in timeline for n in ran if n.startswith(currency)})
        for name in names:
            points = [(t, units.s(ran[name] - timeline[0][1].get(name, 0)))
                      for t, ran in timeline if name in ran]
            ax.plot([p[0] for p in points], [p[1] for p in points], label=name)
        ax.axvline(half_s, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel(f"currency {currency}: CPU s")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    axes[1].set_xlabel("seconds (B3 starts at the dotted line)")
    axes[1].set_xlim(0, max(times))
    axes[0].set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def fairness_plot(windows, path: Path, title: str) -> None:
    """Observed ratio per window: Linux, a simulated lottery and stride, as the
    lottery paper's figure 5 draws Linux's."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    starts = [w.start_s for w in windows]
    ax.axhline(windows[0].expected_ratio, color="grey", linestyle="--", label="allocated")
    ax.plot(starts, [w.lottery_ratio for w in windows], "^-", color="tab:orange",
            markersize=3, linewidth=0.8, label="simulated lottery")
    ax.plot(starts, [w.stride_ratio for w in windows], "s-", color="tab:green",
            markersize=3, linewidth=0.8, label="simulated stride")
    ax.plot(starts, [w.linux_ratio for w in windows], "o-", color="tab:blue", markersize=3,
            label="observed on Linux")
    ax.set_xlabel("window start, seconds")
    ax.set_ylabel("ratio of CPU time in the window")
    ax.set_ylim(0, max(3.0, max(w.lottery_ratio for w in windows
                                if w.lottery_ratio == w.lottery_ratio) * 1.1))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def error_plot(points, path: Path, title: str) -> None:
    """Absolute allocation error against quanta handed out, log-log, with the
    theory of each simulated scheduler."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    n = [p.quanta for p in points]
    ax.plot(n, [p.lottery_theory for p in points], color="tab:orange", linestyle="--",
            linewidth=1, label="lottery theory: sqrt(2np(1-p)/pi)")
    ax.plot(n, [p.stride_bound for p in points], color="tab:green", linestyle="--",
            linewidth=1, label="stride bound: one quantum")
    ax.plot(n, [p.lottery_error for p in points], color="tab:orange",
            label="simulated lottery (mean)")
    ax.plot(n, [max(p.stride_error, 1e-3) for p in points], color="tab:green", linewidth=0.8,
            label="simulated stride")
    ax.plot(n, [max(p.linux_error, 1e-3) for p in points], color="tab:blue",
            label="observed on Linux")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-2, max(p.lottery_theory for p in points) * 3)
    ax.set_xlabel("quanta handed out to the pair")
    ax.set_ylabel("absolute error of the first, quanta")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    _save(fig, path)
