"""NDJSON sink: one JSON object per record (records.FIELDS), one per line,
the CSV's fields under the same names with the same values (null where the
CSV is blank); after each sample's records, one object per task group that
waited in the interval, with its histogram (records.GROUP_WAITS)."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.analysis.frames import Frame
from orchestrator.records import NAMES, group_waits
from orchestrator.sinks import latency
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
        """Append one frame's records and its groups' waits whole; return
        how many records."""
        ts = frame.timestamp_s
        records = [*frame.tasks, *frame.idle]
        objects = [dict(zip(NAMES, (ts, *r), strict=True)) for r in records]
        groups = latency.by_group(frame)
        objects += [group_waits(ts, group, tuple(counts))
                    for group, counts in sorted(groups.items(), key=lambda g: g[0] or "")]
        self._file.append("".join(json.dumps(o, ensure_ascii=False, separators=(",", ":")) + "\n"
                                  for o in objects))
        return len(records)

    def close(self) -> None:
        self._file.close()
