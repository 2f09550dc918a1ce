"""Files that samples are appended to, whole: one schema per file, and each
sample in one write while Ctrl-C, SIGTERM and SIGHUP are held back, so no
signal can leave half a sample in the file.

The path is treated as a hostile user in a shared directory could have
prepared it: only a regular file (or `-`, standard output); in a directory
others may write, no symbolic link is followed and a new file is created
exclusively; before each sample the path must still name the file opened.
A write that fails (a full disk, an I/O error) is cut back to the last whole
sample and reported."""

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


def _shared(directory: Path) -> bool:
    """May anyone but its owner add or replace names in `directory`?"""
    try:
        info = os.stat(directory)
    except OSError:
        return False
    return bool(info.st_mode & 0o022) or info.st_uid != os.geteuid()


class AppendFile:
    """A file opened for appending whole samples.

    `same_schema` judges an existing file by its first line; `header`, if
    any, starts a new file."""

    def __init__(self, path: Path, kind: str, option: str,
                 same_schema: Callable[[str], bool], header: str | None = None):
        self.path, self._kind, self._option = path, kind, option
        if str(path) == STDOUT:
            self._fd = os.dup(sys.stdout.fileno())
            self._identity = None
            if header is not None:
                self._write_whole(header + "\n")
            return
        self._fd = self._open(path)
        try:
            info = os.fstat(self._fd)
            if not stat.S_ISREG(info.st_mode):
                raise self._usage(f"{kind} path {path} is not a regular file",
                                  f"pass a file path to {option}, or - for standard output")
            self._identity = (info.st_dev, info.st_ino)
            first = self._first_line(info.st_size)
            if first and not same_schema(first):
                raise self._usage(f"{path} already holds {kind} with other fields",
                                  f"pass a new {option} file (one schema per file)")
            if first and os.pread(self._fd, 1, info.st_size - 1) != b"\n":
                raise self._usage(f"{path} ends with a half-written row",
                                  "repair or move the file, then run dump again")
            if not first and header is not None:
                os.ftruncate(self._fd, 0)
                self._write_whole(header + "\n")
        except BaseException:
            os.close(self._fd)
            raise

    def _usage(self, problem: str, fix: str) -> LotteryError:
        return LotteryError(problem, fix, code=EXIT_USAGE)

    def _open(self, path: Path) -> int:
        if os.path.isdir(path):  # False too when it cannot be looked at: open says why
            raise self._usage(f"{self._kind} path {path} is a directory",
                              f"pass a file to {self._option}")
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO: no hang
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
            raise self._usage(f"cannot write {self._kind} {path} ({why})",
                              f"choose a writable {self._option} path") from None
        if os.fstat(fd).st_uid != os.geteuid():
            os.close(fd)
            raise self._usage(f"{path} belongs to another user, in a directory others may write",
                              f"pass a {self._option} path in a directory of yours")
        return fd

    def _first_line(self, size: int) -> str:
        head = os.pread(self._fd, min(size, _FIRST_LINE_MAX), 0)
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

    def _write_whole(self, text: str) -> None:
        data = text.encode("utf-8")
        start = os.lseek(self._fd, 0, os.SEEK_END) if self._identity else None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as err:
            if start is not None:
                try:
                    os.ftruncate(self._fd, start)  # the file ends with a whole sample again
                except OSError:
                    pass
            raise LotteryError(f"writing {self.path} failed ({err.strerror}); it holds "
                               "every sample before this one",
                               "free space or pick another file, then run dump again") \
                from None

    def append(self, text: str) -> None:
        """Append one sample's text whole."""
        old = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOPPING))
        try:
            self._check_same_file()
            self._write_whole(text)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
