"""The `lottery` program: stops are caught before anything else is imported.

Ctrl-C, SIGTERM and SIGHUP raise signals.Stopped from the first line of
main() on, so that a stop while Typer and a command's code are still being
imported ends as one at any later moment does: one line, exit 128 + the
signal. Before main() only Python's own start-up runs, where Ctrl-C is
still Python's KeyboardInterrupt; this module imports nothing but the
signals' names, to keep that window short."""

from __future__ import annotations

import os
import signal
import sys

from orchestrator import signals

_raised: list[int] = []  # the stop raised in the main flow, once it is
_lost: list[int] = []  # a stop Python swallowed (_ignored)


def _stop(signum: int, _frame: object) -> None:
    """Raise Stopped for the first stop; one after it waits for the first's
    cleanup instead of breaking into it (as signals.install's handler)."""
    if not _raised:
        _raised.append(signum)
        raise signals.Stopped(signum)


def _ignored(unraisable) -> None:
    """sys.unraisablehook. Where Python cannot pass an exception on (a
    weakref callback, such as the import system's, or a __del__) it prints
    it as ignored and goes on. A stop that lands there is kept, to end the
    command as interrupted when it returns, and the next stop is raised."""
    stop = unraisable.exc_value
    if isinstance(stop, signals.Stopped):
        _lost.append(stop.signum)
        _raised.clear()
        return
    sys.__unraisablehook__(unraisable)


def _stop_behind(err: BaseException | None) -> KeyboardInterrupt | None:
    """The stop an exception is, or comes from: Python 3.11 wraps one that
    lands while a class is made (in __set_name__) in a RuntimeError."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def _exit_at_once(signum: int, _frame: object) -> None:
    os._exit(128 + signum)


def _handle(handler) -> None:
    for signum in signals.STOPPING:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup: stay ignored
            signal.signal(signum, handler)


def _flush() -> None:
    """Write out what the command printed while a stop can still say so; a
    reader that went away (`lottery dump | head`) must not make the
    interpreter complain about it at exit."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.stderr.flush()


def main() -> None:
    sys.unraisablehook = _ignored
    _handle(_stop)
    try:
        from orchestrator import cli  # Typer, its click: most of a start-up

        code = cli.run(sys.argv[1:])
        _flush()
        # The command is over and its output written: a stop from here on
        # ends the process with the stop's status, and nothing is left to
        # tell, not even from the interpreter's own exit.
        _handle(_exit_at_once)
        if _lost and not _raised:  # and no stop after it, which the command saw
            raise signals.Stopped(_lost[0])
    except BaseException as err:  # a later stop cannot interrupt this (_stop)
        stop = _stop_behind(err)
        if stop is None:
            raise
        print("lottery: interrupted", file=sys.stderr)
        code = signals.exit_code(stop)
    sys.exit(code)
