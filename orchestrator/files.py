"""Reading input files within bounds, and writing result files whole: a
reader sees the old file or the new one, never half of either.  No command
writes a file it reads, nor one file twice over (distinct)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


STDOUT = "-"


@dataclass(frozen=True)
class Named:
    """A file as a command line names it: by the option or argument that
    gives it (`what`, as the message shows it) and its path, None when not
    given.  `dash` when a path of - means standard output there."""

    what: str
    path: Path | None
    dash: bool = False


@dataclass(frozen=True)
class _Place:
    named: Named
    real: str  # the path with every symbolic link resolved, a dangling one too
    inode: tuple[int, int] | None  # (device, inode) of an existing file

    def same(self, other: _Place) -> bool:
        if self.inode is not None and other.inode is not None:
            return self.inode == other.inode  # a hard link, a link, another path
        return self.real == other.real

    def shown(self) -> str:
        where = " (standard output)" if self.real == STDOUT else ""
        return f"{self.named.what} {self.named.path}{where}"


def _inode(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _stdout_inode() -> tuple[int, int] | None:
    """Standard output's file, if it is a regular one (a shell's > or >>)."""
    try:
        info = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # closed or replaced
        return None
    return _inode(info) if stat.S_ISREG(info.st_mode) else None


def _place(named: Named, path: Path) -> _Place:
    if named.dash and str(path) == STDOUT:
        return _Place(named, STDOUT, _stdout_inode())
    try:
        inode = _inode(os.stat(path))
    except OSError:
        inode = None
    return _Place(named, os.path.realpath(path), inode)


def _places(named: Sequence[Named]) -> list[_Place]:
    return [_place(n, n.path) for n in named if n.path is not None]


def distinct(inputs: Sequence[Named], outputs: Sequence[Named]) -> None:
    """Refuse (exit 2) a command line whose outputs include a file it reads,
    or name one file twice, before anything is read or written: an output
    replaced or appended to would destroy the input, and two writers of one
    file cut each other's bytes.  The same file is the same path, or the
    same inode (a hard link, a symbolic link on either side, another path
    to it); an output that does not exist yet is no input.  Standard output
    counts as an output when it is a regular file (a shell's > or >>).  An
    output that is a device, FIFO or socket is refused here too."""
    read = [p for p in _places(inputs) if p.inode is not None]
    written = _places(outputs)
    for out in written:
        if out.real != STDOUT:
            _refuse_special(out.named.path, out.named)
    for out in written:
        for source in read:
            if out.same(source):
                raise LotteryError(f"{out.shown()} is the same file as {source.shown()}",
                                   f"pass another path to {out.named.what}: writing it "
                                   "would destroy what is read", code=EXIT_USAGE)
    for i, out in enumerate(written):
        for other in written[i + 1:]:
            if out.same(other):
                raise LotteryError(f"{out.shown()} and {other.shown()} name the same file",
                                   f"pass a different file to each of {out.named.what} and "
                                   f"{other.named.what}", code=EXIT_USAGE)
    screen = _stdout_inode()
    if screen is None:
        return
    for role, places in (("reads", read), ("writes", [p for p in written if p.real != STDOUT])):
        for place in places:
            if place.inode == screen:
                raise LotteryError(f"standard output is a file this command {role} "
                                   f"({place.shown()})", "redirect it to another file",
                                   code=EXIT_USAGE)


def _refuse_special(path: Path, named: Named | None = None) -> None:
    """An output that is a device, FIFO, socket or directory: a rename would
    replace a device (/dev/null, as root) with a regular file; an append to
    one would never end."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return  # nothing there yet, or the write says why it cannot
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        what = named.what if named else "the output"
        dash = ", or - for standard output" if named and named.dash else ""
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise LotteryError(f"{what} {path} is {kind}",
                           f"pass a file path to {what}{dash}", code=EXIT_USAGE)


def write_atomically(path: Path, data: str | bytes) -> None:
    """Replace `path` whole through a temporary file beside it.  The temporary
    name is random and created exclusively, so a link planted under a name
    guessed in a shared directory is never written through; the rename
    replaces a link at `path` itself, not what it points to."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    _refuse_special(path)
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
