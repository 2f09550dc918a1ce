"""Files the sinks write samples into, whole: each sample in one write while
Ctrl-C, SIGTERM and SIGHUP are held back, so no signal can leave half a
sample in the file.

The path is treated as a hostile user in a shared directory could have
prepared it: only a regular file (or `-`, standard output, where a sink can
take it); in a directory others may write, no symbolic link is followed and
a new file is created exclusively; before each sample the path must still
name the file opened.  A write that fails (a full disk, an I/O error) is cut
back to the last whole sample and reported.

Other lottery processes may append to the same file (two dumps, one -o):
each holds the file's lock (flock) across a sample's write and the cut-back
of a failed one, so their samples never mix and a cut never takes another's
bytes; a file appended to is never cut when the write succeeds."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.files import STDOUT
from orchestrator.signals import STOPPING

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
        # O_APPEND: each write lands after whatever another writer appended
        self._append = os.O_APPEND if append else 0
        if str(path) == STDOUT:
            if not stdout:
                raise _usage(f"{kind} cannot go to standard output (it is rewritten in place)",
                             f"pass a file path to {option}")
            self._fd, self._identity = os.dup(sys.stdout.fileno()), None
            # a regular file (a shell's >>) may have other lottery writers
            self._lockable = stat.S_ISREG(os.fstat(self._fd).st_mode)
            return
        self._fd = self._open(path)
        info = os.fstat(self._fd)
        if not stat.S_ISREG(info.st_mode):
            self.close()
            raise _usage(f"{kind} path {path} is not a regular file",
                         f"pass a file path to {option}"
                         + (", or - for standard output" if stdout else ""))
        self._identity = (info.st_dev, info.st_ino)
        self._lockable = True

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

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file's lock: every lottery writer of a file holds it
        while it writes a sample and while it cuts a failed one back, so no
        other lottery writer's bytes come between (then the cut would take
        them) or in the middle of a sample.  The wait for it is not held
        against Ctrl-C."""
        if not self._lockable:
            yield
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError as err:
            raise LotteryError(f"cannot lock {self.path} ({err.strerror})",
                               f"pass a {self._option} path on a local file system") from None
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def put(self, data: bytes, back: int = 0, truncate: bool = False) -> None:
        """Write `data` whole (an O_APPEND file: at its end; otherwise `back`
        bytes before the end, or over the whole file if `truncate`); on
        failure the file is as it was."""
        with self.locked():
            self._put(data, back, truncate)

    def _put(self, data: bytes, back: int = 0, truncate: bool = False) -> None:
        """put, with the lock held."""
        held = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOPPING))
        try:
            self._check_same_file()
            if self._identity is None:
                self._write_stream(data)
            elif self._append:
                self._write_appended(data)
            else:
                self._write_over_end(data, back, truncate)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def _failed(self, err: OSError, whole: bool = True) -> LotteryError:
        kept = "it holds every sample before this one" if whole else \
            "its end may hold part of this sample: another program wrote after it"
        return LotteryError(f"writing {self.path} failed ({err.strerror}); {kept}",
                            "free space or pick another file, then run dump again")

    def _write_stream(self, data: bytes) -> None:
        """Standard output: what was written of a failed sample stays."""
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as err:
            raise self._failed(err) from None

    def _write_appended(self, data: bytes) -> None:
        """At the end, never cutting the file on the way: another writer may
        have appended since the size was last seen (O_APPEND puts each write
        after it).  A failed sample is cut back while the lock still keeps
        other lottery writers out."""
        end = self.size
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, memoryview(data)[written:])
        except OSError as err:
            raise self._failed(err, self._cut_back(end, written)) from None

    def _cut_back(self, end: int, written: int) -> bool:
        """Cut the part of a failed sample off `end` + `written` bytes; only
        when nothing else came after it (a program that takes no lock).
        True if the file ends with a whole sample."""
        try:
            if self.size == end + written:
                os.ftruncate(self._fd, end)  # shrinking: no size limit stands in the way
                return True
        except OSError:
            pass
        return written == 0

    def _write_over_end(self, data: bytes, back: int, truncate: bool) -> None:
        """Write over the last `back` bytes (a trace's closing bracket), or
        the whole file: positioned writes, so the file is cut only if the
        new end is shorter than the old."""
        end = self.size
        start = 0 if truncate else end - back
        kept = self.read(back, start) if back and not truncate else b""
        done = 0
        try:
            if truncate:
                os.ftruncate(self._fd, 0)  # a failed start leaves no part of the old file
            while done < len(data):
                done += os.pwrite(self._fd, memoryview(data)[done:], start + done)
            if start + done < end:
                os.ftruncate(self._fd, start + done)
        except OSError as err:
            if not truncate:
                self._restore(start, kept)
            raise self._failed(err) from None

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
            # another writer may be starting the same file: one header
            with self.locked():
                self._start(same_schema, header)
        except BaseException:
            self.close()
            raise

    def _start(self, same_schema: Callable[[str], bool], header: str | None) -> None:
        first = self.first_line()
        if first and not same_schema(first):
            raise _usage(f"{self.path} already holds {self._kind} with other fields",
                         f"pass a new {self._option} file (one schema per file)")
        if first and self.read(1, self.size - 1) != b"\n":
            raise _usage(f"{self.path} ends with a half-written row",
                         "repair or move the file, then run dump again")
        if not first and self._identity is not None and self.size:
            raise _usage(f"{self.path} does not start with a line of {self._kind}",
                         f"pass a new {self._option} file (one schema per file)")
        if not first and header is not None:
            self._put((header + "\n").encode("utf-8"))

    def append(self, text: str) -> None:
        """Append one sample's text whole."""
        self.put(text.encode("utf-8"))
