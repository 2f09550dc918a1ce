"""Reading input files within bounds, and writing result files whole: a
reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

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


def open_input(path: Path, what: str, limit: int, fix: str, big_fix: str) -> TextIO:
    """Open a file lottery reads whole (a recording, a ticket mapping) as
    UTF-8 text: a regular file of at most `limit` bytes.  Opened without
    blocking, so that a FIFO cannot hang the command; refused with `fix`
    when it is something else (a device never ends), with `big_fix` when it
    is too big.  OSError when it cannot be opened at all."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = f"{what} {path} is not a regular file"
    elif info.st_size > limit:
        size = f"{limit >> 20} MiB" if limit >> 20 else f"{limit >> 10} KiB"
        problem, fix = f"{what} {path} is larger than {size}", big_fix
    if problem:
        os.close(fd)
        raise LotteryError(problem, fix, code=EXIT_USAGE)
    os.set_blocking(fd, True)
    # utf-8-sig: a byte-order mark some editors write is not part of the text
    return open(fd, encoding="utf-8-sig", newline="")  # noqa: SIM115 (the caller closes it)
