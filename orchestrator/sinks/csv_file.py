"""CSV sink: one row per record (record.FIELDS): each task of each sample,
plus one idle row per CPU."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from orchestrator.sinks import Output, record
from orchestrator.sinks.append import AppendFile

COLUMNS = record.NAMES
HEADER = ",".join(COLUMNS)
_FLOATS = tuple((i, f"{{:.{f.digits}f}}") for i, f in enumerate(record.FIELDS)
                if f.digits is not None)


def _cells(values: record.Record) -> list[object]:
    """Blank for unknown; floats with their field's decimals."""
    cells = ["" if v is None else v for v in values]
    for i, form in _FLOATS:
        if values[i] is not None:
            cells[i] = form.format(values[i])
    return cells


def conservation(path: Path) -> list[float]:
    """Per-sample conservation error of a dump CSV, from the CSV alone."""
    return [error for _, error in record.conservation(record.read(path))]


class CsvSink:
    """Appends samples to a CSV file owned by whoever runs dump."""

    def __init__(self, path: Path):
        self.path = path
        self._file = AppendFile(path, "CSV", "--output", lambda first: first == HEADER, HEADER)

    def write(self, out: Output) -> int:
        """Append one sample's records whole; return how many."""
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(_cells(r) for r in out.records)
        self._file.append(buf.getvalue())
        return len(out.records)

    def close(self) -> None:
        self._file.close()
