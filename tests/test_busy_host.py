"""A busy host, short (issue 21; `make soak` runs it for minutes): parked
threads, a churn of short processes, and three readers of one instance at
once (a dump at 1 s, a dump at 0.5 s, an exporter scraped every 0.25 s).
Each reader keeps its interval, the samples keep conservation and every
scrape is answered in time.  Intervals are held to the interval asked, as
the sampler's clock promises; nothing here is held to how fast this machine
is."""

from __future__ import annotations

import itertools
import os
import signal
import statistics
import subprocess
import threading
import time

from conftest import PATIENCE_S, run_lottery, start_lottery
from test_exporter import Exporter, _get
from test_readers import _parked_threads

from orchestrator import records

PARKED = 1000
SCRAPE_EVERY_S = 0.25


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[round(fraction * (len(ordered) - 1))]


def _intervals(path) -> list[float]:
    stamps = sorted({r.timestamp_s for r in records.read(path)})
    return [b - a for a, b in itertools.pairwise(stamps)]


def test_three_readers_keep_their_intervals_beside_parked_threads_and_churn(instance,
                                                                            tmp_path):
    parked = _parked_threads(PARKED)
    churn = subprocess.Popen(["sh", "-c", "while :; do /bin/true; done"],
                             start_new_session=True)
    exporter = Exporter(instance, None, "--group-by", "process")
    latencies: list[float] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def scrape() -> None:
        while not stop.wait(SCRAPE_EVERY_S):
            began = time.monotonic()
            try:
                assert "lottery_up 1.0" in _get(exporter.url, timeout=PATIENCE_S)
            except BaseException as err:  # noqa: BLE001 - any failure fails the test below
                failures.append(err)
            latencies.append(time.monotonic() - began)

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        slow, fast = tmp_path / "slow.csv", tmp_path / "fast.csv"
        other = start_lottery("dump", "0.5", "12", "-q", "-o", str(fast), "--pin-dir",
                              str(instance.dir))
        done = run_lottery("dump", "1", "6", "-q", "-o", str(slow), "--pin-dir",
                           str(instance.dir), timeout=PATIENCE_S)
        assert done.returncode == 0, done.stderr
        assert other.wait(timeout=PATIENCE_S) == 0, other.communicate()
    finally:
        stop.set()
        scraper.join()
        exporter.stop()
        os.killpg(churn.pid, signal.SIGKILL)
        churn.wait()
        parked.stdin.close()
        assert parked.wait(timeout=PATIENCE_S) == 0
    assert not failures, failures[0]
    for path, asked in ((slow, 1.0), (fast, 0.5)):
        intervals = _intervals(path)
        assert len(intervals) >= 5
        assert abs(statistics.median(intervals) - asked) <= 0.05 * asked, intervals
        assert _percentile(intervals, 0.95) <= 1.10 * asked, intervals
        errors = [abs(e) for _, e in records.conservation(records.read(path))]
        assert statistics.median(errors) <= 0.01, errors
    assert len(latencies) >= 15 and _percentile(latencies, 0.99) <= 1.0, sorted(latencies)
    print(f"scrapes: {len(latencies)}, median {statistics.median(latencies):.3f} s, "
          f"p99 {_percentile(latencies, 0.99):.3f} s")
