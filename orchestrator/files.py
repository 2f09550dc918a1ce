"""Writing result files whole: a reader sees the old file or the new one,
never half of either."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_atomically(path: Path, data: str | bytes) -> None:
    """Replace `path` whole through a temporary file beside it."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        tmp.replace(path)
    except OSError as err:
        raise LotteryError(f"cannot write {path} ({err.strerror})",
                           "choose a writable output path", code=EXIT_USAGE) from None
