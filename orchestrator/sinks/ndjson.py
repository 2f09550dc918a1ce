"""NDJSON sink: one JSON object per record (records.FIELDS), one per line,
the CSV's fields under the same names with the same values (null where the
CSV is blank)."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.analysis.frames import Frame
from orchestrator.records import NAMES
from orchestrator.sinks.append import AppendFile


def _same_fields(first_line: str) -> bool:
    try:
        return tuple(json.loads(first_line)) == NAMES
    except (ValueError, TypeError):
        return False


class NdjsonSink:
    """Appends frames to an NDJSON file owned by whoever runs dump."""

    def __init__(self, path: Path):
        self.path = path
        self._file = AppendFile(path, "NDJSON", "--json-output", _same_fields)

    def write(self, frame: Frame) -> int:
        """Append one frame's records whole; return how many."""
        ts = frame.timestamp_s
        records = [*frame.tasks, *frame.idle]
        self._file.append("".join(
            json.dumps(dict(zip(NAMES, (ts, *r), strict=True)), ensure_ascii=False,
                       separators=(",", ":")) + "\n" for r in records))
        return len(records)

    def close(self) -> None:
        self._file.close()
