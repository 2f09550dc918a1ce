"""Files the sinks write samples into, whole: each sample in one write while
Ctrl-C, SIGTERM and SIGHUP are held back, so no signal can leave half a
sample in the file.

The path is treated as a hostile user in a shared directory could have
prepared it: only a regular file (or `-`, standard output, where a sink can
take it); in a directory others may write, no symbolic link is followed and
a new file is created exclusively; before each sample the path must still
name the file opened.  A write that fails (a full disk, an I/O error) is cut
back to the last whole sample and reported."""

from __future__ import annotations

import errno
import os
import signal
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.signals import STOPPING

STDOUT = "-"
# The first line tells the schema; no file of ours has a longer one.
_FIRST_LINE_MAX = 1 << 16


def _usage(problem: str, fix: str) -> LotteryError:
    return LotteryError(problem, fix, code=EXIT_USAGE)


def _shared(directory: Path) -> bool:
    """May anyone but its owner add or replace names in `directory`?"""
    try:
        info = os.stat(directory)
    except OSError:
        return False
    return bool(info.st_mode & 0o022) or info.st_uid != os.geteuid()


class OutputFile:
    """A file a sink puts whole samples into: at its end, or (a trace) over
    its closing bytes."""

    def __init__(self, path: Path, kind: str, option: str, stdout: bool = True,
                 append: bool = False):
        self.path, self._kind, self._option = path, kind, option
        # O_APPEND: two writers of one file interleave whole samples
        self._append = os.O_APPEND if append else 0
        if str(path) == STDOUT:
            if not stdout:
                raise _usage(f"{kind} cannot go to standard output (it is rewritten in place)",
                             f"pass a file path to {option}")
            self._fd, self._identity = os.dup(sys.stdout.fileno()), None
            return
        self._fd = self._open(path)
        info = os.fstat(self._fd)
        if not stat.S_ISREG(info.st_mode):
            self.close()
            raise _usage(f"{kind} path {path} is not a regular file",
                         f"pass a file path to {option}"
                         + (", or - for standard output" if stdout else ""))
        self._identity = (info.st_dev, info.st_ino)

    def _open(self, path: Path) -> int:
        if os.path.isdir(path):  # False too when it cannot be looked at: open says why
            raise _usage(f"{self._kind} path {path} is a directory",
                         f"pass a file to {self._option}")
        flags = os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK | self._append  # NONBLOCK: a FIFO
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if _shared(path.parent):
                flags |= os.O_NOFOLLOW
                try:
                    return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    fd = os.open(path, flags)
            else:
                return os.open(path, flags | os.O_CREAT, 0o644)
        except OSError as err:
            why = "it is a symbolic link in a directory others may write" \
                if err.errno == errno.ELOOP else err.strerror
            raise _usage(f"cannot write {self._kind} {path} ({why})",
                         f"choose a writable {self._option} path") from None
        if os.fstat(fd).st_uid != os.geteuid():
            os.close(fd)
            raise _usage(f"{path} belongs to another user, in a directory others may write",
                         f"pass a {self._option} path in a directory of yours")
        return fd

    @property
    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def read(self, count: int, offset: int) -> bytes:
        return os.pread(self._fd, count, offset)

    def first_line(self) -> str:
        head = self.read(min(self.size, _FIRST_LINE_MAX), 0) if self._identity else b""
        return head.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")

    def _check_same_file(self) -> None:
        """The path must still name the file opened: a file deleted or
        replaced mid-run would take samples nobody will see."""
        if self._identity is None:
            return
        try:
            info = os.lstat(self.path)
            same = (info.st_dev, info.st_ino) == self._identity
        except OSError:
            same = False
        if not same:
            raise LotteryError(f"{self.path} was removed or replaced while dump wrote it",
                               f"the samples before are in the file that was there; pass "
                               f"{self._option} again to go on")

    def put(self, data: bytes, back: int = 0, truncate: bool = False) -> None:
        """Write `data` whole, `back` bytes before the end (after cutting the
        file to nothing if `truncate`); on failure the file is as it was."""
        held = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOPPING))
        try:
            self._check_same_file()
            seekable = self._identity is not None
            end = self.size if seekable else 0
            kept = self.read(back, end - back) if back else b""
            start = 0 if truncate else end - back
            try:
                if seekable:
                    os.ftruncate(self._fd, start)
                    os.lseek(self._fd, start, os.SEEK_SET)
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError as err:
                if seekable and not truncate:
                    self._restore(start, kept)
                raise LotteryError(f"writing {self.path} failed ({err.strerror}); it holds "
                                   "every sample before this one",
                                   "free space or pick another file, then run dump again") \
                    from None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def _restore(self, start: int, kept: bytes) -> None:
        try:
            os.ftruncate(self._fd, start)  # the file ends with a whole sample again
            os.pwrite(self._fd, kept, start)
        except OSError:
            pass

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class AppendFile(OutputFile):
    """A file samples are appended to: one schema per file.

    `same_schema` judges an existing file by its first line; `header`, if
    any, starts a new file."""

    def __init__(self, path: Path, kind: str, option: str,
                 same_schema: Callable[[str], bool], header: str | None = None):
        super().__init__(path, kind, option, append=True)
        try:
            first = self.first_line()
            if first and not same_schema(first):
                raise _usage(f"{path} already holds {kind} with other fields",
                             f"pass a new {option} file (one schema per file)")
            if first and self.read(1, self.size - 1) != b"\n":
                raise _usage(f"{path} ends with a half-written row",
                             "repair or move the file, then run dump again")
            if not first and header is not None:
                self.put((header + "\n").encode("utf-8"), truncate=True)
        except BaseException:
            self.close()
            raise

    def append(self, text: str) -> None:
        """Append one sample's text whole."""
        self.put(text.encode("utf-8"))
