"""Fixtures: a real BPF build and a real loaded instance with its own pins.

Every instance is unloaded and checked for leftovers even when the test
fails; with LOTTERY_REQUIRE_BPF=1 (CI) a BPF test that would skip fails."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path

import pytest
from hypothesis import settings

from orchestrator import paths, workload
from orchestrator.commands import build as build_cmd
from orchestrator.commands import load as load_cmd
from orchestrator.commands import unload as unload_cmd
from orchestrator.kernel import bpffs, tools
from orchestrator.kernel import cgroups as cgroups_mod

# No per-example deadline anywhere: on a busy machine (CI shares its CPUs) an
# example may wait for a CPU, and that is not a failure of the code.
settings.register_profile("lottery", deadline=None)
settings.load_profile("lottery")

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parent.parent


# Tests stop lottery with SIGINT, SIGTERM and SIGHUP, and a signal ignored
# here would be ignored by every child too (lottery keeps an ignored stop
# ignored, as nohup wants): a suite run in the background (`make test &`,
# nohup) would see no stop work. Ignored, they get a handler that does
# nothing instead: this process still goes on, and a child, whose handlers
# exec resets, starts with the default action.
for _signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    if signal.getsignal(_signum) == signal.SIG_IGN:
        signal.signal(_signum, lambda *_: None)


def _bpf_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "BPF tests need root"
    if not paths.btf_path().exists():
        return "no kernel BTF at /sys/kernel/btf/vmlinux"
    if not tools.which("clang"):
        return "clang is not installed (make setup)"
    if not tools.which("bpftool") or not tools.bpftool_can_autoattach():
        return "bpftool with autoattach is not installed (make setup)"
    return None


def need_bpf() -> None:
    reason = _bpf_unavailable()
    if reason:
        if os.environ.get("LOTTERY_REQUIRE_BPF") == "1":
            pytest.fail(f"LOTTERY_REQUIRE_BPF=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def bpf_object(tmp_path_factory) -> Path:
    need_bpf()
    out = tmp_path_factory.mktemp("build")
    build_cmd.build(str(out))
    return out / "sched_lottery.bpf.o"


def _links(pin_dir: Path) -> set[int]:
    """Links of lottery's programs that could be this test's: pinned under
    its pin directory, or pinned nowhere (held by a process).  Other tools'
    links, and other instances' (pinned in their own directories, perhaps
    loaded by another user meanwhile), are not ours to count."""
    def shown(kind: str) -> list:
        return json.loads(subprocess.run([tools.require("bpftool"), "-j", "-f", kind, "show"],
                                         capture_output=True, text=True).stdout or "[]")
    ours = {p["id"] for p in shown("prog") if p.get("name") in ("on_switch", "snapshot")}
    return {link["id"] for link in shown("link") if link.get("prog_id") in ours
            and (not link.get("pinned")
                 or any(Path(pin).is_relative_to(pin_dir) for pin in link["pinned"]))}


def _fresh_pin_dir():
    """A fresh pin directory name; whatever ends up there is removed after."""
    need_bpf()
    bpffs.ensure_mounted()
    path = Path(f"/sys/fs/bpf/lottery-test-{uuid.uuid4().hex[:8]}")
    links_before = _links(path)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)
    # The kernel frees a link whose last pin went in a work item: on a busy
    # machine that runs a moment later.
    deadline = time.monotonic() + 10
    while (leaked := _links(path) - links_before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not path.exists(), f"pins left at {path}"
    assert not leaked, f"BPF links left attached: {leaked}"


@pytest.fixture
def pin_dir() -> Path:
    """A fresh pin directory name; whatever ends up there is removed after."""
    yield from _fresh_pin_dir()


@pytest.fixture(scope="module")
def module_pin_dir() -> Path:
    """pin_dir, for every test of a module."""
    yield from _fresh_pin_dir()


@pytest.fixture
def instance(bpf_object, pin_dir):
    """A loaded instance in its own pin directory."""
    pins = paths.pins(pin_dir)
    load_cmd.load(pins, obj=str(bpf_object))
    try:
        yield pins
    finally:
        unload_cmd.unload(pins)


def _argv_env(args, env, user):
    argv = [sys.executable, "-m", "orchestrator", *args]
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    return argv, {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}


@contextlib.contextmanager
def loaded(bpf_object: Path, pin_dir: Path, **options):
    """An instance loaded with load's options (max_tasks, exit_retain_s, ...),
    unloaded after, also on failure; the pin_dir fixture checks for leaks."""
    pins = paths.pins(pin_dir)
    load_cmd.load(pins, obj=str(bpf_object), **options)
    try:
        yield pins
    finally:
        unload_cmd.unload(pins)


def run_lottery(*args: str, env: dict | None = None, user: str | None = None,
                cwd: Path | None = None, timeout: float | None = None
                ) -> subprocess.CompletedProcess:
    """Run the CLI as a user would, in a child process (failing the test
    after `timeout`, PATIENCE_S unless told)."""
    argv, full_env = _argv_env(args, env, user)
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, cwd=cwd,
                          timeout=timeout or PATIENCE_S, stdin=subprocess.DEVNULL)


class _Drain:
    """What a command writes into a pipe, read by a thread as it comes (a
    pipe's buffer is 64 KiB: a command that prints more would block)."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        self._chunks: list[bytes] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # until told the command is over and nothing is left to read: a
        # command may leave a copy of its end open, and then EOF never comes
        while True:
            # told before looking: whatever was written before is in the pipe
            over = self._done.is_set()
            ready, _, _ = select.select([self.read_fd], [], [], 0.05)
            if ready:
                chunk = os.read(self.read_fd, 1 << 16)
                if not chunk:
                    return
                self._chunks.append(chunk)
            elif over:
                return

    def text(self) -> str:
        self._done.set()
        self._thread.join()
        os.close(self.read_fd)
        return b"".join(self._chunks).decode("utf-8", errors="replace")


@contextlib.contextmanager
def _standard_streams(stdout: Path | None):
    """Descriptors 0, 1 and 2 as a child run by run_lottery has them (no
    input, output into pipes; with `stdout`, that file opened for appending,
    as a shell's >>), and sys.std* on them as Python makes them; all put
    back after. Yields the two drains (None for a file)."""
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    python = sys.stdin, sys.stdout, sys.stderr
    out = None if stdout is not None else _Drain()
    err = _Drain()
    null = os.open(os.devnull, os.O_RDONLY)
    to = os.open(stdout, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) \
        if stdout is not None else out.write_fd
    for fd, source in ((0, null), (1, to), (2, err.write_fd)):
        os.dup2(source, fd)
        os.close(source)
    try:
        sys.stdin = open(0, encoding=sys.__stdin__.encoding, closefd=False)
        sys.stdout = open(1, "w", encoding=sys.__stdout__.encoding,
                          errors=sys.__stdout__.errors, closefd=False)
        sys.stderr = open(2, "w", encoding=sys.__stderr__.encoding,
                          errors="backslashreplace", closefd=False, buffering=1)
        yield out, err
    finally:
        for stream in (sys.stdin, sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.close()  # flushed; the descriptor stays (closefd=False)
        sys.stdin, sys.stdout, sys.stderr = python
        for fd, copy in zip((0, 1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


def run_in_process(*args: str, env: dict | None = None, cwd: Path | None = None,
                   stdout: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `lottery ARGS` in this process, through the code path the program
    itself runs (orchestrator.entry.main), with standard input, output and
    error as run_lottery gives a child: tenfold cheaper than a child, for
    tests about what a command says rather than about processes. Whatever
    the command changes of the process (the stop handlers, the unraisable
    hook, argv, the environment, the directory, entry's state)
    is put back after. A traceback is printed to its stderr and exits 1, as
    Python would; `stdout` appends standard output to that file instead. A
    command still running after `timeout` seconds (a safety net: a refusal
    takes milliseconds) is stopped and the test fails, as subprocess.run's
    timeout would."""
    from orchestrator import entry, signals

    handlers = {signum: signal.getsignal(signum) for signum in signals.STOPPING}
    hook, argv, environ, where = sys.unraisablehook, sys.argv, dict(os.environ), os.getcwd()
    code: object = 1
    late: list[bool] = []

    def stop_late(_signum: int, _frame: object) -> None:
        late.append(True)
        raise KeyboardInterrupt  # as Ctrl-C: the command cleans up what it started

    alarm = signal.signal(signal.SIGALRM, stop_late)
    with _standard_streams(stdout) as (out, err):
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            os.environ.update(env or {})
            if cwd is not None:
                os.chdir(cwd)
            sys.argv = ["lottery", *args]
            entry.main()
        except SystemExit as done:
            code = done.code
            if not (code is None or isinstance(code, int)):
                print(code, file=sys.stderr)  # sys.exit("text"), as Python does
        except BaseException:  # as the interpreter would, on its way out
            traceback.print_exc()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, alarm)
            for signum, handler in handlers.items():
                if handler is not None:
                    signal.signal(signum, handler)
            sys.unraisablehook, sys.argv = hook, argv
            os.environ.clear()
            os.environ.update(environ)
            os.chdir(where)
            entry._raised.clear()
            entry._lost.clear()
    stdout_text, stderr_text = "" if out is None else out.text(), err.text()
    if late:
        raise subprocess.TimeoutExpired(["lottery", *args], timeout, stdout_text, stderr_text)
    status = 0 if code is None else code if isinstance(code, int) else 1
    return subprocess.CompletedProcess(["lottery", *args], status, stdout_text, stderr_text)


def one_line_error(result: subprocess.CompletedProcess, *words: str, code: int | None = 2,
                   stdout: str | None = "") -> None:
    """What every refusal must look like: exit `code` (None: any but 0), one
    line on stderr holding each of `words`, no traceback, and `stdout` (None:
    anything) on standard output."""
    shown = (result.args, result.stdout[-300:], result.stderr[-500:])
    assert result.returncode != 0 if code is None else result.returncode == code, shown
    if stdout is not None:
        assert result.stdout == stdout, shown
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, shown
    for word in words:
        assert word in lines[0], (word, lines[0])


def start_lottery(*args: str) -> subprocess.Popen:
    """Start the CLI in the background (stop it with SIGINT, as Ctrl-C would)."""
    argv, full_env = _argv_env(args, None, None)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env, stdin=subprocess.DEVNULL)


# The scheduler switches tasks at ticks: 4 ms at this kernel's HZ=250.
TICK_NS = 4_000_000


def ratio_allowed(a_ns: int, b_ns: int, rel: float) -> float:
    """How far two tasks' CPU-time ratio a/b may stray from their weights':
    `rel`, or what a tick at each end of the window (either task may be
    mid-turn at each of the two readings) can do to a/b when a busy CPU gave
    the pair little time (no amount is assumed: others may share the CPU)."""
    slack = 2 * TICK_NS
    assert min(a_ns, b_ns) > slack, f"too little CPU to tell a ratio: {a_ns}, {b_ns} ns"
    ratio = a_ns / b_ns
    return max(rel, (a_ns + slack) / (b_ns - slack) / ratio - 1,
               1 - (a_ns - slack) / (b_ns + slack) / ratio)


# How long an event a test waits for may take on a busy machine before the
# test fails: a safety net, never a measure (speed belongs to `make bench`).
PATIENCE_S = 120.0


def wait_until(check, what: str, timeout_s: float = PATIENCE_S, step_s: float = 0.05):
    """Poll `check` until it returns something true, and return that; fail
    the test naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(step_s)
    return found


def _at_pid(pid: int, argv: list[str]) -> subprocess.Popen | None:
    """`argv` run with pid `pid`, once it prints "ready" (the kernel gives the
    pid after ns_last_pid to the next fork; another fork may take it first:
    None then)."""
    Path("/proc/sys/kernel/ns_last_pid").write_text(str(pid - 1))
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    if proc.pid == pid:
        return proc
    proc.kill()
    proc.wait()
    return None


@contextlib.contextmanager
def pids_apart(apart: int, argv: list[str]):
    """Two processes running `argv` (which prints "ready" once it runs) whose
    pids are `apart` apart, so that they share an entry of an array indexed
    by pid modulo `apart`; pid_max is raised meanwhile, and both are killed
    at the end.  Under a lock every caller takes (the suite's halves run at
    once, other sessions too): two of them overlapping, the later one read
    the earlier one's raised pid_max as the one to put back, and left it."""
    pid_max = Path("/proc/sys/kernel/pid_max")
    procs: list[subprocess.Popen] = []
    with open("/run/lottery-tests-pid_max.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old_max = pid_max.read_text()
        try:
            pid_max.write_text(str(max(int(old_max), 3 * apart)))
            procs = _pair_at_pids(apart, argv)
            yield procs
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
            pid_max.write_text(old_max)


def _pair_at_pids(apart: int, argv: list[str]) -> list[subprocess.Popen]:
    """Two processes at free pids `apart` apart, in the middle of the range."""
    for tries in range(50):
        base = apart // 2 + 997 * tries
        if Path(f"/proc/{base}").exists() or Path(f"/proc/{base + apart}").exists():
            continue
        first = _at_pid(base, argv)
        second = _at_pid(base + apart, argv) if first else None
        if first and second:
            return [first, second]
        for proc in (first, second):
            if proc:
                proc.kill()
                proc.wait()
    raise AssertionError(f"no two free pids {apart} apart: other forks took them each time")


def _set_up(pid: int, nice: int, cpu: int | None) -> bool:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        pinned = cpu is None or os.sched_getaffinity(pid) == {cpu}
    except (FileNotFoundError, ProcessLookupError):
        raise AssertionError(f"workload {pid} ended before it was set up") from None
    # its name is set after its session and cgroup, its nice value last
    return comm == workload.COMM and int(stat[16]) == nice and pinned


def _set_up_all(pids: list[int], nice: int, cpu: int | None) -> None:
    for pid in pids:
        wait_until(lambda pid=pid: _set_up(pid, nice, cpu), f"workload {pid} to be set up")


def _reap(pids: list[int]) -> None:
    """Stop and reap those of the children the test has not reaped. Only
    those are signalled: a pid reaped may be another user's task by now."""
    for pid in pids:
        try:
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                workload.stop([pid])
                os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # the test reaped it


@pytest.fixture
def spin():
    """spin(nice, cpu, new_session=, cgroup=): CPU-bound workloads that run
    until the test stops them, or until it ends, however busy the machine is
    (not for a time it might not give them). Returns their pids once each is
    set up as asked (its session, cgroup, CPU and nice value): a snapshot
    taken before a busy machine ran the child would find it in its parent's
    group, on any CPU."""
    mine: list[int] = []

    def start(nice: int, cpu: int | None = None, **options) -> list[int]:
        pids = workload.start(nice, 3600, cpu, **options)
        mine.extend(pids)
        _set_up_all(pids, nice, cpu)
        return pids

    yield start
    _reap(mine)


def need_cpu_controller() -> None:
    """Skip without a cpu controller for cgroups (fail under LOTTERY_REQUIRE_BPF=1)."""
    if cgroups_mod.controller() is None:
        if os.environ.get("LOTTERY_REQUIRE_BPF") == "1":
            pytest.fail("LOTTERY_REQUIRE_BPF=1 but there is no cpu controller for cgroups")
        pytest.skip("no cpu controller for cgroups here")


@pytest.fixture
def cgroups():
    """Cgroups under a cpu controller; every one is removed after the test."""
    need_cpu_controller()
    made = cgroups_mod.Cgroups("test")
    try:
        yield made
    finally:
        made.remove()
        assert not made.root.exists(), f"cgroup left at {made.root}"


@pytest.fixture
def throwaway_user():
    """A fresh system user, and the sudoers file made for it; both removed
    after, with every process the user still runs."""
    name = f"lp{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", name],
                   check=True)
    rules = Path(f"/etc/sudoers.d/lottery-test-{name}")
    try:
        yield name, rules
    finally:
        rules.unlink(missing_ok=True)
        for _ in range(50):
            if subprocess.run(["pkill", "-KILL", "-u", name]).returncode == 1:
                break  # none left running
            time.sleep(0.1)
        # a killed process is the user's until its parent has reaped it
        # (userdel: "currently used by process N", seen once after pkill)
        for _ in range(50):
            gone = subprocess.run(["userdel", name], capture_output=True, text=True)
            if gone.returncode != 8:  # 8: the user still has a process
                break
            subprocess.run(["pkill", "-KILL", "-u", name])
            time.sleep(0.1)
        assert gone.returncode == 0, f"user {name} left: {gone.stderr}"


def write_sudoers(rules: Path, user: str, pins) -> None:
    """Install the rules `lottery doctor --sudoers` prints for `user`."""
    printed = run_lottery("doctor", "--sudoers", user, "--pin-dir", str(pins.dir))
    assert printed.returncode == 0, printed.stderr
    rules.write_text(printed.stdout)
    os.chmod(rules, 0o440)
    subprocess.run(["visudo", "-cf", str(rules)], check=True, capture_output=True)


def schedstat_runtime(pids) -> dict[int, int]:
    """The kernel's CPU time of each task (/proc/PID/schedstat, first field)."""
    out = {}
    for pid in pids:
        with open(f"/proc/{pid}/schedstat") as handle:
            out[pid] = int(handle.read().split()[0])
    return out


def normalised(values: dict) -> dict:
    """Each value as a share of their sum."""
    total = sum(values.values())
    return {k: v / total for k, v in values.items()}
