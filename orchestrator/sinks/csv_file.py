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
_DIGITS = tuple(f.digits for f in record.FIELDS)


def _cells(values: record.Record) -> list[object]:
    """Blank for unknown; floats with their field's decimals."""
    return ["" if v is None else f"{v:.{d}f}" if d is not None else v
            for v, d in zip(values, _DIGITS, strict=True)]


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
