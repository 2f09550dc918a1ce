"""Every external program lottery runs (bpftool, clang, sudo, cat), through plumbum."""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from plumbum import local
from plumbum.commands.processes import ProcessExecutionError

from orchestrator.errors import LotteryError

_PIPE_BYTES = 1 << 20  # the default /proc/sys/fs/pipe-max-size

# Debian keeps bpftool in /usr/sbin, which is not on a normal user's PATH.
_EXTRA_PATH = ("/usr/sbin", "/usr/local/sbin", "/sbin")

_INSTALL_HINT = {
    "bpftool": "install bpftool 7.3 or newer (Debian 12: apt-get install -t bookworm-backports "
    "bpftool; or run make setup)",
    "clang": "install clang (apt-get install clang llvm; or run make setup)",
    "sudo": "run as root, or install sudo (apt-get install sudo)",
}


def is_root() -> bool:
    return os.geteuid() == 0


def which(tool: str) -> str | None:
    """Return the full path of a tool, looking in the sbin directories too."""
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(_EXTRA_PATH)
    return shutil.which(tool, path=path)


def require(tool: str) -> str:
    """Return the full path of a tool, or raise with the way to install it."""
    found = which(tool)
    if not found:
        raise LotteryError(f"{tool} not found", _INSTALL_HINT.get(tool, f"install {tool}"))
    return found


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def elevated(argv: list[str], what: str) -> list[str]:
    """Prefix sudo for a non-root caller: only this one command runs as root,
    so that nothing else (CSV files, say) is done as root."""
    if is_root():
        return argv
    sudo = which("sudo")
    if not sudo:
        raise LotteryError(f"{what} needs root and sudo is missing", _INSTALL_HINT["sudo"])
    # Without a terminal sudo must not wait for a password nobody can type.
    flags = [] if sys.stdin.isatty() else ["-n"]
    return [sudo, *flags, *argv]


def failure(what: str, message: str, retcode: int | None) -> LotteryError:
    message = message.strip()
    if "a password is required" in message or "a terminal is required" in message:
        return LotteryError(
            f"{what} needs root and sudo asked for a password",
            "run it as root, run `sudo -v` first, or add a NOPASSWD sudoers rule "
            "(see docs/USAGE.md)",
        )
    first = message.splitlines()[0] if message else f"exit status {retcode}"
    return LotteryError(f"{what} failed: {first}", detail=_tail(message))


def _not_started(what: str, err: OSError) -> LotteryError:
    """A program that could not even start: the working directory or the
    program itself is out of reach (a user's sudo into root's directory)."""
    where = f" ({err.filename})" if err.filename else ""
    return LotteryError(f"{what} could not be started: {err.strerror}{where}",
                        "run lottery from a directory you may enter, or reinstall the program")


def run(argv: list[str], elevate: bool = False, what: str = "", stdin: str | None = None
        ) -> str:
    """Run a program (given `stdin`, if any) and return its stdout; raise
    LotteryError when it fails."""
    what = what or os.path.basename(argv[0])
    if elevate:
        argv = elevated(argv, what)
    command = local[argv[0]][argv[1:]]
    try:
        return (command << stdin)() if stdin is not None else command()
    except ProcessExecutionError as err:
        raise failure(what, err.stderr or err.stdout or "", err.retcode) from None
    except OSError as err:
        raise _not_started(what, err) from None


def batch(lines: list[str], what: str) -> None:
    """Run bpftool commands (as `bpftool` takes them, one per line) in one
    bpftool process (`bpftool batch file -`); raise if any fails."""
    run([require("bpftool"), "batch", "file", "-"], what=what,
        stdin="".join(f"{line}\n" for line in lines))


def stream(argv: list[str], elevate: bool = False, what: str = "",
           chunk_bytes: int = 1 << 20) -> Iterator[str]:
    """Yield a program's stdout in chunks as it prints; raise if it fails."""
    what = what or os.path.basename(argv[0])
    if elevate:
        argv = elevated(argv, what)
    try:
        proc = local[argv[0]][argv[1:]].popen(stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as err:
        raise _not_started(what, err) from None
    try:
        fd = proc.stdout.fileno()
        with contextlib.suppress(OSError):
            # A 64 KiB pipe stalls the writer whenever the reader is busy with
            # a chunk; a bigger one lets both run at once on two CPUs.
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        head = ""  # bpftool -j puts its error on stdout, as the whole output
        # os.read hands over whatever has arrived, so parsing starts at once
        while data := os.read(fd, chunk_bytes):
            chunk = decoder.decode(data)
            head = head or chunk
            yield chunk
        if tail := decoder.decode(b"", final=True):
            yield tail
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            if message := _json_error(head):
                raise LotteryError(f"{what} failed: {message}")
            raise failure(what, err, proc.returncode)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _json_error(out: str) -> str | None:
    """The message of bpftool's -j failure document {"error": …}, if `out` is one."""
    if not out.lstrip().startswith("{"):
        return None  # a map dump or a list: no need to decode it here
    try:
        doc = json.loads(out)
    except json.JSONDecodeError:
        return None
    return doc.get("error") if isinstance(doc, dict) else None


def bpftool(args: list[str], elevate: bool = True, what: str = "") -> Any:
    """Run bpftool with JSON output and return the parsed document.

    With -j bpftool reports failure as {"error": ...}; that, not the exit code,
    decides, because bpftool 7.5's `link show` exits 255 after printing the link."""
    argv = [require("bpftool"), "-j", *args]
    what = what or f"bpftool {' '.join(args[:2])}"
    if elevate:
        argv = elevated(argv, what)
    try:
        retcode, out, err = local[argv[0]][argv[1:]].run(retcode=None)
    except OSError as err:
        raise _not_started(what, err) from None
    if message := _json_error(out):
        raise LotteryError(f"{what} failed: {message}")
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        raise failure(what, err or out, retcode) from None


def bpftool_version() -> str:
    """Return bpftool's version, as it prints it."""
    text = run([require("bpftool"), "version"])
    found = re.search(r"v?(\d+\.\d+\.\d+)", text)
    return found.group(1) if found else text.strip().splitlines()[0]


def bpftool_can_autoattach() -> bool:
    """Tell from bpftool's own usage text whether `prog loadall` knows autoattach."""
    # retcode=None: some releases print help on stderr and exit non-zero
    _, out, err = local[require("bpftool")]["prog", "help"].run(retcode=None)
    return "autoattach" in out + err


def require_autoattach_bpftool() -> str:
    """Return bpftool's path when it can autoattach, else raise with the fix."""
    path = require("bpftool")
    if not bpftool_can_autoattach():
        raise LotteryError(f"bpftool {bpftool_version()} cannot autoattach programs",
                           _INSTALL_HINT["bpftool"])
    return path
