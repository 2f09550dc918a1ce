"""Trace sink: Chrome trace-event JSON, which ui.perfetto.dev and
chrome://tracing open.

Per task that ran or waited, two counter tracks under its process: "cpu PID"
(runtime and wait in the interval, ms) and "share PID" (expected and observed
share, %); per CPU an idle track under a process named "CPUs"; process and
thread names as metadata; deadline warnings as instant events.  A counter
value is stamped at the start of the interval it describes, so each step
covers its interval.  The file is a JSON array that is whole after every
sample: each sample's events go in before the closing bracket, in one write
while SIGINT is held back."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from orchestrator import units
from orchestrator.analysis.analyser import Analysis
from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.sampling.deltas import Sample
from orchestrator.sinks import Output

_END = b"\n]\n"
_CPUS_PID = 0  # the idle task's pid: no real process has it


def _event(ph: str, name: str, pid: int, ts: float, **extra: object) -> dict:
    return {"ph": ph, "name": name, "pid": pid, "ts": ts, **extra}


class TraceSink:
    """Writes a new trace file (an existing one is replaced)."""

    def __init__(self, path: Path):
        self.path = path
        if path.is_dir():
            raise LotteryError(f"trace path {path} is a directory",
                               "pass a file to --trace-output", code=EXIT_USAGE)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "wb")  # noqa: SIM115  (bytes: seeks are exact)
            self._file.write(b"[" + _END)  # a valid, empty trace from the start
            self._file.flush()
        except OSError as err:
            raise LotteryError(f"cannot write trace {path} ({err.strerror})",
                               "choose a writable --trace-output path", code=EXIT_USAGE) from None
        self._empty = True
        self._named: set[tuple[int, int]] = set()  # (pid, tid) already named

    def _names(self, sample: Sample) -> list[dict]:
        out = []
        if (_CPUS_PID, -1) not in self._named:
            self._named.add((_CPUS_PID, -1))
            out.append(_event("M", "process_name", _CPUS_PID, 0, args={"name": "CPUs"}))
        for row in sample.tasks:
            t = row.task
            if t.pid == 0:
                continue  # the row of exits nobody saw is no thread
            if (t.tgid, -1) not in self._named:
                self._named.add((t.tgid, -1))
                out.append(_event("M", "process_name", t.tgid, 0, args={"name": t.comm}))
            if (t.tgid, t.pid) not in self._named:
                self._named.add((t.tgid, t.pid))
                out.append(_event("M", "thread_name", t.tgid, 0, tid=t.pid,
                                  args={"name": t.comm}))
        return out

    def _events(self, sample: Sample, analysis: Analysis | None,
                late: list[tuple[str, int, float]]) -> list[dict]:
        check = sample.conservation
        now_ns = sample.snapshot.info.snapshot_ns
        start = units.us(now_ns - (check.interval_ns if check else 0))
        out = self._names(sample)
        tgid = {}
        for row in sample.tasks:
            t = row.task
            tgid[t.pid] = t.tgid
            if t.pid == 0 or not (row.runtime_delta_ns or row.wait_delta_ns):
                continue
            out.append(_event("C", f"cpu {t.pid}", t.tgid, start, tid=t.pid, args={
                "runtime_ms": units.ms(row.runtime_delta_ns or 0),
                "wait_ms": units.ms(row.wait_delta_ns or 0)}))
            share = analysis.rows[t.key].share if analysis and t.key in analysis.rows else None
            if share:
                out.append(_event("C", f"share {t.pid}", t.tgid, start, tid=t.pid, args={
                    "expected_pct": 100 * share.expected, "observed_pct": 100 * share.observed}))
        for row in sample.idle:
            if row.idle_delta_ns is not None:
                out.append(_event("C", f"cpu{row.idle.cpu} idle", _CPUS_PID, start,
                                  args={"idle_ms": units.ms(row.idle_delta_ns)}))
        for comm, pid, response_ms in late:
            out.append(_event("i", "deadline", tgid.get(pid, pid), units.us(now_ns), tid=pid,
                              s="t", args={"comm": comm, "response_ms": response_ms}))
        return out

    def write(self, out: Output) -> int:
        """Put one sample's events in whole; return how many."""
        events = self._events(out.sample, out.analysis, out.late)
        if not events:
            return 0
        body = ",\n".join(json.dumps(e, ensure_ascii=False, separators=(",", ":"))
                          for e in events).encode("utf-8")
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._file.seek(-len(_END), os.SEEK_END)
            self._file.write((b"\n" if self._empty else b",\n") + body + _END)
            self._file.flush()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        self._empty = False
        return len(events)

    def close(self) -> None:
        self._file.close()
