"""NDJSON sink: one JSON object per record (record.FIELDS), one per line,
the CSV's fields under the same names with the same values (null where the
CSV is blank)."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.sinks import Output, record
from orchestrator.sinks.append import AppendFile


def _same_fields(first_line: str) -> bool:
    try:
        return tuple(json.loads(first_line)) == record.NAMES
    except (ValueError, TypeError):
        return False


class NdjsonSink:
    """Appends samples to an NDJSON file owned by whoever runs dump."""

    def __init__(self, path: Path):
        self.path = path
        self._file = AppendFile(path, "NDJSON", "--json-output", _same_fields)

    def write(self, out: Output) -> int:
        """Append one sample's records whole; return how many."""
        self._file.append("".join(
            json.dumps(dict(zip(record.NAMES, r, strict=True)), ensure_ascii=False,
                       separators=(",", ":")) + "\n" for r in out.records))
        return len(out.records)

    def close(self) -> None:
        self._file.close()
