"""CSV sink: one row per record (record.FIELDS): each task of each sample,
plus one idle row per CPU."""

from __future__ import annotations

import csv
import io
from itertools import chain, groupby
from operator import itemgetter
from pathlib import Path

from orchestrator.sinks import Output, record
from orchestrator.sinks.append import AppendFile

COLUMNS = record.NAMES
HEADER = ",".join(COLUMNS)
# Positions in a record less its timestamp (record.SampleRecords.rest).
_FLOATS = tuple((i - 1, f"{{:.{f.digits}f}}") for i, f in enumerate(record.FIELDS)
                if i and f.digits is not None)

_STAMP = f"{{:.{record.FIELDS[0].digits}f}}"  # the first field, timestamp_s
_TIMESTAMP = itemgetter(0)


def _cells(values: tuple) -> list[object]:
    """Blank for unknown; floats with their field's decimals."""
    cells = ["" if v is None else v for v in values]
    for i, form in _FLOATS:
        if values[i] is not None:
            cells[i] = form.format(values[i])
    return cells


def _lines(rest: list[tuple]) -> list[bytes]:
    """The CSV lines of records less their timestamps (no newline)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(map(_cells, rest))
    # one line per record: names carry no newline (names.escape)
    return [line.encode("utf-8") for line in buf.getvalue().split("\n")[:-1]]


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
        self._last: list[bytes] = []

    def write(self, out: Output) -> int:
        """Append one sample's records whole; return how many."""
        records = out.records
        if isinstance(records, record.SampleRecords):
            runs = [(records.timestamp_s, records.rest)]
        else:  # records as any sequence: a run of lines per timestamp
            runs = [(ts, [values[1:] for values in run])
                    for ts, run in groupby(records, key=_TIMESTAMP)]
        rest = list(chain.from_iterable(part for _, part in runs))
        last, repeats = self._last, out.repeats
        if repeats and len(last) > max(repeats):
            texts = [last[i] if i >= 0 else None for i in repeats]
            new = [i for i, text in enumerate(texts) if text is None]
        else:
            texts, new = [None] * len(rest), range(len(rest))
        for i, text in zip(new, _lines([rest[i] for i in new]), strict=True):
            texts[i] = text
        parts, at = [], 0
        for ts, part in runs:
            if part:
                # one join per run: stamp,line, then newline and stamp before each next
                stamp = (_STAMP.format(ts) + ",").encode("ascii")
                lines = texts[at:at + len(part)]
                lines[0] = stamp + lines[0]
                lines[-1] += b"\n"
                parts.append((b"\n" + stamp).join(lines))
                at += len(part)
        self._file.put(b"".join(parts))  # one part: the same bytes, not a copy
        self._last = texts
        return len(rest)

    def close(self) -> None:
        self._file.close()
