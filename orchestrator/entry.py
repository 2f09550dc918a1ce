"""The `lottery` program: stops are caught before anything else is imported.

Ctrl-C, SIGTERM and SIGHUP raise a KeyboardInterrupt (signals.Stopped once
that module is in) from the first line of main() on, so that a stop while
Typer and a command's code are still being imported ends as one at any
later moment does: one line, exit 128 + the signal. Before main() only
Python's own start-up runs, where Ctrl-C is still Python's
KeyboardInterrupt; this module imports nothing it does not need before
main(), to keep that window short."""

from __future__ import annotations

# signal's C core: `signal` itself imports enum and more (5 ms here), time
# in which Ctrl-C would still be Python's traceback
import _signal
import os
import sys

# signals.STOPPING, before that module is imported
_STOPPING = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)

_raised: list[KeyboardInterrupt] = []  # the stop raised in the main flow, once it is
_lost: list[KeyboardInterrupt] = []  # that stop, if Python swallowed it (_ignored)


def _stopped(signum: int) -> KeyboardInterrupt:
    """signals.Stopped; before that module is imported, a KeyboardInterrupt
    that names the signal all the same (signals.exit_code reads it)."""
    stopped = getattr(sys.modules.get("orchestrator.signals"), "Stopped", None)
    if stopped is not None:
        return stopped(signum)
    err = KeyboardInterrupt()
    err.signum = signum
    return err


def _stop(signum: int, _frame: object) -> None:
    """Raise the first stop; one after it waits for the first's cleanup
    instead of breaking into it."""
    if not _raised:
        _raised.append(_stopped(signum))
        raise _raised[0]


def _ignored(unraisable) -> None:
    """sys.unraisablehook. Where Python cannot pass an exception on (a
    weakref callback, such as the import system's, or a __del__) it prints
    it as ignored and goes on. A stop that lands there is kept, to end the
    command as interrupted when it returns, and the next stop is raised."""
    if _raised and unraisable.exc_value is _raised[0]:
        _lost.append(_raised.pop())
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
    for signum in _STOPPING:
        if _signal.getsignal(signum) != _signal.SIG_IGN:  # nohup: stay ignored
            _signal.signal(signum, handler)


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
    _handle(_stop)
    sys.unraisablehook = _ignored
    try:
        from orchestrator import cli  # Typer, its click: most of a start-up

        code = cli.run(sys.argv[1:])
        _flush()
        # The command is over and its output written: a stop from here on
        # ends the process with the stop's status, and nothing is left to
        # tell, not even from the interpreter's own exit.
        _handle(_exit_at_once)
        if _lost and not _raised:  # and no stop after it, which the command saw
            raise _lost[0]
    except BaseException as err:  # a later stop cannot interrupt this (_stop)
        stop = _stop_behind(err)
        if stop is None:
            raise
        print("lottery: interrupted", file=sys.stderr)
        code = 128 + getattr(stop, "signum", _signal.SIGINT)
    sys.exit(code)
