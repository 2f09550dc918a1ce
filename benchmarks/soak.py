"""make soak: the busy host of issue 21, for minutes.  A real instance in its
own pin directory; `stress-ng --cpu 2` (one hog per CPU) in a session of its
own; 3,000 parked threads; three loops of short processes; and four readers
of the instance at once: a dump every second, a dump every half second (both
into CSVs), top every second (in tmux) and an exporter scraped every 0.2 s.
`--storm` adds `stress-ng --switch 2 --fork 2 --pthread 1` (thousands more
exits a second).  Prints, per dump, its intervals (median, p95, worst)
against the one asked, its per-sample conservation error from the CSV
alone, its warnings; top's intervals from its status line; and the
scrapes' latency.  Not a test: nothing here fails on a number."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from benchmarks.parking import park_threads, release
from orchestrator import paths
from orchestrator.commands import build as build_cmd
from orchestrator.commands import load as load_cmd
from orchestrator.commands import unload as unload_cmd
from orchestrator.kernel import bpffs
from orchestrator.records import conservation, read

HOGS = ["stress-ng", "--cpu", "2", "--quiet"]
STRESS = ["stress-ng", "--switch", "2", "--fork", "2", "--pthread", "1", "--quiet"]
# about 250 short processes a second each: the three sessions made
# about 700 exits a second together (--churn 0: as fast as they can)
CHURN = "while :; do /bin/true; sleep {pause}; done"
PARKED = 3000
REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[round(fraction * (len(sorted_values) - 1))]


def _report(name: str, path: Path, asked: float, said: list[str]) -> list[str]:
    samples = read(path)
    stamps = sorted({r.timestamp_s for r in samples})
    gaps = sorted(b - a for a, b in itertools.pairwise(stamps))
    errors = sorted(abs(e) for _, e in conservation(samples))
    warned = [line for line in said if "warning" in line]
    if not gaps or not errors:
        return [f"{name}: no samples"]
    lines = [f"{name} (every {asked:g} s): {len(stamps)} samples; interval median "
             f"{statistics.median(gaps):.3f} s ({100 * (statistics.median(gaps) / asked - 1):+.1f}"
             f"%), p95 {_percentile(gaps, 0.95):.3f} s "
             f"({100 * (_percentile(gaps, 0.95) / asked - 1):+.1f}%), worst {gaps[-1]:.3f} s; "
             f"|conservation error| median {100 * statistics.median(errors):.2f}%, p95 "
             f"{100 * _percentile(errors, 0.95):.2f}%, worst {100 * errors[-1]:.2f}%; "
             f"{len(warned)} warnings"]
    lines += [f"  {w.split(':', 2)[-1].strip()[:110]}" for w in dict.fromkeys(warned)]
    return lines


def _title(args: argparse.Namespace) -> str:
    pause = f"a {1000 * args.churn:g} ms pause in each loop" if args.churn else \
        "no pause in the loops"
    flags = f"--churn {args.churn:g}{' --storm' if args.storm else ''}" \
        f"{'' if args.sessions else ' --one-session'}"
    where = "" if args.sessions else "; both dumps in one session"
    return f"## `benchmarks/soak.py {flags}`" \
        f" ({pause}{', with the fork storm' if args.storm else ''}{where})"


_PREAMBLE = """# A busy host (`make soak`)

Written by `benchmarks/soak.py --output` (`make soak` runs it with its
defaults), one section per set of options, each replaced by its next run.
A CPU hog per CPU (`stress-ng --cpu 2`), 3,000 parked threads, three loops
of short processes, and four readers of one instance at once: a dump every
1 s and a dump every 0.5 s (both into CSVs), top every 1 s (in tmux), and
an exporter scraped every 0.2 s, each in a session of its own as an operator's terminals and
services are (under autogroup a session is a task group: `--one-session`
runs both dumps in the script's, beside the parked threads). Intervals
are the spacing of the samples' timestamps; conservation is each sample's
task time plus idle time against the CPU time that passed, from the CSV
alone.
"""


def _write(path: Path, title: str, report: list[str]) -> None:
    """Replace the section `title` of `path` (or add it), keeping the others."""
    sections: dict[str, str] = {}
    if path.exists():
        for part in path.read_text().split("\n## ")[1:]:
            head, _, body = part.partition("\n")
            sections["## " + head] = body
    sections[title] = "\n" + "\n".join(f"    {line}" for line in report) + "\n"
    text = _PREAMBLE + "".join(f"\n{head}\n{body}" for head, body in sections.items())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape(url: str, stop: threading.Event, latencies: list[float], failed: list[str]
            ) -> None:
    while not stop.wait(0.2):
        began = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=30) as reply:
                reply.read()
        except OSError as err:
            failed.append(str(err))
        latencies.append(time.monotonic() - began)


# top's status line: the sample's time and the interval it covers
_TOP_STATUS = re.compile(r"(\d\d:\d\d:\d\d)  (\d+\.\d{3}) s  \d+ tasks")


def _watch_top(session: str, stop: threading.Event, shown: dict[str, float]) -> None:
    """Read top's screen every 0.1 s; keep each sample it showed (by its
    time) with the interval top says it covers."""
    while not stop.wait(0.1):
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                capture_output=True, text=True).stdout
        if found := _TOP_STATUS.search(screen):
            shown.setdefault(found.group(1), float(found.group(2)))


def _top_report(shown: dict[str, float], asked: float) -> list[str]:
    gaps = sorted(list(shown.values())[1:])  # the first covers top's start
    if not gaps:
        return ["top: no samples shown"]
    return [f"top (every {asked:g} s, its status line read from tmux): {len(gaps)} samples; "
            f"interval median {statistics.median(gaps):.3f} s, p95 "
            f"{_percentile(gaps, 0.95):.3f} s, worst {gaps[-1]:.3f} s"]


def _exits_per_s(pins, seconds: float = 2.0) -> float:
    counters = pins.counters

    def exits() -> int:
        out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", str(counters)],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)[0]["formatted"]["value"]["exits"]
    first = exits()
    time.sleep(seconds)
    return (exits() - first) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=180.0, help="how long the readers run")
    parser.add_argument("--storm", action="store_true", help="add stress-ng's fork storm")
    parser.add_argument("--churn", type=float, default=0.003,
                        help="seconds each of the three loops sleeps between processes")
    parser.add_argument("--one-session", dest="sessions", action="store_false",
                        help="run both dumps in this script's session (one task group with "
                        "the parked threads, under autogroup), not each in its own")
    parser.add_argument("--output", type=Path,
                        help="the markdown file whose section for these options the figures "
                        "replace (make soak: docs/SOAK.md)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root (it loads BPF)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="lottery-soak-"))
    build_cmd.build(str(work / "build"))
    bpffs.ensure_mounted()
    pins = paths.pins(f"/sys/fs/bpf/lottery-soak-{uuid.uuid4().hex[:8]}")
    load_cmd.load(pins, obj=str(work / "build" / "sched_lottery.bpf.o"))
    load: list[subprocess.Popen] = []
    readers: list[subprocess.Popen] = []
    parked = serve = None
    stop, latencies, failed = threading.Event(), [], []
    scraper = watcher = None
    top_session, top_shown = f"lottery-soak-top-{os.getpid()}", {}
    try:
        churn = CHURN.format(pause=args.churn) if args.churn else CHURN.replace(
            " sleep {pause};", "")
        loads = [HOGS, *([STRESS] if args.storm else []), *[["sh", "-c", churn]] * 3]
        load = [subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL)
                for argv in loads]
        parked = park_threads(PARKED)
        time.sleep(2.0)
        rate = _exits_per_s(pins)
        port = _free_port()
        serve = subprocess.Popen([sys.executable, "-m", "orchestrator", "serve", "--pin-dir",
                                  str(pins.dir), "--listen", f"127.0.0.1:{port}"], env=ENV,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # its first reading, under load, takes a while
            try:
                with urllib.request.urlopen(url, timeout=30):
                    break
            except OSError:
                time.sleep(0.5)
        scraper = threading.Thread(target=_scrape, args=(f"http://127.0.0.1:{port}/metrics",
                                                          stop, latencies, failed))
        scraper.start()
        # top at 1 s in a terminal of its own (tmux: a session of its own too)
        subprocess.run(["tmux", "new-session", "-d", "-s", top_session, "-x", "120", "-y", "40",
                        f"env PYTHONPATH={REPO} {sys.executable} -m orchestrator top -i 1 "
                        f"--pin-dir {pins.dir}"], check=True)
        watcher = threading.Thread(target=_watch_top, args=(top_session, stop, top_shown))
        watcher.start()
        outs = {1.0: work / "second.csv", 0.5: work / "half.csv"}
        # each reader in a session of its own, as an operator's terminals and
        # services are (with autogroup, a session is a task group of its own)
        readers = [subprocess.Popen([sys.executable, "-m", "orchestrator", "dump", "-q", "-i",
                                     str(asked), "-o", str(out), "--pin-dir", str(pins.dir)],
                                    env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    start_new_session=args.sessions)
                   for asked, out in outs.items()]
        time.sleep(args.seconds)
        for proc in readers:
            proc.send_signal(signal.SIGTERM)  # SIGINT: ignored when started from a background job
        said = [proc.communicate(timeout=300)[1].decode().splitlines() for proc in readers]
        stop.set()
        scraper.join()
        report = [f"busy host: {' '.join(HOGS)}; "
                  f"{' '.join(STRESS) if args.storm else 'no storm'}; 3 loops of /bin/true; "
                  f"{PARKED} parked threads; about {rate:.0f} exits/s; {args.seconds:g} s"]
        for (asked, out), lines in zip(outs.items(), said, strict=True):
            report += _report(f"dump {asked:g}", out, asked, lines)
        report += _top_report(top_shown, 1.0)
        ordered = sorted(latencies)
        if ordered:
            report.append(f"scrapes every 0.2 s: {len(ordered)}, {len(failed)} failed; latency "
                          f"median {statistics.median(ordered):.3f} s, p99 "
                          f"{_percentile(ordered, 0.99):.3f} s, worst {ordered[-1]:.3f} s")
        print("\n".join(report))
        if args.output:
            _write(args.output, _title(args), report)
    finally:
        stop.set()
        for thread in (scraper, watcher):
            if thread is not None:
                thread.join()
        subprocess.run(["tmux", "kill-session", "-t", top_session], capture_output=True)
        for proc in readers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if serve is not None:
            os.killpg(serve.pid, signal.SIGTERM)
            serve.wait()
        for proc in load:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if parked is not None:
            release(parked)
        unload_cmd.unload(pins)
    return 0


if __name__ == "__main__":
    sys.exit(main())
