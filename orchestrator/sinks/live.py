"""The live view (lottery top): a full-screen dashboard of a loaded instance.

Tasks or groups with their observed share against the expected one (a bar,
and a sparkline of each row's recent history), the contention sets, and
sparklines of conservation and fairness.  Samples come from a frame source
running in a worker thread; the screen only draws.  Keys: q quit, s sort,
g group by, p pause, / filter."""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Input, Sparkline, Static

from orchestrator import units
from orchestrator.analysis import currencies
from orchestrator.analysis.analyser import Analysis
from orchestrator.errors import LotteryError
from orchestrator.kernel import names
from orchestrator.sampling.deltas import TaskRow
from orchestrator.sampling.sampler import Frame
from orchestrator.sinks import table

# A frame source: given an event that says stop, yield frames until it is set.
Frames = Callable[[threading.Event], Iterator[Frame]]

SORTS = ("cpu", "error", "wait", "pid")
GROUPINGS = table.GROUPINGS
HISTORY = 12          # samples a row's sparkline remembers
BAR = 10              # characters of the share bar
_TICKS = "▁▂▃▄▅▆▇█"
_WIDE = 110           # from this many columns on, the table shows more columns


def spark(values: list[float]) -> str:
    """Shares (0..1) as one character each, low to high."""
    return "".join(_TICKS[min(len(_TICKS) - 1, int(v * len(_TICKS)))] for v in values)


def bar(observed: float | None, expected: float | None, width: int = BAR) -> str:
    """The observed share as a filled bar, the expected share as a mark: │."""
    if observed is None:
        return ""
    cells = ["█" if i < round(observed * width) else " " for i in range(width)]
    if expected is not None:
        cells[min(width - 1, int(expected * width))] = "│"
    return "".join(cells)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def _sort_key(name: str):
    return {
        "cpu": lambda g: g.runtime_delta_ns or 0,
        "error": lambda g: abs(g.observed - g.expected) if g.expected is not None else -1,
        "wait": lambda g: g.wait_delta_ns or 0,
        "pid": lambda g: -g.pid,
    }[name]


def _row_key(name: str, analysis: Analysis):
    """_sort_key for a row, which by thread is a group of its own."""
    if name == "error":
        found = analysis.rows

        def error(row: TaskRow) -> float:
            a = found.get(row.task.key)
            s = a.share if a else None
            return abs(s.observed - s.expected) if s else -1
        return error
    return {
        "cpu": lambda r: r.runtime_delta_ns or 0,
        "wait": lambda r: r.wait_delta_ns or 0,
        "pid": lambda r: -r.task.pid,
    }[name]


_SHOWN = 200  # rows the table holds: more than a screen, few enough to redraw


class TopApp(App[None]):
    """lottery top."""

    TITLE = "lottery top"
    CSS = """
    #status { height: 2; padding: 0 1; }
    .spark-row { height: 1; }
    Sparkline { height: 1; width: 1fr; }
    .label { width: 22; padding: 0 1; }
    #filter { dock: bottom; display: none; }
    #filter.shown { display: block; }
    DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("s", "sort", "sort"),
        Binding("g", "group", "group by"),
        Binding("p", "pause", "pause"),
        Binding("slash", "filter", "filter"),
    ]

    def __init__(self, frames: Frames, by: str = "thread", sort: str = "cpu"):
        super().__init__()
        self._frames = frames
        self.by, self.sort, self.paused, self.pattern = by, sort, False, ""
        self._stop = threading.Event()
        self._last: Frame | None = None
        self._history: dict[object, deque[float]] = {}
        self._conservation: deque[float] = deque(maxlen=60)
        self._fairness: deque[float] = deque(maxlen=60)
        self.frames_shown = 0
        self.failure: LotteryError | None = None

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first sample...", id="status")
        with Horizontal(classes="spark-row"):
            yield Static("conservation error", classes="label")
            yield Sparkline([], id="conservation")
        with Horizontal(classes="spark-row"):
            yield Static("fairness (Jain)", classes="label")
            yield Sparkline([], id="fairness")
        yield DataTable(id="tasks", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="filter: a name or a regular expression, Enter to apply",
                    id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._sample, thread=True, exclusive=True)

    def on_unmount(self) -> None:
        self._stop.set()

    def _sample(self) -> None:
        """In the worker thread: take frames until told to stop.  A failure
        (the instance unloaded, say) ends the app with it."""
        try:
            for frame in self._frames(self._stop):
                if self._stop.is_set():
                    return
                self.call_from_thread(self.show, frame)
        except LotteryError as err:
            self.failure = err
            self.call_from_thread(self.exit)

    # drawing

    def show(self, frame: Frame) -> None:
        check = frame.sample.conservation
        if check:
            self._conservation.append(abs(check.error))
        index = next((f.index for f in frame.analysis.fairness if f.index is not None), None)
        if index is not None:
            self._fairness.append(index)
        if self.paused:
            return
        self._last = frame
        self._draw()
        self.frames_shown += 1

    def _rows(self, frame: Frame) -> list:
        path = currencies.Paths(frame.sample.snapshot.groups)
        rows = table.without_self(frame.sample).tasks
        named = names.matcher([self.pattern]) if self.pattern else None
        if named and self.by == "thread":  # a thread's group holds its name and path
            rows = [r for r in rows if named(r.task.comm) or named(path[r.task.group])]
        elif named:
            groups = [g for g in table.group(rows, self.by, frame.analysis, path)
                      if named(g.comm) or named(g.group)]
            return heapq.nlargest(_SHOWN, groups, key=_sort_key(self.sort))
        return table.top_groups(rows, self.by, frame.analysis, path, _SHOWN,
                                _sort_key(self.sort), _row_key(self.sort, frame.analysis))

    def _draw(self) -> None:
        frame = self._last
        if frame is None:
            return
        check = frame.sample.conservation
        when = datetime.fromtimestamp(frame.sample.snapshot.timestamp_s).strftime("%H:%M:%S")
        sets = "; ".join(f"{f.group} {f.index:.3f} ({f.tasks})" for f in frame.analysis.fairness
                         if f.index is not None)
        error = f"{100 * check.error:+.2f}%" if check else "-"
        state = "PAUSED  " if self.paused else ""
        self.query_one("#status", Static).update(
            f"{state}{when}  {frame.interval_s:.3f} s  {len(frame.sample.tasks)} tasks  "
            f"conservation {error}  by {self.by}  sort {self.sort}"
            + (f"  filter {self.pattern!r}" if self.pattern else "")
            + f"\nJain's index: {sets or '-'}")
        self.query_one("#conservation", Sparkline).data = list(self._conservation)
        self.query_one("#fairness", Sparkline).data = list(self._fairness)
        wide = self.size.width >= _WIDE
        tasks = self.query_one("#tasks", DataTable)
        tasks.clear(columns=True)
        first = "THREADS" if self.by in ("comm", "group") else "PID"
        # rows that are groups are named by their path
        labels = [first, "GROUP" if self.by == "group" else "COMM", "SET", "CPU %", "EXP %",
                  "OBS %", "OBSERVED│EXPECTED", "HISTORY"]
        if wide and self.by != "group":
            labels[2:2] = ["GROUP", "NICE"]
            labels[-2:-2] = ["ERR pp", "WAIT ms"]
        tasks.add_columns(*labels)
        interval = check.interval_ns if check else 0
        for g in self._rows(frame):
            key = (self.by, g.pid if self.by in ("thread", "process") else g.comm
                   if self.by == "comm" else g.group)
            history = self._history.setdefault(key, deque(maxlen=HISTORY))
            if g.observed is not None:
                history.append(g.observed)
            cpu = _pct(g.runtime_delta_ns / interval) if interval and g.runtime_delta_ns \
                is not None else ""
            cells = [g.threads if self.by in ("comm", "group") else g.pid,
                     g.group if self.by == "group" else g.comm, next(iter(g.contention), "")
                     if len(g.contention) == 1 else "", cpu, _pct(g.expected),
                     _pct(g.observed), bar(g.observed, g.expected), spark(list(history))]
            if wide:
                error = None if g.expected is None else g.observed - g.expected
                if self.by != "group":
                    cells[2:2] = [g.group, "" if g.nice is None else g.nice]
                cells[-2:-2] = [_pct(error), "" if g.wait_delta_ns is None
                                else f"{units.ms(g.wait_delta_ns):.1f}"]
            tasks.add_row(*cells)

    # keys

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._draw()

    def action_group(self) -> None:
        self.by = GROUPINGS[(GROUPINGS.index(self.by) + 1) % len(GROUPINGS)]
        self._draw()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._draw()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.value = self.pattern
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.pattern = event.value.strip()
        event.input.remove_class("shown")
        self.query_one("#tasks", DataTable).focus()
        self._draw()

    def on_resize(self) -> None:
        self._draw()
