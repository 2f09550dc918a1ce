"""Writing result files whole: a reader sees the old file or the new one,
never half of either."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
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
    """Replace `path` whole through a temporary file beside it.  The temporary
    name is random and created exclusively, so a link planted under a name
    guessed in a shared directory is never written through; the rename
    replaces a link at `path` itself, not what it points to."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise LotteryError(f"cannot write {path} ({err.strerror})",
                           "choose a writable output path", code=EXIT_USAGE) from None
