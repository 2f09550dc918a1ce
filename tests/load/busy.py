"""A busy machine, to run the suite beside (issue 19): what the other users
of a shared host do meanwhile. Not a test (pytest collects test_*.py only).

    .venv/bin/python tests/load/busy.py [--seconds N] [--rate PER_S]

from the checkout, as root (make setup first). Until Ctrl-C, SIGTERM or
--seconds:

- stress-ng --cpu 2, in a session of its own;
- a churn of short processes, --rate a second, every fourth in a new
  session, running copies of /bin/true named as the suite's own tasks are
  (true, sh, lottery-work): a test that counts tasks by name counts these;
- a process that starts and ends --rate threads a second;
- another user's `lottery workload` (CPU-bound lottery-work processes on
  the last CPU, as the suite pins its own) every few seconds, and another
  user's experiment (a lottery-busy-* cgroup with a task in it) that comes
  and goes;
- another lottery instance in its own pin directory, with a dump reading it
  every half second.

It prints once every 10 s how many processes and threads it made. All of
it is ended, the cgroups removed and the instance unloaded however the
script ends."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NAMES = ("true", "sh", "lottery-work")  # what the suite's own tasks are called
REPORT_S = 10.0


def _paced(rate_per_s: float, seconds: float):
    """Yield n = 0, 1, ... at `rate_per_s` (catching up after a stall, as a
    busy machine stalls) until `seconds` have passed."""
    start = time.monotonic()
    n = 0
    while (now := time.monotonic()) - start < seconds:
        due = start + n / rate_per_s
        if due > now:
            time.sleep(due - now)
        yield n
        n += 1


def churn(rate_per_s: float, seconds: float, programs: Path) -> None:
    """Start and reap short processes, every fourth in a new session."""
    made = 0
    report = time.monotonic() + REPORT_S
    for n in _paced(rate_per_s, seconds):
        path = programs / NAMES[n % len(NAMES)]
        pid = os.posix_spawn(path, [path.name], {}, setsid=n % 4 == 0)
        os.waitpid(pid, 0)
        made += 1
        if time.monotonic() >= report:
            print(f"busy: {made} processes", file=sys.stderr, flush=True)
            made, report = 0, report + REPORT_S


def threads(rate_per_s: float, seconds: float) -> None:
    """Start and end threads."""
    made = 0
    report = time.monotonic() + REPORT_S
    for _ in _paced(rate_per_s, seconds):
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
        made += 1
        if time.monotonic() >= report:
            print(f"busy: {made} threads", file=sys.stderr, flush=True)
            made, report = 0, report + REPORT_S


def _lottery(*args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "orchestrator", *args], env=env,
                            stdin=subprocess.DEVNULL, **popen)


def others(seconds: float) -> None:
    """Another user's workloads and experiments, one after another."""
    sys.path.insert(0, str(REPO))
    from orchestrator.kernel.cgroups import Cgroups

    cpu = str(max(os.sched_getaffinity(0)))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        work = _lottery("workload", "--duration", "2", "--nice", "5", "--cpu", cpu,
                        "--procs", "2", stdout=subprocess.DEVNULL)
        with Cgroups("busy") as groups:
            group = groups.make("A", 2048)
            sleeper = subprocess.Popen(["sleep", "2"])
            (group / "cgroup.procs").write_text(str(sleeper.pid))
            sleeper.wait()
        work.wait()
        time.sleep(1)


class Load:
    """Everything the script runs, each in a session of its own, and the
    instance it loaded; `stop` ends it all."""

    def __init__(self):
        self.scratch = Path(tempfile.mkdtemp(prefix="lottery-busy-"))
        self.pins = Path(f"/sys/fs/bpf/lottery-busy-{uuid.uuid4().hex[:8]}")
        self.procs: list[subprocess.Popen] = []
        self.reader: subprocess.Popen | None = None
        self.loaded = False

    def start(self, rate_per_s: float, seconds: float) -> None:
        programs = self.scratch / "bin"
        programs.mkdir()
        for name in NAMES:
            shutil.copy("/bin/true", programs / name)
        me = [sys.executable, str(Path(__file__).resolve())]
        span = ["--seconds", str(seconds), "--rate", str(rate_per_s)]
        self._start(["stress-ng", "--cpu", "2", "--quiet", "--timeout", f"{int(seconds) + 1}"])
        self._start([*me, "churn", *span, "--programs", str(programs)])
        self._start([*me, "threads", *span])
        self._start([*me, "others", *span])
        self._load()

    def _start(self, argv: list[str]) -> None:
        self.procs.append(subprocess.Popen(argv, start_new_session=True,
                                           stdin=subprocess.DEVNULL))

    def _load(self) -> None:
        build = self.scratch / "build"
        for args in (("build", "--build-dir", str(build)),
                     ("load", "--pin-dir", str(self.pins), "--obj",
                      str(build / "sched_lottery.bpf.o"))):
            if _lottery(*args, stdout=subprocess.DEVNULL).wait() != 0:
                raise SystemExit(f"busy: lottery {args[0]} failed")
            self.loaded = args[0] == "load"
        self.reader = _lottery("dump", "-q", "-i", "0.5", "--pin-dir", str(self.pins),
                               "-o", str(self.scratch / "other.csv"),
                               stdout=subprocess.DEVNULL, start_new_session=True)

    def running(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        if self.reader is not None and self.reader.poll() is None:
            self.reader.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.reader.wait(timeout=30)
        for proc in [*self.procs, *([self.reader] if self.reader else [])]:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
                    break
        if self.loaded:
            _lottery("unload", "--pin-dir", str(self.pins), stdout=subprocess.DEVNULL).wait()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _stop(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", nargs="?", default="all",
                        choices=("all", "churn", "threads", "others"))
    parser.add_argument("--seconds", type=float, default=24 * 3600.0)
    parser.add_argument("--rate", type=float, default=300.0,
                        help="processes, and threads, a second")
    parser.add_argument("--programs", type=Path)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    try:
        if args.role == "churn":
            churn(args.rate, args.seconds, args.programs)
        elif args.role == "threads":
            threads(args.rate, args.seconds)
        elif args.role == "others":
            others(args.seconds)
        else:
            load = Load()
            try:
                load.start(args.rate, args.seconds)
                print(f"busy: running (pid {os.getpid()}), instance {load.pins}",
                      file=sys.stderr, flush=True)
                end = time.monotonic() + args.seconds
                while load.running() and time.monotonic() < end:
                    time.sleep(0.5)
            finally:
                load.stop()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
