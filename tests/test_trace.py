"""The trace sink, checked structurally: every event has ph, ts and pid,
counters are numeric, every process and thread in a counter is named, and
the file is a whole JSON array after every sample and after Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import builders
from conftest import PATIENCE_S, REPO, wait_until

from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Pipeline
from orchestrator.sinks.trace import TraceSink


def check_trace(events: list[dict]) -> None:
    named = {(e["pid"], e.get("tid")) for e in events if e["ph"] == "M"}
    for e in events:
        assert {"ph", "ts", "pid", "name"} <= set(e), e
        if e["ph"] == "C":
            assert e["args"] and all(isinstance(v, int | float) for v in e["args"].values()), e
            assert (e["pid"], None) in named, e  # its process has a name
            if "tid" in e:
                assert (e["pid"], e["tid"]) in named, e


def _snap(n, at_ns, runtime, idle_ns):
    task = builders.task(7, start_ns=1, comm="spin", cpu=1, runtime_ns=runtime)
    return builders.snap(n, at_ns, [task], idle=(idle_ns, 0), timestamp_s=at_ns / 1e9)


def test_the_trace_is_whole_after_every_sample(tmp_path):
    path = tmp_path / "t.json"
    sink = TraceSink(path)
    assert json.loads(path.read_text()) == []
    pipeline = Pipeline(tickets.WEIGHT)
    pipeline.frame(_snap(1, 1_000_000_000, 0, 0))
    for n in (2, 3):
        sink.write(pipeline.frame(_snap(n, n * 1_000_000_000, n * 400_000_000,
                                        n * 600_000_000)))
        events = json.loads(path.read_text())
        check_trace(events)
    sink.close()
    cpu = [e for e in events if e["name"] == "cpu 7"]
    assert [e["args"]["runtime_ms"] for e in cpu] == [800.0, 400.0]
    assert [e["ts"] for e in cpu] == [1_000_000.0, 2_000_000.0]  # the start of each interval


def _counted(path, proc: subprocess.Popen) -> int:
    """Samples in a trace being written: the file is a whole array after each."""
    assert proc.poll() is None, proc.communicate()
    try:
        events = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not there yet, or being rewritten
        return 0
    return len({e["ts"] for e in events if e["ph"] == "C"})


def test_dump_trace_opens_after_ctrl_c(instance, tmp_path):
    path = tmp_path / "run.json"
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "dump", "--pin-dir",
                             str(instance.dir), "-i", "0.2", "-q", "--deadline-warn", "0.001",
                             "--trace-output", str(path)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # stopped once it has written samples, however long a busy machine takes
    wait_until(lambda: _counted(path, proc) >= 2, "two samples in the trace")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=PATIENCE_S)
    assert proc.returncode == 130 and "Traceback" not in err, err
    events = json.loads(path.read_text())
    check_trace(events)
    kinds = {e["ph"] for e in events}
    assert {"M", "C", "i"} <= kinds  # names, counters, and deadline warnings
    assert any(e["name"].endswith(" idle") for e in events)
