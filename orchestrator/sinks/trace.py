"""Trace sink: Chrome trace-event JSON, which ui.perfetto.dev and
chrome://tracing open.

Per task that ran or waited, two counter tracks under its process: "cpu PID"
(runtime and wait in the interval, ms) and "share PID" (expected and observed
share, %); per CPU an idle track under a process named "CPUs"; process and
thread names as metadata; deadline warnings as instant events.  A counter
value is stamped at the start of the interval it describes, so each step
covers its interval.  The file is a JSON array that is whole after every
sample: each sample's events go in over the closing bracket, in one write
(append.OutputFile), and bring it back.  Times are the wall clock in
microseconds, so that the trace of a replayed recording is the live one's."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator import units
from orchestrator.analysis.frames import Frame
from orchestrator.records import NOT_TASKS
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

    def _names(self, frame: Frame) -> list[dict]:
        out = []
        if (_CPUS_PID, -1) not in self._named:
            self._named.add((_CPUS_PID, -1))
            out.append(_event("M", "process_name", _CPUS_PID, 0, args={"name": "CPUs"}))
        for r in frame.tasks:
            if r.state in NOT_TASKS:
                continue  # a row of many exits is no thread
            if (r.tgid, -1) not in self._named:
                self._named.add((r.tgid, -1))
                out.append(_event("M", "process_name", r.tgid, 0, args={"name": r.comm}))
            if (r.tgid, r.pid) not in self._named:
                self._named.add((r.tgid, r.pid))
                out.append(_event("M", "thread_name", r.tgid, 0, tid=r.pid,
                                  args={"name": r.comm}))
        return out

    def _events(self, frame: Frame) -> list[dict]:
        # wall-clock microseconds, for a live frame and a replayed one alike
        now_us = frame.timestamp_s * 1e6
        start = now_us - (frame.interval_s * 1e6 if frame.conservation else 0)
        out = self._names(frame)
        tgid = {}
        for r in frame.tasks:
            tgid[r.pid] = r.tgid
            if r.state in NOT_TASKS or not (r.runtime_delta_ns or r.wait_delta_ns):
                continue
            out.append(_event("C", f"cpu {r.pid}", r.tgid, start, tid=r.pid, args={
                "runtime_ms": units.ms(r.runtime_delta_ns or 0),
                "wait_ms": units.ms(r.wait_delta_ns or 0)}))
            if r.expected_share is not None:
                out.append(_event("C", f"share {r.pid}", r.tgid, start, tid=r.pid, args={
                    "expected_pct": 100 * r.expected_share,
                    "observed_pct": 100 * (r.observed_share or 0.0)}))
        for r in frame.idle:
            if r.runtime_delta_ns is not None:
                out.append(_event("C", f"cpu{r.cpu} idle", _CPUS_PID, start,
                                  args={"idle_ms": units.ms(r.runtime_delta_ns)}))
        for late in frame.late:
            out.append(_event("i", "deadline", tgid.get(late.pid, late.pid), now_us,
                              tid=late.pid, s="t",
                              args={"comm": late.comm, "response_ms": late.response_ms}))
        return out

    def write(self, frame: Frame) -> int:
        """Put one frame's events in whole; return how many."""
        events = self._events(frame)
        if not events:
            return 0
        body = ",\n".join(json.dumps(e, ensure_ascii=False, separators=(",", ":"))
                          for e in events).encode("utf-8")
        self._file.put((b"\n" if self._empty else b",\n") + body + _END, back=len(_END))
        self._empty = False
        return len(events)

    def close(self) -> None:
        self._file.close()
