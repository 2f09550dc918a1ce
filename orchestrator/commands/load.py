"""lottery load: load the BPF object, attach it to sched_switch, pin it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from orchestrator import bounds, paths, units
from orchestrator.commands.unload import remove
from orchestrator.constants import (
    EXIT_LIST_RATE_DEFAULT,
    EXIT_OK,
    EXIT_RETAIN_S_DEFAULT,
    GROUP_IDLE_S_DEFAULT,
    READER_SLOTS,
)
from orchestrator.errors import LotteryError
from orchestrator.kernel import bpffs, btf, tools
from orchestrator.paths import Pins


def _remove_all(pins: Pins) -> None:
    """Remove an instance before loading in its place; raise if any of it stays."""
    _, left = remove(pins)
    if left:
        raise LotteryError(f"could not remove the instance at {pins.dir}: {left[0]}")


def _settings(obj: Path, pins: Pins, max_tasks: int | None, exit_retain_s: float,
              group_idle_s: float, listed_exits: int) -> None:
    """Write struct settings, laid out as the object's BTF says."""
    value = btf.object_struct(obj, "settings").pack({
        "max_tasks": max_tasks or 0, "exit_retain_ns": units.ns_from_s(exit_retain_s),
        "group_idle_ns": units.ns_from_s(group_idle_s), "exit_list_rate": listed_exits})
    # an array map's key is its index, a u32
    tools.run([tools.require("bpftool"), "map", "update", "pinned", str(pins.settings),
               "key", *btf.hex_bytes((0).to_bytes(4, sys.byteorder)),
               "value", *btf.hex_bytes(value)],
              what="setting --max-tasks, --exit-retention and --listed-exits")


def _loadall(obj: str, pins: Pins) -> None:
    bpftool = tools.require_autoattach_bpftool()
    try:
        tools.run([bpftool, "prog", "loadall", obj, str(pins.dir), "pinmaps", str(pins.dir),
                   "autoattach"], what="bpftool prog loadall")
    except LotteryError as err:
        _remove_all(pins)  # a failed load may have pinned maps already
        if "permission denied" in err.detail.lower() or "processed" in err.detail:
            err.problem = "the kernel's verifier rejected the program"
            err.fix = "its log ends with the lines below; rebuild with lottery build --force"
        raise


def _pin_readers(pins: Pins) -> None:
    """Pin the snapshot link once more per reader slot, twice: the walk tells
    the slot it serves, and whether to write every task, from the name its
    reader opened (kernel/snapshot.py)."""
    bpffs.make_dir(pins.reader(0).parent)
    # one bpftool for all 16 (a process each made every load 80 ms slower)
    tools.batch([f"link pin pinned {pins.snapshot_link} {pins.reader(slot, full)}"
                 for slot in range(READER_SLOTS) for full in (False, True)],
                what="bpftool link pin")


def _apply_overrides(pins: Pins) -> None:
    """Move pins where the seed's MAP_PIN/LINK_PIN/PROG_PIN ask for them."""
    for default, wanted in ((pins.dir / "tasks", pins.tasks),
                            (pins.dir / "on_switch", pins.switch_link)):
        if wanted != default:
            if os.path.lexists(wanted):
                raise LotteryError(f"{wanted} exists already",
                                   "unload the instance pinned there, or choose another path")
            bpffs.make_dir(wanted.parent)
            os.rename(default, wanted)  # bpffs supports rename within the mount
    if pins.prog:
        link = tools.bpftool(["link", "show", "pinned", str(pins.switch_link)])
        tools.run([tools.require("bpftool"), "prog", "pin", "id", str(link["prog_id"]),
                   str(pins.prog)], what="bpftool prog pin")


def load(pins: Pins, obj: str | None = None, max_tasks: int | None = None,
         force: bool = False, exit_retain_s: float = EXIT_RETAIN_S_DEFAULT,
         group_idle_s: float = GROUP_IDLE_S_DEFAULT,
         listed_exits: int = EXIT_LIST_RATE_DEFAULT) -> int:
    """Load and attach; refuse a second load of the same instance unless force."""
    if not tools.is_root():
        raise LotteryError("load needs root", "run sudo lottery load")
    bounds.check("--max-tasks", max_tasks)
    bounds.check("--exit-retention", exit_retain_s)
    bounds.check("--listed-exits", listed_exits)
    obj_path = paths.bpf_object(obj)
    if not obj_path.is_file():
        raise LotteryError(f"no BPF object at {obj_path}",
                           "run lottery build in this directory first, or pass --obj")
    if bpffs.ensure_mounted():
        print("mounted bpffs at /sys/fs/bpf")
    pins.checked()
    if pins.switch_link.exists() or pins.tasks.exists():
        if not force:
            raise LotteryError(f"already loaded at {pins.dir}",
                               "run lottery unload first, or load --force to replace it")
        _remove_all(pins)
    bpffs.make_dir(pins.dir)
    _loadall(str(obj_path), pins)
    try:
        _settings(obj_path, pins, max_tasks, exit_retain_s, group_idle_s, listed_exits)
        _pin_readers(pins)
        _apply_overrides(pins)
        link = tools.bpftool(["link", "show", "pinned", str(pins.switch_link)])
    except BaseException:
        _remove_all(pins)  # a half-made instance would stay attached to the scheduler
        raise
    print(f"loaded {obj_path.name}: prog {link['prog_id']} attached to "
          f"{link.get('tp_name', 'sched_switch')} (link {link['id']}), pinned under {pins.dir}")
    return EXIT_OK
