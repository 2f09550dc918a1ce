"""A prometheus_client custom collector: every scrape reads the instance
once and yields fresh metric families, so concurrent scrapes cannot race on
shared metric objects and a group that vanished leaves no stale series.
Scrapes take turns (one reader, one place in the order of exits)."""

from __future__ import annotations

import importlib.metadata
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from orchestrator import groupings, units, waits
from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Pipeline, bpftool_source
from orchestrator.errors import LotteryError
from orchestrator.exporter import bandwidth
from orchestrator.exporter.totals import OTHER, Label, Series, Totals
from orchestrator.kernel import snapshot, tools
from orchestrator.paths import Pins

GROUP_BY = groupings.LABELS
_STATS = Path("/proc/sys/kernel/bpf_stats_enabled")


def _seconds(ns: float) -> float:
    return ns / units.NS_PER_S


def _labeller(grouping: groupings.Grouping):
    """A task's labels: its group's name (`group`), then the grouping's own
    (a container's id and pod uid)."""
    def labeller(tasks):
        name_of, key_of, values = grouping.namer(tasks), grouping.key, grouping.label_values
        if not grouping.labels:
            return lambda r: (name_of(r),)
        return lambda r: (name_of(r), *values(key_of(r)))
    return labeller


class Collector:
    """Reads the instance at `pins` at every scrape; counters per group of
    tasks (`group_by`), at most `max_groups` of them, and per PID for `pids`."""

    def __init__(self, pins: Pins, group_by: str = "comm", max_groups: int = 100,
                 pids: tuple[int, ...] = ()):
        self._pins = pins
        self._source = bpftool_source(pins)
        self._pipeline = Pipeline(tickets.WEIGHT)
        self._lock = threading.Lock()
        grouping = groupings.get(group_by, "--group-by", GROUP_BY)
        self._labels = ["group", *grouping.labels]
        # the series of groups beyond the cap: group="other", the rest blank
        other = (OTHER, *("" for _ in grouping.labels))
        self._groups = Totals(_labeller(grouping), max_groups, other, sums=grouping.of_task_group)
        self._max_groups = max_groups
        wanted = set(pids)
        self._pids = Totals(lambda tasks: lambda r: (str(r.tgid),) if r.tgid in wanted else None,
                            len(wanted), (OTHER,)) if wanted else None
        self._dropped = 0
        self._missed = 0
        self._passed = 0
        self._capacity: int | None = None
        self._programs: dict[str, int] | None = None
        self._last_error = ""
        self._cpu_waits: dict[str, waits.Running] = {}

    def close(self) -> None:
        """Give the reader slot back."""
        self._source.close()

    def read_once(self) -> None:
        """Read the instance now, raising what fails (before serving)."""
        with self._lock:
            self._read()

    def describe(self) -> list[Metric]:
        """Every family's name, with no sample: the registry learns the names
        (for ?name[]= filters) without reading the instance."""
        names = [*_families("lottery", ["group"], {}), *_families("lottery_pid", ["pid"], {}),
                 *bandwidth.families({}, 0)]
        names += [CounterMetricFamily(name, "") for name in (
            "lottery_cpu_idle_seconds", "lottery_tasks_dropped", "lottery_exits_missed",
            "lottery_exits_passed",
            "lottery_bpf_run_seconds", "lottery_bpf_runs")]
        names.append(HistogramMetricFamily("lottery_cpu_runqueue_latency_seconds", ""))
        names += [GaugeMetricFamily(name, "") for name in (
            "lottery_groups_folded", "lottery_map_entries", "lottery_map_capacity",
            "lottery_up", "lottery_build_info", "lottery_scrape_duration_seconds")]
        return names

    def collect(self) -> Iterator[Metric]:
        start = time.perf_counter()
        with self._lock:
            try:
                families = self._read()
                up = 1
            except (LotteryError, OSError) as err:
                families, up = [], 0
                line = err.line() if isinstance(err, LotteryError) else \
                    f"lottery: reading the instance failed: {err.strerror or err}"
                if line != self._last_error:  # once per kind of failure, not per scrape
                    print(line, file=sys.stderr, flush=True)
                    self._last_error = line
        yield from families
        yield GaugeMetricFamily("lottery_up", "1 if the last scrape read the instance.", up)
        info = GaugeMetricFamily("lottery_build_info", "lottery's version.",
                                 labels=["version"])
        info.add_metric([importlib.metadata.version("lottery")], 1)
        yield info
        yield GaugeMetricFamily("lottery_scrape_duration_seconds",
                                "Seconds this scrape took to read the instance.",
                                time.perf_counter() - start)

    def _read(self) -> list[Metric]:
        snap = self._source.take()
        frame = self._pipeline.frame(snap)
        if frame.reloaded:
            # loaded again: the pipeline took this reading as a new baseline
            # (the counters keep their totals); its maps and programs are new
            self._capacity = self._programs = None
        self._dropped += frame.seen.dropped
        self._missed += max(0, frame.seen.exits_missed)
        self._passed += frame.seen.exits_passed
        if self._capacity is None:
            self._capacity = snapshot.capacity(self._pins)
        out = _families("lottery", self._labels, self._groups.update(frame))
        out.append(GaugeMetricFamily(
            "lottery_groups_folded", "Groups of live tasks counted under group=\"other\" "
            "(--max-groups).", self._groups.folded))
        if self._pids is not None:
            out += _families("lottery_pid", ["pid"], self._pids.update(frame))
        out += bandwidth.families(snap.groups, self._max_groups)
        idle = CounterMetricFamily("lottery_cpu_idle_seconds", "Idle time per CPU.",
                                   labels=["cpu"])
        for cpu in frame.idle:
            idle.add_metric([str(cpu.cpu)], _seconds(cpu.runtime_ns))
        out.append(idle)
        for cpu in frame.idle:
            if cpu.wait_slots:
                self._cpu_waits.setdefault(str(cpu.cpu), waits.Running()).add(
                    cpu.wait_slots, cpu.wait_delta_ns)
        out.append(_latency("lottery_cpu_runqueue_latency_seconds", "Run-queue waits that "
                            "ended on each CPU, by length, since the exporter started.",
                            ["cpu"], {(cpu,): (tuple(run.counts), run.sum_ns)
                                      for cpu, run in self._cpu_waits.items()}))
        out.append(GaugeMetricFamily("lottery_map_entries", "Rows in the task map.",
                                     frame.seen.live_rows + frame.seen.exit_rows))
        out.append(GaugeMetricFamily("lottery_map_capacity", "Live rows the task map may "
                                     "hold (load --max-tasks).", self._capacity))
        out.append(CounterMetricFamily("lottery_tasks_dropped", "Tasks left out of this "
                                       "exporter's readings: the task map was full.",
                                       self._dropped))
        out.append(CounterMetricFamily("lottery_exits_missed", "Exits whose rows left the "
                                       "map before this exporter read them.", self._missed))
        out.append(CounterMetricFamily("lottery_exits_passed", "Exits of short-lived tasks "
                                       "beyond those a reading lists (load --listed-exits): "
                                       "summed per task group, not one row each.",
                                       self._passed))
        out += self._program_stats()
        return out

    def _program_stats(self) -> list[Metric]:
        """Run time and count of the instance's programs, which the kernel
        counts only while kernel.bpf_stats_enabled is 1."""
        try:
            if _STATS.read_text().strip() != "1":
                return []
        except OSError:
            return []
        if self._programs is None:
            self._programs = {
                name: tools.bpftool(["link", "show", "pinned", str(pin)])["prog_id"]
                for name, pin in (("on_switch", self._pins.switch_link),
                                  ("snapshot", self._pins.snapshot_link))}
        shown = {p["id"]: p for p in tools.bpftool(["prog", "show"])}
        seconds = CounterMetricFamily("lottery_bpf_run_seconds", "Time the kernel spent in "
                                      "lottery's BPF programs.", labels=["program"])
        runs = CounterMetricFamily("lottery_bpf_runs", "Runs of lottery's BPF programs.",
                                   labels=["program"])
        for name, prog_id in self._programs.items():
            prog = shown.get(prog_id, {})
            if "run_time_ns" in prog:
                seconds.add_metric([name], _seconds(prog["run_time_ns"]))
                runs.add_metric([name], prog.get("run_cnt", 0))
        return [seconds, runs]


def _latency(name: str, text: str, labels: list[str],
             histograms: dict[Label, tuple[tuple[int, ...], int]]) -> Metric:
    """A Prometheus histogram of run-queue waits: buckets at powers of two
    microseconds (runqlat's slots), `le` in seconds."""
    family = HistogramMetricFamily(name, text, labels=labels)
    for values, (slots, sum_ns) in sorted(histograms.items()):
        buckets, seen = [], 0
        for slot, n in enumerate(slots):
            seen += n
            bound = waits.upper_us(slot)
            # whole: 2.097152 s rounded to 2.09715 would lie below the slot's bound
            buckets.append(("+Inf" if bound == float("inf") else repr(bound / 1e6), seen))
        if not buckets or buckets[-1][0] != "+Inf":
            buckets.append(("+Inf", seen))
        family.add_metric(list(values), buckets, _seconds(sum_ns))
    return family


def _families(prefix: str, labels: list[str], series: dict[Label, Series]) -> list[Metric]:
    cpu = CounterMetricFamily(f"{prefix}_cpu_seconds", "CPU time of the tasks, since they "
                              "started (exited ones while the exporter read).", labels=labels)
    wait = CounterMetricFamily(f"{prefix}_runqueue_wait_seconds", "Time the tasks waited "
                               "to run while runnable.", labels=labels)
    switches = CounterMetricFamily(f"{prefix}_context_switches", "Context switches out of "
                                   "the CPU.", labels=[*labels, "kind"])
    expected = CounterMetricFamily(f"{prefix}_expected_cpu_seconds", "CPU time a lottery "
                                   "with the tasks' funded tickets would have given them, "
                                   "since the exporter started.", labels=labels)
    tasks = GaugeMetricFamily(f"{prefix}_tasks", "Live tasks (threads).", labels=labels)
    held = GaugeMetricFamily(f"{prefix}_tickets", "Tickets (weights) of the tasks that ran "
                             "or waited since the last reading.", labels=labels)
    for values, s in sorted(series.items()):
        cpu.add_metric(values, _seconds(s.numbers.cpu_ns))
        wait.add_metric(values, _seconds(s.numbers.wait_ns))
        switches.add_metric([*values, "voluntary"], s.numbers.voluntary)
        switches.add_metric([*values, "involuntary"], s.numbers.involuntary)
        expected.add_metric(values, _seconds(s.expected_ns))
        tasks.add_metric(values, s.tasks)
        held.add_metric(values, s.tickets)
    latency = _latency(f"{prefix}_runqueue_latency_seconds", "Run-queue waits of the "
                       "tasks by length, since the exporter started.", labels,
                       {values: (s.waits, s.waits_ns) for values, s in series.items()
                        if s.waits or s.waits_ns})
    return [cpu, wait, switches, expected, tasks, held, latency]
