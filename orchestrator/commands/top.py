"""lottery top: the live view of a loaded instance."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

from orchestrator import metrics, snapshot, tickets
from orchestrator.analysis import Analyser
from orchestrator.commands.dump import check_interval
from orchestrator.constants import EXIT_OK, EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.paths import Pins
from orchestrator.sampler import Sampler, bpftool_source
from orchestrator.sinks.live import GROUPINGS, Frame, Frames, TopApp


def frames(pins: Pins, model: tickets.TicketModel, interval_s: float) -> Frames:
    """Frames of the instance, one per interval, until the stop event is set
    (which also cuts the wait between samples short)."""
    def run(stop: threading.Event) -> Iterator[Frame]:
        sampler = Sampler(bpftool_source(pins), metrics.Reader(model), interval_s,
                          sleep=stop.wait)
        analyser = Analyser(hierarchical=model.hierarchical)
        for tick in sampler.ticks(None):
            if stop.is_set():
                return
            yield Frame(tick.sample, analyser.analyse(tick.sample), tick.interval_s)
    return run


def top(pins: Pins, interval_s: float, ticket_model: str, by: str) -> int:
    check_interval(interval_s)
    if by not in GROUPINGS:
        raise LotteryError(f"--by {by!r} is not known", f"pass one of {', '.join(GROUPINGS)}",
                           code=EXIT_USAGE)
    model = tickets.model(ticket_model)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise LotteryError("lottery top needs a terminal",
                           "run it in one, or use lottery dump for output to a file or pipe",
                           code=EXIT_USAGE)
    snapshot.take(pins)  # fails here, in one line, if the instance cannot be read
    app = TopApp(frames(pins, model, interval_s), by=by)
    app.run()
    if app.failure:
        raise app.failure
    return EXIT_OK
