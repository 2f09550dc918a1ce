"""Run-queue wait histograms (orchestrator/waits.py): slots as runqlat's,
quantiles as Prometheus' histogram_quantile, and the text a file holds."""

from __future__ import annotations

import pytest

from orchestrator import waits
from orchestrator.constants import WAIT_SLOTS


def _slot_of(us: int) -> int:
    """runqlat's slot of a wait of `us` microseconds: floor(log2), 0 for 0 and 1."""
    return min(max(us.bit_length() - 1, 0), WAIT_SLOTS - 1)


@pytest.mark.parametrize("us", [0, 1, 2, 3, 4, 7, 8, 1000, 1023, 1024, 33_554_431, 10**9])
def test_a_slot_holds_the_waits_between_its_bounds(us):
    slot = _slot_of(us)
    assert waits.lower_us(slot) <= us or slot == 0
    assert us < waits.upper_us(slot)


def test_quantiles_interpolate_within_a_slot_as_prometheus_does():
    counts = [0] * WAIT_SLOTS
    counts[3] = 10  # waits of 8..15 us
    # rank 5 of 10, half way through [8, 16)
    assert waits.quantile(counts, 0.5) == pytest.approx(12.0)
    counts[10] = 10  # and 1024..2047 us
    assert waits.quantile(counts, 0.5) == pytest.approx(16.0)  # the top of slot 3
    assert waits.quantile(counts, 0.99) == pytest.approx(1024 + 1024 * 9.8 / 10)
    assert waits.longest_le_us(counts) == 2048
    assert waits.quantile([0] * WAIT_SLOTS, 0.5) is None
    assert waits.quantile(None, 0.5) is None
    last = [0] * WAIT_SLOTS
    last[-1] = 3  # beyond the last bound: its lower bound, as no upper is known
    assert waits.quantile(last, 0.99) == waits.lower_us(WAIT_SLOTS - 1)


def test_a_histogram_goes_through_its_text_and_back():
    counts = tuple(n if slot in (0, 4, WAIT_SLOTS - 1) else 0
                   for slot, n in enumerate(range(7, 7 + WAIT_SLOTS)))
    text = waits.encode(counts)
    assert text == f"0:7 4:11 {WAIT_SLOTS - 1}:{6 + WAIT_SLOTS}"
    assert waits.decode(text) == counts
    assert waits.encode((0,) * WAIT_SLOTS) is None and waits.encode(None) is None
    assert waits.decode(None) is None


@pytest.mark.parametrize("text", ["3", "a:1", "1:-2", "1:2 1:3", "99:1", "1:2:3",
                                  f"2:{2**64}"])
def test_text_that_is_no_histogram_is_refused_by_name(text):
    with pytest.raises(ValueError, match="wait slots"):
        waits.decode(text)
