"""lottery top: the live view of a loaded instance."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from orchestrator import bounds, groupings
from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Frame, live_frames, recorded, replay_frames
from orchestrator.constants import EXIT_OK, EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.kernel import snapshot
from orchestrator.paths import Pins
from orchestrator.records import RecordedSample
from orchestrator.sinks.live import Frames, TopApp


def frames(pins: Pins, model: tickets.TicketModel, interval_s: float) -> Frames:
    """Frames of the instance, one per interval, until the stop event is set
    (which also cuts the wait between samples short)."""
    def run(stop: threading.Event) -> Iterator[Frame]:
        for frame in live_frames(pins, model, interval_s, sleep=stop.wait):
            if stop.is_set():
                return
            if not frame.reloaded:  # a new baseline: the next frame shows
                yield frame
    return run


def replayed(samples: list[RecordedSample], pace_s: float) -> Frames:
    """Frames of a recording, `pace_s` apart, until the stop event is set."""
    def run(stop: threading.Event) -> Iterator[Frame]:
        for frame in replay_frames(samples, pace_s, sleep=stop.wait):
            if stop.is_set():
                return
            yield frame
    return run


def top(pins: Pins, interval_s: float, ticket_model: str, by: str,
        replay: Path | None = None) -> int:
    bounds.check("--interval", interval_s)
    groupings.get(by)
    model = tickets.model(ticket_model)
    samples = recorded(replay) if replay else None  # no recording: one line, here
    if samples is not None and len(samples) < 2:
        raise LotteryError(f"{replay} holds one sample, and top shows how shares change "
                           "from one sample to the next", f"see it with lottery dump --replay "
                           f"{replay}, or record more samples", code=EXIT_USAGE)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise LotteryError("lottery top needs a terminal",
                           "run it in one, or use lottery dump for output to a file or pipe",
                           code=EXIT_USAGE)
    if samples is not None:
        source = replayed(samples, interval_s)
    else:
        snapshot.require_loaded(pins)
        snapshot.take(pins)  # fails here, in one line, if the instance cannot be read
        source = frames(pins, model, interval_s)
    app = TopApp(source, by=by)
    app.run()
    if app.failure:
        raise app.failure
    if app.stopped_by:
        with contextlib.suppress(OSError):  # a terminal that went away takes no line
            print("lottery: interrupted", file=sys.stderr)
        return app.stopped_by
    return EXIT_OK if not app.return_code else app.return_code
