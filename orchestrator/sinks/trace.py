"""Trace sink: Chrome trace-event JSON, which ui.perfetto.dev and
chrome://tracing open.

Per task that ran or waited, two counter tracks under its process: "cpu PID"
(runtime and wait in the interval, ms) and "share PID" (expected and observed
share, %); per CPU an idle track under a process named "CPUs"; process and
thread names as metadata; deadline warnings as instant events.  A counter
value is stamped at the start of the interval it describes, so each step
covers its interval.  The file is a JSON array that is whole after every
sample: each sample's events go in over the closing bracket, in one write
(append.OutputFile), and bring it back."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator import units
from orchestrator.analysis.analyser import Analysis
from orchestrator.sampling.deltas import Sample
from orchestrator.sinks import Output
from orchestrator.sinks.append import OutputFile

_END = b"\n]\n"
_CPUS_PID = 0  # the idle task's pid: no real process has it


def _event(ph: str, name: str, pid: int, ts: float, **extra: object) -> dict:
    return {"ph": ph, "name": name, "pid": pid, "ts": ts, **extra}


class TraceSink:
    """Writes a new trace file (an existing one is replaced)."""

    def __init__(self, path: Path):
        self.path = path
        self._file = OutputFile(path, "trace", "--trace-output", stdout=False)
        try:
            self._file.put(b"[" + _END, truncate=True)  # a valid, empty trace from the start
        except BaseException:
            self._file.close()
            raise
        self._empty = True
        self._named: set[tuple[int, int]] = set()  # (pid, tid) already named

    def _names(self, sample: Sample) -> list[dict]:
        out = []
        if (_CPUS_PID, -1) not in self._named:
            self._named.add((_CPUS_PID, -1))
            out.append(_event("M", "process_name", _CPUS_PID, 0, args={"name": "CPUs"}))
        for row in sample.tasks:
            t = row.task
            if row.unseen_exits:
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
            if row.unseen_exits or not (row.runtime_delta_ns or row.wait_delta_ns):
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
        self._file.put((b"\n" if self._empty else b",\n") + body + _END, back=len(_END))
        self._empty = False
        return len(events)

    def close(self) -> None:
        self._file.close()
