"""Output sinks.  Each file format is one module with one class that takes
frames (analysis/frames.py) and can be closed; the table and the live view
draw them."""

from __future__ import annotations

from typing import Protocol

from orchestrator.analysis.frames import Frame


class Sink(Protocol):
    def write(self, frame: Frame) -> int:
        """Put one frame in whole; return how many rows or events."""

    def close(self) -> None: ...
