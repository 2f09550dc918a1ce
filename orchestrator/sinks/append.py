"""Files that samples are appended to, whole: one schema per file, and each
sample in one write() while SIGINT is held back, so a Ctrl-C can never leave
half a sample in the file."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Callable
from pathlib import Path

from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError


class AppendFile:
    """A file opened for appending whole samples.

    `same_schema` judges an existing file by its first line; `header`, if
    any, starts a new file."""

    def __init__(self, path: Path, kind: str, option: str,
                 same_schema: Callable[[str], bool], header: str | None = None):
        self.path = path
        if path.is_dir():
            raise LotteryError(f"{kind} path {path} is a directory", f"pass a file to {option}",
                               code=EXIT_USAGE)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as err:
            raise LotteryError(f"cannot write {kind} {path} ({err.strerror})",
                               f"choose a writable {option} path", code=EXIT_USAGE) from None
        handle.seek(0)
        first = handle.readline().rstrip("\r\n")
        problem = None
        if first and not same_schema(first):
            problem = (f"{path} already holds {kind} with other fields",
                       f"pass a new {option} file (one schema per file)")
        elif first:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 1))
            if handle.read(1) != "\n":
                problem = (f"{path} ends with a half-written row",
                           "repair or move the file, then run dump again")
        if problem:
            handle.close()
            raise LotteryError(*problem, code=EXIT_USAGE)
        handle.seek(0, os.SEEK_END)
        if not first and header is not None:
            handle.truncate(0)
            handle.write(header + "\n")
            handle.flush()
        self._file: io.TextIOWrapper = handle

    def append(self, text: str) -> None:
        """Append one sample's text with a single write."""
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._file.write(text)
            self._file.flush()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def close(self) -> None:
        self._file.close()
