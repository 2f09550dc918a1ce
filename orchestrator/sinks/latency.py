"""`dump --latency`: each task group's (or CPU's) run-queue waits of the
interval as runqlat prints them, one log2 bar per slot of microseconds."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from orchestrator import waits
from orchestrator.analysis.frames import Frame
from orchestrator.records import TaskRecord

MODES = ("group", "cpu")
_BAR = 40  # runqlat's width
_NO_GROUP = "(no group)"


def _sums(records: Iterable[TaskRecord], name: Callable[[TaskRecord], str | None]
          ) -> dict[str | None, list[int]]:
    out: dict[str | None, list[int]] = {}
    for r in records:
        counts = waits.decode(r.wait_slots)
        if not counts or not any(counts):  # a file may say 0:0
            continue
        waits.add(out.setdefault(name(r), []), counts)
    return out


def summed(records: Iterable[TaskRecord]) -> list[int]:
    """All the records' waits of the interval together, by slot."""
    return _sums(records, lambda r: None).get(None, [])


def by_group(frame: Frame) -> dict[str | None, list[int]]:
    """The interval's waits of each task group (its path; None: records of
    no group), summed from its records: what no task can be named by
    (summed or unseen exits) counts in its group's."""
    return _sums(frame.tasks, lambda r: r.group)


def histograms(frame: Frame, mode: str) -> dict[str, list[int]]:
    """The interval's waits by group path (by CPU: the CPUs' records), each
    a list of counts by slot; records of no group under (no group)."""
    if mode == "cpu":
        return _sums(frame.idle, lambda r: f"cpu {r.cpu}")
    return {name or _NO_GROUP: counts for name, counts in by_group(frame).items()}


def _bar(n: int, most: int) -> str:
    stars = 0 if most == 0 else round(_BAR * n / most)
    return "*" * stars + " " * (_BAR - stars)


def render_one(name: str, counts: list[int]) -> str:
    """One histogram as runqlat draws it, under a line naming its group,
    count and quantiles."""
    filled = [slot for slot, n in enumerate(counts) if n]
    p50, p99 = waits.quantile(counts, 0.5), waits.quantile(counts, 0.99)
    lines = [f"{name}: {sum(counts)} waits, p50 {p50:.1f} us, p99 {p99:.1f} us",
             f"{'usecs':>27} : {'count':<8} distribution"]
    most = max(counts)
    for slot in range(filled[0], filled[-1] + 1):
        low, high = waits.lower_us(slot), waits.upper_us(slot)
        span = f"{low} -> {int(high) - 1}" if high != float("inf") else f"{low} -> ..."
        lines.append(f"{span:>27} : {counts[slot]:<8} |{_bar(counts[slot], most)}|")
    return "\n".join(lines)


def render(frame: Frame, mode: str, top: int) -> str:
    """The `top` groups (or every CPU) with the most waits in the interval."""
    found = histograms(frame, mode)
    if not found:
        return "run-queue waits: none in this interval (or the instance counts none: " \
               "sudo lottery load --force with this lottery)"
    order = sorted(found, key=lambda name: (-sum(found[name]), name)) if mode == "group" \
        else sorted(found, key=lambda name: int(name.split()[1]))
    shown = order if mode == "cpu" else order[:top]
    more = len(order) - len(shown)
    out = [render_one(name, found[name]) for name in shown]
    if more:
        out.append(f"({more} more groups; --top shows more)")
    return "\n\n".join(out)

