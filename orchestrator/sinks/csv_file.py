"""CSV sink: one line per record (records.FIELDS): each task of each frame,
plus one idle line per CPU."""

from __future__ import annotations

import csv
import io
from operator import attrgetter
from pathlib import Path

from orchestrator.analysis.frames import Frame
from orchestrator.records import NAMES, TASK_FIELDS, TIMESTAMP, Key, TaskRecord
from orchestrator.sinks.append import AppendFile

HEADER = ",".join(NAMES)
_FLOATS = tuple((i, f"{{:.{f.digits}f}}") for i, f in enumerate(TASK_FIELDS)
                if f.digits is not None)
_STAMP = f"{{:.{TIMESTAMP.digits}f}}"
_KEY = attrgetter("key")


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
        # The last frame's line of each live task: most tasks of a host
        # sleep, and a record the frame does not say changed has the same
        # line again.
        self._last: dict[Key, bytes] = {}
        self._seq = 0

    def write(self, frame: Frame) -> int:
        """Append one frame's records whole; return how many."""
        change, lines = frame.change, self._last
        if change is not None and not change.follows(self._seq):
            change = None  # not the frame after the one it wrote last: all anew
        if change is not None:
            for key in change.left:
                lines.pop(key, None)
            lines.update(zip(change.changed, _lines(list(change.changed.values())), strict=True))
            if len(lines) != frame.live:  # not the lines of the frame before: all anew
                change = None
        if change is None:
            texts = _lines([*frame.tasks, *frame.idle])
            lines = dict(zip(map(_KEY, frame.tasks[:frame.live]), texts, strict=False))
        else:
            texts = [*lines.values(), *_lines([*frame.tasks[frame.live:], *frame.idle])]
        if texts:
            # one join: stamp,line, then newline and stamp before each next
            stamp = (_STAMP.format(frame.timestamp_s) + ",").encode("ascii")
            texts[0] = stamp + texts[0]
            texts[-1] += b"\n"
            self._file.put((b"\n" + stamp).join(texts))
        self._last, self._seq = lines, frame.seq
        return len(frame.tasks) + len(frame.idle)

    def close(self) -> None:
        self._file.close()
