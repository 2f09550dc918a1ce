"""lottery status: is an instance loaded, and how full is its map."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator import units
from orchestrator.constants import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_RETAIN_S_DEFAULT,
    EXIT_RING,
    GROUPS_CAPACITY,
    READER_SLOTS,
    TASKS_CAPACITY,
)
from orchestrator.errors import LotteryError
from orchestrator.kernel import parse, snapshot, tools
from orchestrator.paths import Pins


@dataclass(frozen=True)
class Status:
    loaded: bool
    prog_id: int | None = None
    link_id: int | None = None
    attach_point: str | None = None
    loaded_at: str | None = None
    run_count: int | None = None
    max_tasks: int | None = None
    exit_retain_s: float | None = None
    snapshots: int | None = None
    exits: int | None = None
    exits_lost: int | None = None
    groups: int | None = None
    groups_lost: int | None = None
    readers: int | None = None  # reader slots held


def _when(epoch_s: int | str | None) -> str | None:
    """bpftool -j gives load time in epoch seconds."""
    if isinstance(epoch_s, int):
        return datetime.fromtimestamp(epoch_s).astimezone().isoformat(timespec="seconds")
    return epoch_s


def read_status(pins: Pins) -> Status:
    """Ask bpftool about the pinned link, its program and the counters."""
    try:
        link = tools.bpftool(["link", "show", "pinned", str(pins.switch_link)])
    except LotteryError as err:
        if "No such file" in err.problem:
            return Status(loaded=False)
        raise
    prog = tools.bpftool(["prog", "show", "id", str(link["prog_id"])])
    counters = parse.map_value(tools.bpftool(["map", "dump", "pinned", str(pins.counters)]))
    settings = snapshot.settings(pins)
    groups = tools.bpftool(["map", "dump", "pinned", str(pins.groups)])
    return Status(
        loaded=True,
        prog_id=link["prog_id"],
        link_id=link["id"],
        attach_point=link.get("tp_name"),
        loaded_at=_when(prog.get("loaded_at")),
        run_count=prog.get("run_cnt"),
        max_tasks=settings["max_tasks"] or TASKS_CAPACITY,
        exit_retain_s=units.s(settings["exit_retain_ns"]) or EXIT_RETAIN_S_DEFAULT,
        snapshots=counters["snapshots"],
        exits=counters["exits"],
        exits_lost=counters["exits_lost"],
        groups=len(groups),
        groups_lost=counters["groups_lost"],
        readers=snapshot.slots_held(pins) if tools.is_root() else None,
    )


def status(pins: Pins) -> int:
    """Print the instance's state; exit 1 when it is not loaded."""
    pins.checked()
    st = read_status(pins)
    print(f"pin directory:  {pins.dir}")
    print(f"task map:       {pins.tasks}")
    print(f"switch link:    {pins.switch_link}")
    if pins.prog:
        print(f"program pin:    {pins.prog}")
    if not st.loaded:
        print("state:          not loaded (run sudo lottery load)")
        return EXIT_ERROR
    print("state:          loaded")
    print(f"program:        id {st.prog_id}, loaded at {st.loaded_at}")
    print(f"link:           id {st.link_id}, attached to {st.attach_point}")
    # The live rows are as of the latest snapshot: a dump shows them, and
    # what did not fit, per sample.
    print(f"live rows:      at most {st.max_tasks} (--max-tasks)")
    print(f"exits:          {st.exits} since load, each kept {st.exit_retain_s:g} s "
          f"(at most the newest {EXIT_RING}); {st.exits_lost} could not be written")
    print(f"task groups:    {st.groups} of {GROUPS_CAPACITY}"
          + (f"; {st.groups_lost} did not fit (their exits count in the root's totals)"
             if st.groups_lost else ""))
    print(f"snapshots:      {st.snapshots}")
    if st.readers is not None:
        print(f"readers:        {st.readers} of {READER_SLOTS} slots held"
              + ("; a new reader waits for one" if st.readers == READER_SLOTS else ""))
    return EXIT_OK
