"""Run-queue wait histograms: log2 slots of microseconds, as runqlat counts
them (struct task_stats.waits, WAIT_SLOTS in bpf/sched_lottery.h).

Slot 0 holds the waits under 2 us, slot k >= 1 those from 2^k to
2^(k+1) - 1 us, and the last slot every longer wait.  A histogram is a tuple
of counts, one per slot.  In a file it is text: the slots that are not
empty, as `slot:count` separated by spaces (`0:12 3:4`), so that a row of
a task that did not run stays short (blank).  Quantiles are interpolated within
a slot as Prometheus' histogram_quantile does, so that dump, the exporter
and a dashboard agree."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from orchestrator import constants

# How many slots a file may name: the header's count, or a few more from a
# later build (a recording is read by the lottery that reads it).
_MAX_SLOTS = 64


def slots() -> int:
    return constants.WAIT_SLOTS


def lower_us(slot: int) -> int:
    """The shortest wait slot `slot` holds, in microseconds."""
    return 0 if slot == 0 else 1 << slot


def upper_us(slot: int) -> float:
    """The bound every wait of slot `slot` is under (Prometheus' `le`): the
    last slot has none."""
    return float("inf") if slot >= slots() - 1 else float(2 << slot)


def add(into: list[int], counts: Iterable[int]) -> None:
    """Add `counts` to `into`, slot by slot (`into` grows to fit)."""
    for slot, n in enumerate(counts):
        if slot >= len(into):
            into.extend([0] * (slot + 1 - len(into)))
        into[slot] += n


def quantile(counts: tuple[int, ...] | list[int] | None, q: float) -> float | None:
    """The q-quantile of the waits, in microseconds, interpolated within its
    slot; None with no wait.  In the last slot, its lower bound."""
    if not counts:
        return None
    count = sum(counts)
    if count <= 0:
        return None
    rank = q * count
    seen = 0
    for slot, n in enumerate(counts):
        if n and seen + n >= rank:
            low, high = lower_us(slot), upper_us(slot)
            if high == float("inf"):
                return float(low)
            return low + (high - low) * (rank - seen) / n
        seen += n
    return float(lower_us(len(counts) - 1))


def longest_le_us(counts: tuple[int, ...] | list[int] | None) -> float | None:
    """The bound the longest wait is under: the top slot that is not empty
    (its lower bound for the last slot)."""
    top = max((slot for slot, n in enumerate(counts or ()) if n), default=None)
    if top is None:
        return None
    high = upper_us(top)
    return float(lower_us(top)) if high == float("inf") else high


def encode(counts: tuple[int, ...] | None) -> str | None:
    """A histogram as a file holds it: `slot:count` of the slots not empty;
    None (a blank) when it holds no wait, or is not known."""
    if not counts or not any(counts):
        return None
    return " ".join(f"{slot}:{n}" for slot, n in enumerate(counts) if n)


@dataclass
class Running:
    """Waits added up interval after interval (an exporter's series): the
    counts by slot, and their sum as run_delay grew."""

    counts: list[int] = field(default_factory=list)
    sum_ns: int = 0

    def add(self, text: str | None, ns: int | None) -> None:
        if text:
            add(self.counts, decode(text))
        self.sum_ns += max(0, ns or 0)


# every view decodes the same few texts again, frame after frame
@lru_cache(maxsize=4096)
def decode(text: str | None) -> tuple[int, ...] | None:
    """The histogram a file's text names (encode's inverse); ValueError
    names what is wrong with text that is not one."""
    if text is None:
        return None
    counts: dict[int, int] = {}
    for part in text.split():
        slot_text, sep, n_text = part.partition(":")
        if not sep or not slot_text.isdigit() or not n_text.isdigit():
            raise ValueError(f"wait slots {part[:20]!r} is not slot:count")
        slot, n = int(slot_text), int(n_text)
        if slot >= _MAX_SLOTS or n >= 2**64 or slot in counts:
            raise ValueError(f"wait slots {part[:20]!r} is out of range or repeated")
        counts[slot] = n
    size = max(slots(), max(counts, default=-1) + 1)
    return tuple(counts.get(slot, 0) for slot in range(size))
