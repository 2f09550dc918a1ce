"""`sudo lottery serve`: privilege separation in the manner of OpenSSH's.

The root process keeps the collector and does nothing but read the instance
when asked.  A child forked from it drops to an unprivileged user for good
and accepts the connections and parses HTTP.  Root binds the listening
socket before the fork (so a port below 1024 is still possible) and never
reads from it.

The two speak over a SOCK_SEQPACKET socketpair, whose messages arrive whole
or not at all.  The child asks with REQUEST, a fixed message; the parent
compares what it receives with it and drops anything else unread: it never
parses what the child sends.  It answers each request with one reading: the
metric families its registry yields, as JSON (a header with the length, then
the bytes in chunks).  The child turns them back into families, so that
prometheus_client serves them in whatever the client asks for: text or
OpenMetrics by Accept header, ?name[]= filters, gzip.  JSON rather than an
exposition format: the exposition parsers of prometheus_client took 20 ms
for a reading of 100 groups and 2 s for 10,000, json 1 ms and 0.4 s."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import select
import signal
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from orchestrator import signals
from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.exporter import http

DEFAULT_USER = "nobody"
REQUEST = b"lottery: a reading, please"
_LENGTH = struct.Struct("!Q")  # the header of a reply: the bytes that follow
# One SEQPACKET message must fit in the sender's socket buffer (208 KiB by
# default), so a reply of any size goes in chunks well below that.
_CHUNK_BYTES = 32 * 1024

# linux/prctl.h
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38


def unprivileged(name: str) -> pwd.struct_passwd:
    """The account --user names, refused when it is missing or root's."""
    try:
        user = pwd.getpwnam(name)
    except (KeyError, ValueError):  # ValueError: a name with a NUL in it
        raise LotteryError(
            f"--user {name!r} does not exist",
            "pass an existing unprivileged user (--user nobody), or create one: useradd "
            "--system --no-create-home --shell /usr/sbin/nologin NAME", code=EXIT_USAGE) from None
    if user.pw_uid == 0 or user.pw_gid == 0:
        raise LotteryError(
            f"--user {name} is root (uid {user.pw_uid}, gid {user.pw_gid}): HTTP would be "
            "parsed as root", "pass an unprivileged user, e.g. --user nobody", code=EXIT_USAGE)
    return user


def run(listener: socket.socket, registry: CollectorRegistry, user: pwd.struct_passwd,
        described: list[Metric]) -> NoReturn:
    """Fork the HTTP child onto `listener` and answer its requests with
    readings of `registry` until it ends (raises LotteryError) or a stop
    comes (Stopped goes on up); either way the child is ended and reaped."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent = os.getpid()
    sys.stdout.flush()  # or what their buffers hold would be written twice
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        ours.close()
        _child_main(theirs, listener, user, described, parent)
    theirs.close()
    listener.close()  # the child's alone: root accepts nothing
    try:
        answer(ours, lambda: reading(registry))
    finally:
        status = _end(pid)
        ours.close()
    raise LotteryError(f"serve's HTTP process (PID {pid}) ended: {_how(status)}",
                       "run serve again (a service's Restart=on-failure does)")


def answer(channel: socket.socket, read: Callable[[], bytes]) -> None:
    """Answer each REQUEST on `channel` with one reading, until the other
    end hangs up.  A message that is not REQUEST gets no answer."""
    hung_up = _hang_up_poll(channel)
    said = [""]  # the last line printed: once per kind of trouble, not per message
    try:
        while True:
            # Room for one byte more than REQUEST and none for ancillary
            # data: a longer message shows as truncated (its rest is
            # dropped), descriptors sent along are closed by the kernel.
            message, _, flags, _ = channel.recvmsg(len(REQUEST) + 1)
            if not message and hung_up.poll(0):
                return
            if message != REQUEST or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                _once(said, "lottery: ignored a message from serve's HTTP process that is "
                      "not a request")
                continue
            try:
                reply = read()
            except Exception as err:  # a failure the collector did not expect: this
                # scrape fails (503), the exporter goes on, as one in a thread did
                _once(said, f"lottery: a reading failed: {type(err).__name__}: {err}")
                reply = b""
            send(channel, reply)
    except ConnectionError:  # hung up while we answered
        return


def reading(registry: CollectorRegistry) -> bytes:
    """One reading of `registry`, as `families` takes it back: per family its
    name, help, type, unit and samples (name, labels, value, timestamp).
    lottery's collector yields no exemplars or native histograms."""
    return json.dumps([
        [m.name, m.documentation, m.type, m.unit,
         [[s.name, s.labels, s.value, None if s.timestamp is None else float(s.timestamp)]
          for s in m.samples]]
        for m in registry.collect()]).encode()


def families(data: bytes) -> list[Metric]:
    """The metric families of a reading; raises ValueError or TypeError if
    it is not one."""
    out = []
    for name, documentation, kind, unit, samples in json.loads(data):
        family = Metric(name, documentation, kind, unit)
        for sample_name, labels, value, timestamp in samples:
            family.add_sample(sample_name, labels, value, timestamp)
        out.append(family)
    return out


def send(channel: socket.socket, reply: bytes) -> None:
    """One reply: the length, then the bytes in chunks (b"": no reading)."""
    channel.sendall(_LENGTH.pack(len(reply)))
    view = memoryview(reply)
    for start in range(0, len(view), _CHUNK_BYTES):
        channel.sendall(view[start:start + _CHUNK_BYTES])


def receive(channel: socket.socket) -> bytes:
    """One reply as `send` sent it; raises ConnectionError when the other
    end is gone."""
    header = channel.recv(_LENGTH.size)
    if len(header) != _LENGTH.size:
        raise ConnectionError("serve's reading process hung up")
    (length,) = _LENGTH.unpack(header)
    parts, got = [], 0
    while got < length:
        part = channel.recv(_CHUNK_BYTES)
        if not part:
            raise ConnectionError("serve's reading process hung up mid-reading")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


class Relay:
    """The child's collector: each scrape is one reading asked of the parent,
    one at a time; its families are those the parent's collector yielded."""

    def __init__(self, channel: socket.socket, described: list[Metric]):
        self._channel = channel
        self._described = described
        self._lock = threading.Lock()

    def describe(self) -> list[Metric]:
        return self._described  # the names, for ?name[]= filters

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # a request and its reply are not interleaved with another's
            try:
                self._channel.sendall(REQUEST)
                reply = receive(self._channel)
            except OSError as err:
                raise http.Unavailable(f"no reading: {err}") from None
        if not reply:
            raise http.Unavailable("no reading: it failed (serve's stderr says why)")
        try:
            decoded = families(reply)
        except (ValueError, TypeError) as err:
            raise http.Unavailable(f"no reading: it does not decode ({err})") from None
        yield from decoded


def drop_to(user: pwd.struct_passwd, parent: int) -> None:
    """Become `user` for good, with no way back to root, and die with
    `parent`."""
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)  # as root, the real, effective and saved uid all change
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise PermissionError("root could be regained after setuid")
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    # Other processes of a user shared with other daemons (nobody) may not
    # attach to this one or read its memory; the kernel sets this at the
    # change of uid only when fs.suid_dumpable is 0.
    _prctl(_PR_SET_DUMPABLE, 0)
    # Set after the change of uid, which clears it.
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        raise ProcessLookupError("serve's reading process ended before the HTTP one began")


def _child_main(channel: socket.socket, listener: socket.socket, user: pwd.struct_passwd,
                described: list[Metric], parent: int) -> NoReturn:
    """The forked child, which never returns into the parent's code."""
    code = 1
    try:
        code = _child(channel, listener, user, described, parent)
    except BaseException as err:  # noqa: B036 - whatever it is, the child ends here
        with contextlib.suppress(Exception):
            print(f"lottery: serve's HTTP process ends: {err}", file=sys.stderr, flush=True)
    finally:
        os._exit(code)


def _child(channel: socket.socket, listener: socket.socket, user: pwd.struct_passwd,
           described: list[Metric], parent: int) -> int:
    for signum in signals.STOPPING:  # a stop kills it: it holds nothing to flush
        if signal.getsignal(signum) is not signal.SIG_IGN:  # but nohup's holds
            signal.signal(signum, signal.SIG_DFL)
    os.chdir("/")
    _close_all_but({0, 1, 2, channel.fileno(), listener.fileno()})
    drop_to(user, parent)
    registry = CollectorRegistry()
    registry.register(Relay(channel, described))
    http.serve_in_background(listener, registry)
    # The parent closes its end only by ending: then so does this process.
    hung_up = _hang_up_poll(channel)
    while not hung_up.poll():
        pass
    return 0


def _hang_up_poll(channel: socket.socket) -> select.poll:
    """A poll that reports the other end closed (POLLHUP) or shut down for
    writing (POLLRDHUP), but not a message, not even an empty one (which
    recv returns as b"", as it does the end)."""
    polled = select.poll()
    polled.register(channel, select.POLLRDHUP)
    return polled


def _close_all_but(keep: set[int]) -> None:
    """Close every descriptor of the parent's the child was not given (the
    pin directory's, bpftool's pipes, should one be open)."""
    start = 0
    for fd in sorted(keep):
        if start < fd:  # CPython 3.11 makes closerange(0, 0) close_range(0, ~0): all
            os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, os.sysconf("SC_OPEN_MAX"))


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    args = (ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if libc.prctl(option, *args) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl({option}): {os.strerror(errno)}")


def _end(pid: int) -> int:
    """SIGKILL the child (it holds nothing to flush, and is not trusted to
    obey a gentler signal) and reap it; its wait status."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def _how(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"


def _once(said: list[str], line: str) -> None:
    if line != said[0]:
        said[0] = line
        print(line, file=sys.stderr, flush=True)
