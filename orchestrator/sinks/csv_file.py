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

_STAMP = f"{{:.{record.FIELDS[0].digits}f}}"  # the first field, timestamp_s


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
        # The last sample's lines, less their timestamps: most tasks of a
        # host sleep, and their records repeat (Output.repeats).
        self._last: list[str] = []

    def write(self, out: Output) -> int:
        """Append one sample's records whole; return how many."""
        last = self._last
        if out.repeats and len(last) > max(out.repeats):
            texts = [last[i] if i >= 0 else None for i in out.repeats]
        else:
            texts = [None] * len(out.records)
        new = [values for values, text in zip(out.records, texts, strict=True) if text is None]
        if new:
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(_cells(values)[1:] for values in new)
            # one line per record: names carry no newline (names.escape)
            made = iter(buf.getvalue().splitlines(keepends=True))
            texts = [next(made) if text is None else text for text in texts]
        stamps: dict[object, str] = {}
        lines = []
        for values, text in zip(out.records, texts, strict=True):
            stamp = stamps.get(values[0])
            if stamp is None:
                stamp = stamps[values[0]] = _STAMP.format(values[0]) + ","
            lines.append(stamp + text)
        self._file.append("".join(lines))
        self._last = texts
        return len(out.records)

    def close(self) -> None:
        self._file.close()
