"""Readers that are not root: `sudo lottery reader`, a root helper that owns
a reader slot for one of them and hands over what each walk wrote.

The sudoers rules `lottery doctor --sudoers USER` prints allow this one
command and its exact arguments, so a user holding them can walk only a slot
of their own: never read, consume or overwrite another reader's rows.  The
helper takes its slot among the READER_SLOTS_SUDO that sudo readers share
(the others are kept for root), and at most PER_USER helpers of one user
(sudo's SUDO_UID) hold slots at once: users holding the read rules cannot
take every slot.  A helper that finds no slot waits for one (a reader is
slowed, never stopped).

The protocol, over the helper's stdin and stdout: the reader writes `full`
or `next`, a space, the number of texts it reads (a helper of another
version, installed before the reader's checkout changed, then refuses
instead of leaving both waiting) and a newline; the helper answers with
each text of one walk (snapshot.Raw: walk, stat, snapshots, groups,
cpu_waits, rows), each as its length in bytes and a newline, then the
bytes; or `!`, the length and a JSON {"problem", "fix"} when it failed.
End of input ends the helper."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import IO, BinaryIO

from plumbum import local

from orchestrator.constants import READER_SLOTS, READER_SLOTS_SUDO
from orchestrator.errors import LotteryError
from orchestrator.kernel import snapshot, tools
from orchestrator.paths import Pins

# The lottery `make setup` installs for every user, root-owned: the one
# program the sudoers rules name (a user's own copy would run as root).
INSTALLED = Path("/usr/local/bin/lottery")
PER_USER = 2
LOCK_DIR = Path("/run/lottery-readers")
FIELDS = ("walk", "stat", "snapshots", "groups", "cpu_waits", "rows")
_MAX_REQUEST = 16


def argv(pins: Pins) -> list[str]:
    """The command a reader runs through sudo, as the sudoers rule names it."""
    return [str(INSTALLED), "reader", "--pin-dir", str(pins.dir)]


def _installed() -> str:
    """INSTALLED, when it is root's: owned by root and writable by no one else
    at every step of its path (the link and what it leads to)."""
    try:
        real = INSTALLED.resolve(strict=True)
        for path in (INSTALLED, *INSTALLED.parents, real, *real.parents):
            info = os.lstat(path)
            if info.st_uid != 0 or (info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
                                    and not stat.S_ISLNK(info.st_mode)):
                raise LotteryError(f"{path} is not root's own", "run make setup as root")
    except FileNotFoundError:
        raise LotteryError(f"reading as a user who is not root needs {INSTALLED}",
                           "run make setup (it installs lottery for every user)") from None
    return str(INSTALLED)


def _user_lock(uid: int) -> IO:
    """One of the PER_USER places of user `uid`, held while the helper runs;
    with both held, wait (blocked, not polling) for one of them."""
    LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    places = []
    for place in range(PER_USER):
        fd = os.open(LOCK_DIR / f"{uid}.{place}", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        places.append(os.fdopen(fd, "rb"))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        for other in places[:-1]:
            other.close()
        return places[-1]
    for other in places[1:]:
        other.close()
    fcntl.flock(places[0].fileno(), fcntl.LOCK_EX)
    return places[0]


def request(full: bool) -> bytes:
    """What a reader writes to ask its helper for a walk."""
    return b"%s %d\n" % (b"full" if full else b"next", len(FIELDS))


def _send(out: BinaryIO, data: bytes, mark: bytes = b"") -> None:
    out.write(mark + str(len(data)).encode() + b"\n")
    out.write(data)


def _texts(raw: snapshot.Raw) -> list[str]:
    return [raw.walk, raw.stat, raw.snapshots, raw.groups, raw.cpu_waits, "".join(raw.rows)]


def serve(pins: Pins, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """The helper: one slot, one walk per request, until stdin ends."""
    if not tools.is_root():
        raise LotteryError("lottery reader is run by lottery itself, through sudo",
                           "run lottery dump (or top, serve) instead")
    snapshot.require_loaded(pins)
    uid = int(os.environ.get("SUDO_UID", "0") or 0)
    held = _user_lock(uid) if uid else None
    slot = snapshot.Slot(pins, range(READER_SLOTS - READER_SLOTS_SUDO, READER_SLOTS))
    try:
        while request := stdin.readline(_MAX_REQUEST).strip():
            kind, _, count = request.partition(b" ")
            if kind not in (b"full", b"next") or count != str(len(FIELDS)).encode():
                raise LotteryError(f"lottery reader was asked {request[:16]!r}: is "
                                   f"{INSTALLED} another version than the reader's?",
                                   "run make setup in the reader's lottery checkout")
            try:
                texts = slot.again(lambda full: _texts(slot.walk(full)), kind == b"full")
            except LotteryError as err:
                _send(stdout, json.dumps({"problem": err.problem, "fix": err.fix}).encode(),
                      b"!")
                stdout.flush()
                continue
            for text in texts:
                _send(stdout, text.encode())
            stdout.flush()
    finally:
        slot.close()
        if held is not None:
            held.close()
    return 0


class Client:
    """A reader's helper, started at its first sample, ended with it."""

    def __init__(self, pins: Pins) -> None:
        command = tools.elevated(argv(pins), "reading the instance")
        command[command.index(str(INSTALLED))] = _installed()
        try:
            self._proc = local[command[0]][command[1:]].popen(
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as err:
            raise LotteryError(f"starting {command[0]} failed: {err.strerror}") from None

    def read(self, full: bool) -> snapshot.Raw:
        proc = self._proc
        try:
            proc.stdin.write(request(full))
            proc.stdin.flush()
            texts = [self._field() for _ in FIELDS]
        except (OSError, ValueError, EOFError):
            raise self._ended() from None
        return snapshot.Raw(*texts[:5], [texts[5]])

    def _field(self) -> str:
        head = self._proc.stdout.readline()
        if not head:
            raise EOFError
        if head.startswith(b"!"):
            doc = json.loads(self._proc.stdout.read(int(head[1:])))
            raise LotteryError(doc.get("problem", "reading the instance failed"),
                               doc.get("fix", ""))
        data = self._proc.stdout.read(int(head))
        return data.decode("utf-8", errors="replace")

    def _ended(self) -> LotteryError:
        self.close()
        err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        return tools.failure("reading the instance through sudo", err, self._proc.returncode)

    def close(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(pins: Pins) -> int:
    return serve(pins, sys.stdin.buffer, sys.stdout.buffer)
