"""Output sinks.  Each file format is one module with one class that takes
a sample's Output and can be closed; the table and the live view draw."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from orchestrator.analysis.analyser import Analysis
from orchestrator.sampling.deltas import Sample
from orchestrator.sinks.record import Record


@dataclass(frozen=True)
class Output:
    """What one sample gives the files: its rows (as the filters left them),
    their analysis, their records (built once, for every file), and the
    deadline warnings it raised."""

    sample: Sample
    analysis: Analysis
    records: list[Record]
    late: list[tuple[str, int, float]]
    # repeats[i] >= 0: records[i] is, but for its timestamp, record repeats[i]
    # of the Output before (the same task), so a sink may reuse what it made
    # of that one (record.Records).  -1, or empty: new.
    repeats: Sequence[int] = ()


class Sink(Protocol):
    def write(self, out: Output) -> int:
        """Put one sample in whole; return how many rows or events."""

    def close(self) -> None: ...
