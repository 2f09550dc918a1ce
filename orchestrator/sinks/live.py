"""The live view (lottery top): a full-screen dashboard of a loaded instance.

Tasks or groups with their observed share against the expected one (a bar,
and a sparkline of each row's recent history), the contention sets, and
sparklines of conservation and fairness.  Frames come from a source running
in a thread of its own; the screen only draws.  Keys: q quit, s sort,
g group by, p pause, / filter.  The columns are those of the dump table
(sinks/rows.py): a header and its cells come from one entry, at any size
and in any grouping."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Input, Sparkline, Static

from orchestrator import groupings, waits
from orchestrator.analysis.frames import Frame
from orchestrator.errors import LotteryError
from orchestrator.kernel import names
from orchestrator.sinks import latency, rows

# A frame source: given an event that says stop, yield frames until it is set.
Frames = Callable[[threading.Event], Iterator[Frame]]

SORTS = ("delta", "error", "deficit", "wait", "pid")  # what s cycles through (sinks/rows.SORTS)
GROUPINGS = groupings.NAMES
HISTORY = 12          # samples a row's sparkline remembers
_WIDE = 110           # from this many columns on, the table shows more columns
_SHOWN = 200          # rows the table holds: more than a screen, few enough to redraw
# A name's cells at most: a task may name itself 15 bytes that print escaped
# as 60 characters, and one such name pushed every row's shares off an
# 80-column screen.
_NAME_CELLS = 24
# The exit status of a stop by signal, as the rest of lottery gives it.
_STOPS = {signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGINT: 128 + signal.SIGINT}


class TaskTable(Static):
    """The rows as one text of aligned columns, scrolled by its container.
    Not a DataTable: that renders every cell through Rich's layout, about
    0.3 ms a cell, and top spent 130 ms of CPU a second redrawing its ~400
    cells on screen with nothing else going on (190 ms beside 3,000 tasks
    and a fork loop), more than a dump's whole sample."""

    def __init__(self, **options) -> None:
        super().__init__("", markup=False, **options)  # names are text, never markup
        self.headers: tuple[str, ...] = ()
        self.rows: list[tuple[str, ...]] = []

    def show(self, headers: list[str], body: list[list[object]]) -> str:
        """Show `body` under `headers`; return the header line, which the
        screen keeps above the scrolled rows."""
        self.headers = tuple(headers)
        self.rows = [tuple(str(c) for c in row) for row in body]
        widths = [max([cell_len(h), *(cell_len(r[i]) for r in self.rows)])
                  for i, h in enumerate(self.headers)]

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(c + " " * (w - cell_len(c))
                             for c, w in zip(cells, widths, strict=True)).rstrip()
        lines = [line(row) for row in self.rows]
        text = Text("\n".join(lines), no_wrap=True, overflow="crop", end="")
        start = 0
        for n, shown in enumerate(lines):  # zebra stripes, as the table had
            if n % 2:
                text.stylize("on grey15", start, start + len(shown))
            start += len(shown) + 1
        self.update(text)
        return line(self.headers)


def _failed(error: Exception) -> LotteryError:
    return LotteryError(f"lottery top failed: {type(error).__name__}: {error}",
                        "please report it, with the terminal's size and the keys pressed")


def _below(found: list[rows.GroupRow]) -> str:
    """A line on the row furthest below what its tickets are worth, and why."""
    worst = max(found, key=lambda g: g.deficit_ms or 0.0, default=None)
    if worst is None or not worst.deficit_ms or worst.deficit_ms < 0.05:
        return "below share: -"
    return (f"below share: {worst.name} short {worst.deficit_ms:.1f} ms: "
            f"{rows.why(worst) or '-'}")


def _clip(text: str, cells: int) -> str:
    """`text` in at most `cells` terminal cells, its end marked where cut."""
    return text if cell_len(text) <= cells else set_cell_size(text, cells - 1) + "…"


def _fit(line: str, width: int) -> str:
    """One line of the status, cut to the terminal: a wrapped line would push
    the Jain's index line out of its three rows."""
    return line if len(line) <= width else line[:max(1, width - 1)] + "…"


def _waits_pane(found: list[rows.GroupRow]) -> str:
    """The run-queue waits of the rows shown, in the interval, as runqlat
    draws them (key l)."""
    counts: list[int] = []
    for g in found:
        waits.add(counts, g.waits)
    if not any(counts):
        return "run-queue waits of the rows shown: none in this interval"
    return latency.render_one(f"run-queue waits of the {len(found)} rows shown", counts)


def status_head(paused: bool, frame: Frame) -> str:
    """The status line's start: the sample's time, the interval it covers
    and its tasks (`make soak` reads top's intervals from it)."""
    when = datetime.fromtimestamp(frame.timestamp_s).strftime("%H:%M:%S")
    return (f"{'PAUSED  ' if paused else ''}{when}  {frame.interval_s:.3f} s  "
            f"{len(frame.tasks)} tasks")


def columns(width: int, grouping: groupings.Grouping) -> tuple[str, ...]:
    """The columns at this terminal width: who, where it competes, what it
    got against what it is owed; wide, also what tells its group apart (a
    task's group and nice, a container's pod), error and wait."""
    if width < _WIDE:
        return ("pid", "name", "set", "cpu", "expected", "observed", "bar", "history")
    more = () if grouping.by_path else grouping.detail
    return ("pid", "name", *more, "set", "cpu", "expected", "observed", "error", "wait", "p99",
            "bar", "history")


class TopApp(App[None]):
    """lottery top."""

    TITLE = "lottery top"
    CSS = """
    #status { height: 3; padding: 0 1; }
    .spark-row { height: 1; }
    Sparkline { height: 1; width: 1fr; }
    .label { width: 22; padding: 0 1; }
    #filter { dock: bottom; display: none; }
    #filter.shown { display: block; }
    #header { height: 1; text-wrap: nowrap; text-overflow: clip; }
    #table { height: 1fr; }
    #tasks { width: auto; text-wrap: nowrap; text-overflow: clip; }
    #latency { height: auto; max-height: 50%; display: none; padding: 0 1;
               text-wrap: nowrap; text-overflow: clip; }
    #latency.shown { display: block; }
    """
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("s", "sort", "sort"),
        Binding("g", "group", "group by"),
        Binding("p", "pause", "pause"),
        Binding("slash", "filter", "filter"),
        Binding("l", "latency", "waits"),
    ]

    def __init__(self, frames: Frames, by: str = "thread", sort: str = "delta"):
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
        self.stopped_by: int | None = None  # the exit status of a stop by signal

    def compose(self) -> ComposeResult:
        # Task names are any bytes a task chose: text, never markup (a name
        # "[/x]" is a closing tag to Rich, and ended top with a MarkupError).
        yield Static("waiting for the first sample...", id="status", markup=False)
        with Horizontal(classes="spark-row"):
            yield Static("conservation error", classes="label")
            yield Sparkline([], id="conservation")
        with Horizontal(classes="spark-row"):
            yield Static("fairness (Jain)", classes="label")
            yield Sparkline([], id="fairness")
        yield Static("", id="header", markup=False)
        with VerticalScroll(id="table"):
            yield TaskTable(id="tasks")
        yield Static("", id="latency", markup=False)
        yield Input(placeholder="filter: a name or a regular expression, Enter to apply",
                    id="filter")
        yield Footer()

    def on_mount(self) -> None:
        # A stop by signal ends the app at once, from its own loop: a terminal
        # that went away (SIGHUP) or a service manager (SIGTERM) waits for nothing.
        loop = asyncio.get_running_loop()
        for signum, status in _STOPS.items():
            loop.add_signal_handler(signum, self._stop_by, status)
        # A hang-up means the terminal is gone: there is no screen to restore,
        # and Textual's orderly exit would wait for ever on writes to it (seen:
        # its writer thread stuck with 30 writes queued).  top holds no file.
        loop.add_signal_handler(signal.SIGHUP, os._exit, 128 + signal.SIGHUP)
        # Frames come in a daemon thread: a sample under way (a bpftool dump)
        # does not hold the app's exit.
        threading.Thread(target=self._sample, name="lottery-top-frames", daemon=True).start()

    def _stop_by(self, status: int) -> None:
        self.stopped_by = status
        self._stop.set()
        self.exit(return_code=status)

    def on_unmount(self) -> None:
        self._stop.set()

    def _handle_exception(self, error: Exception) -> None:
        # Textual calls this with any error a handler raised: it would print a
        # traceback with its locals and leave with status 1 unnoticed.  Leave
        # with one line instead, through the command (commands/top.py).
        self.failure = _failed(error)
        self._stop.set()
        self.exit(return_code=1)

    def _sample(self) -> None:
        """In the frames thread: take frames until told to stop.  A failure
        (the instance unloaded, say, or a frame that could not be drawn) ends
        the app with it."""
        try:
            for frame in self._frames(self._stop):
                if self._stop.is_set():
                    return
                self.call_from_thread(self.show, frame)
        except LotteryError as err:
            self.failure = err
        except Exception as error:
            # A frame on its way while the app ends finds its screen gone:
            # that is the end, not a failure.  Drawing errors come back here
            # from the app's loop (not through _handle_exception): without
            # this the thread would die with a traceback and top would freeze.
            if self._stop.is_set():
                return
            self.failure = _failed(error)
        if not self._stop.is_set():
            self._stop.set()
            with contextlib.suppress(RuntimeError):  # the app ended meanwhile
                self.call_from_thread(self.exit, None, 1 if self.failure else 0)

    # drawing

    def show(self, frame: Frame) -> None:
        if self._stop.is_set():  # the app is ending: its widgets may be gone
            return
        check = frame.conservation
        if check:
            self._conservation.append(abs(check.error))
        index = next((f.index for f in frame.fairness if f.index is not None), None)
        if index is not None:
            self._fairness.append(index)
        if self.paused:
            return
        self._last = frame
        self._draw()
        self.frames_shown += 1

    def _rows(self, frame: Frame) -> list[rows.GroupRow]:
        grouping = groupings.GROUPINGS[self.by]
        tasks = frame.without_self().tasks
        named = names.matcher([self.pattern]) if self.pattern else None
        if named and grouping.per_task:  # a thread's row holds its name and path
            tasks = [r for r in tasks if named(r.comm) or named(r.group or "")]
        elif named:
            found = [g for g in rows.aggregate(tasks, grouping)
                     if named(g.comm) or named(g.group) or named(g.name)
                     or any(map(named, g.labels))]
            return heapq.nlargest(_SHOWN, found, key=rows.SORTS[self.sort][0])
        return rows.top_groups(tasks, grouping, self.sort, _SHOWN)

    def _draw(self) -> None:
        frame = self._last
        if frame is None:
            return
        self.query_one("#conservation", Sparkline).data = list(self._conservation)
        self.query_one("#fairness", Sparkline).data = list(self._fairness)
        grouping = groupings.GROUPINGS[self.by]
        shown = columns(self.size.width, grouping)
        found = self._rows(frame)
        check = frame.conservation
        sets = "; ".join(f"{f.group} {f.index:.3f} ({f.tasks})" for f in frame.fairness
                         if f.index is not None)
        error = f"{100 * check.error:+.2f}%" if check else "-"
        self.query_one("#status", Static).update(
            status_head(self.paused, frame) +
            f"  conservation {error}  by {self.by}  sort {self.sort}"
            + (f"  filter {self.pattern!r}" if self.pattern else "")
            + f"\nJain's index: {sets or '-'}"
            + "\n" + _fit(_below(found), self.size.width - 2))
        for g in found:
            history = self._history.setdefault((self.by, g.name), deque(maxlen=HISTORY))
            if g.observed is not None:
                history.append(g.observed)
        view = rows.View(grouping, check.interval_ns if check else None, frame.draws,
                         history=lambda g: rows.spark(self._history[(self.by, g.name)]))
        body = [rows.cells(g, shown, view) for g in found]
        if "name" in shown:
            at = shown.index("name")
            for cells in body:
                cells[at] = _clip(str(cells[at]), _NAME_CELLS)
        header = self.query_one("#tasks", TaskTable).show(rows.headers(shown, view), body)
        self.query_one("#header", Static).update(Text(header, style="bold", no_wrap=True))
        pane = self.query_one("#latency", Static)
        if pane.has_class("shown"):
            pane.update(_waits_pane(found))

    # keys

    async def action_quit(self) -> None:
        # Say stop before the screen goes: a frame already on its way from
        # the frames thread must find the app ending, not a screen without
        # its widgets (seen on a busy machine: NoMatches '#status' after q).
        self._stop.set()
        self.exit()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._draw()

    def action_group(self) -> None:
        self.by = GROUPINGS[(GROUPINGS.index(self.by) + 1) % len(GROUPINGS)]
        self._draw()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._draw()

    def action_latency(self) -> None:
        self.query_one("#latency", Static).toggle_class("shown")
        self._draw()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.value = self.pattern
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.pattern = event.value.strip()
        event.input.remove_class("shown")
        self.query_one("#table", VerticalScroll).focus()
        self._draw()

    def on_resize(self) -> None:
        self._draw()
