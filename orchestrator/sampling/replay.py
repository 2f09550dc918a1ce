"""The replay source: a dump's recording (CSV or NDJSON) as frames again, the
same frames a loaded instance gives, so that dump, top and the views run
without root or a kernel.

Everything comes from the records through the one field list: the rows and
their deltas, the recorded analysis (shares, wins, EWMA, EDF), what could
not be seen.  Task groups are rebuilt from their paths; their weights were
not recorded, and nothing here needs them: the shares are the recorded ones."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from orchestrator import units
from orchestrator.analysis import shares
from orchestrator.analysis.analyser import Analysis, RowAnalysis
from orchestrator.analysis.edf import EdfEstimate
from orchestrator.kernel.records import CpuIdle, Group, Snapshot, SnapshotInfo, TaskSample
from orchestrator.sampling.deltas import Conservation, IdleRow, Sample, TaskRow
from orchestrator.sampling.sampler import Frame
from orchestrator.sinks import record

_UNKNOWN_GROUP = (1 << 62) - 1  # a path of "?": no group the recording knew
_UNSEEN = re.compile(r"\((\d+) exits not seen\)")

Row = dict[str, object]


class _Groups:
    """Task groups rebuilt from the paths a recording shows."""

    def __init__(self) -> None:
        self.by_id: dict[int, Group] = {1: Group(1, 0, "root", 0, "", 1024, False)}
        self._ids: dict[str, int] = {"/": 1}

    def id_of(self, path: object) -> int:
        if not path:
            return 0
        if path == "?":
            return _UNKNOWN_GROUP
        if path in self._ids:
            return self._ids[path]
        parent_path, _, name = str(path).rpartition("/")
        parent = self.id_of(parent_path or "/")
        gid = len(self._ids) + 100
        found = re.fullmatch(r"autogroup-(\d+)", name) if parent == 1 else None
        self.by_id[gid] = (Group(gid, parent, "autogroup", int(found.group(1)), "", 1024, False)
                           if found else Group(gid, parent, "cgroup", gid, name, 1024, False))
        self._ids[str(path)] = gid
        return gid


def _zero(value: object) -> int:
    return 0 if value is None else value


def _task(r: Row, gid: int, ts_ns: int) -> TaskSample:
    return TaskSample(
        r["pid"], _zero(r["start_ns"]), r["tgid"], r["comm"], _zero(r["nice"]),
        _zero(r["policy"]), r["cpu"], r["runtime_ns"], _zero(r["wait_ns"]),
        _zero(r["wait_max_ns"]), _zero(r["runs"]), _zero(r["voluntary_switches"]),
        _zero(r["involuntary_switches"]), r["state"] != "alive", _zero(r["cpus_allowed"]), gid,
        ts_ns)


def _unseen(r: Row) -> int:
    if r["state"] != "unseen":
        return 0
    found = _UNSEEN.fullmatch(str(r["comm"]))
    return int(found.group(1)) if found else 1


def _analysis(r: Row) -> RowAnalysis:
    share = None
    if r["contention_group"] is not None:
        share = shares.Share(r["contention_group"], r["ticket_share"] or 0.0,
                             r["expected_share"] or 0.0, r["observed_share"] or 0.0)
    estimate = None
    if r["period_ms"] is not None and r["runs_delta"]:
        estimate = EdfEstimate(r["runs_delta"], units.ns_from_ms(r["period_ms"]),
                               (r["runtime_delta_ns"] or 0) / r["runs_delta"],
                               r["utilisation"] or 0.0, units.ns_from_ms(r["response_ms"]))
    return RowAnalysis(share, r["lottery_wins"], r["lottery_win_rate"],
                       r["ewma_runtime_delta_ns"], estimate)


def _frame(n: int, ts: float, here: list[Row], before: float | None, groups: _Groups,
           asked_s: float) -> Frame:
    ts_ns = units.ns_from_s(ts)
    tasks, idle, found = [], [], {}
    for r in here:
        if r["state"] == "idle":
            idle.append(IdleRow(CpuIdle(r["cpu"], r["runtime_ns"]), r["runtime_delta_ns"]))
            continue
        task = _task(r, groups.id_of(r["group"]), ts_ns)
        tasks.append(TaskRow(task, r["tickets"], r["runtime_delta_ns"], r["wait_delta_ns"],
                             r["switches_delta"], r["runs_delta"], _unseen(r)))
        found[task.key] = _analysis(r)
    interval_ns = units.ns_from_s(ts - before) if before is not None else 0
    check = None
    if interval_ns > 0 and idle:
        check = Conservation(len(idle), interval_ns,
                             sum(t.runtime_delta_ns or 0 for t in tasks),
                             sum(i.idle_delta_ns or 0 for i in idle))
    first = here[0]
    live = tuple(t.task for t in tasks if not t.task.exited)
    info = SnapshotInfo(n, ts_ns, ts_ns, len(live), _zero(first["dropped"]), 0, 0, 0, len(live),
                        0)
    snap = Snapshot(info, ts, live, (), tuple(i.idle for i in idle), groups.by_id)
    sample = Sample(snap, tasks, idle, check, _zero(first["exits_missed"]))
    by_task = {k: a.share for k, a in found.items() if a.share}
    analysis = Analysis(found, shares.fairness(by_task), {}, [], 0)
    interval_s = units.s(interval_ns) if interval_ns else asked_s
    return Frame(sample, analysis, interval_s, asked_s or interval_s)


def replay_frames(path: Path, pace_s: float = 0.0, count: int | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> Iterator[Frame]:
    """The frames of a recording, in order; `pace_s` seconds apart (0: at once)."""
    samples: dict[float, list[Row]] = {}
    for row in record.read(path):
        samples.setdefault(row["timestamp_s"], []).append(row)
    groups = _Groups()
    before = None
    for n, ts in enumerate(sorted(samples)):
        if count is not None and n >= count:
            return
        if n and pace_s:
            sleep(pace_s)
        yield _frame(n + 1, ts, samples[ts], before, groups, pace_s)
        before = ts
