"""SIGTERM (what service managers send) and SIGHUP (a closed terminal) stop
lottery as Ctrl-C does: the sample in hand is finished or dropped whole,
files are flushed, children are ended, and the exit status is 128 + N."""

from __future__ import annotations

import signal

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """Raised in the main thread by SIGINT, SIGTERM or SIGHUP; caught
    wherever KeyboardInterrupt is."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Interrupted(Exception):
    """What a stop becomes on its way out of the command line: typer would
    turn a KeyboardInterrupt into a silent exit 130 (cli.main)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def default() -> None:
    """In a forked child: the signals kill it, as they would any program."""
    for signum in STOPPING:
        signal.signal(signum, signal.SIG_DFL)


def exit_code(err: BaseException) -> int:
    """128 + the signal that stopped lottery (SIGINT for Ctrl-C)."""
    # click turns a KeyboardInterrupt it sees into Abort, which has no signum
    return 128 + getattr(err, "signum", signal.SIGINT)
