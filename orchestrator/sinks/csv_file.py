"""CSV sink: one line per record (records.FIELDS): each task of each frame,
plus one idle line per CPU."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from orchestrator.analysis.frames import Frame
from orchestrator.records import NAMES, TASK_FIELDS, TIMESTAMP, TaskRecord
from orchestrator.sinks.append import AppendFile

HEADER = ",".join(NAMES)
_FLOATS = tuple((i, f"{{:.{f.digits}f}}") for i, f in enumerate(TASK_FIELDS)
                if f.digits is not None)
_STAMP = f"{{:.{TIMESTAMP.digits}f}}"


def _cells(record: TaskRecord) -> list[object]:
    """Blank for unknown; floats with their field's decimals."""
    cells = ["" if v is None else v for v in record]
    for i, form in _FLOATS:
        if record[i] is not None:
            cells[i] = form.format(record[i])
    return cells


def _lines(records: list[TaskRecord]) -> list[bytes]:
    """The CSV lines of records, less the timestamp (no newline)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(map(_cells, records))
    # one line per record: names carry no newline (names.escape)
    return [line.encode("utf-8") for line in buf.getvalue().split("\n")[:-1]]


class CsvSink:
    """Appends frames to a CSV file owned by whoever runs dump."""

    def __init__(self, path: Path):
        self.path = path
        self._file = AppendFile(path, "CSV", "--output", lambda first: first == HEADER, HEADER)
        # The last frame's line of each task: most tasks of a host sleep, and
        # a record the frame says stood there before has the same line again.
        self._last: list[bytes] = []
        self._seq = 0

    def write(self, frame: Frame) -> int:
        """Append one frame's records whole; return how many."""
        records = frame.tasks + frame.idle
        if frame.seq and frame.seq == self._seq + 1 and frame.previous:
            # -1, a new record, picks the None at the end
            texts: list[bytes | None] = list(map((self._last + [None]).__getitem__,
                                                 frame.previous))
            texts += [None] * len(frame.idle)
        else:
            texts = [None] * len(records)
        new = [i for i, text in enumerate(texts) if text is None]
        for i, text in zip(new, _lines([records[i] for i in new]), strict=True):
            texts[i] = text
        if records:
            # one join: stamp,line, then newline and stamp before each next
            stamp = (_STAMP.format(frame.timestamp_s) + ",").encode("ascii")
            lines = list(texts)
            lines[0] = stamp + lines[0]
            lines[-1] += b"\n"
            self._file.put((b"\n" + stamp).join(lines))
        self._last, self._seq = texts[:len(frame.tasks)], frame.seq
        return len(records)

    def close(self) -> None:
        self._file.close()
