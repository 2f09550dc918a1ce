"""lottery unload: detach the program and remove every pin of an instance.

Only objects verified as this instance's are removed: the pins named as
lottery names them in its directory, and wherever else bpffs holds a pin of
the same maps, programs or links (MAP_PIN, LINK_PIN, PROG_PIN, given now or
not).  Each path passes bpffs.check_pin first; what fails is left and named."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from orchestrator.constants import (
    EXIT_ERROR,
    EXIT_OK,
    PIN_NAMES,
    READER_SLOTS,
    SNAPSHOT_LINK_NAME,
    SWITCH_LINK_NAME,
)
from orchestrator.errors import LotteryError
from orchestrator.kernel import bpffs, tools
from orchestrator.paths import Pins

_LINKS = (SWITCH_LINK_NAME, SNAPSHOT_LINK_NAME)


def _show(kind: str, pin: Path) -> dict | None:
    try:
        return tools.bpftool([kind, "show", "pinned", str(pin)], elevate=False)
    except LotteryError:
        return None


def _pinned(pins: Pins) -> list[Path]:
    """Every pin of the instance: its own in its directory, then every bpffs
    path of the maps, programs and links behind them (bpftool -f names them)."""
    named = [(pins.dir / name, "link" if name in _LINKS else "map") for name in PIN_NAMES]
    named += [(pins.switch_link, "link"), (pins.tasks, "map")]
    if pins.prog:
        named.append((pins.prog, "prog"))
    found = [pin for pin, _ in named if bpffs.is_pin(pin)]
    # the reader slots' pins: more pins of the snapshot link, and maps the
    # program uses, found below through those; named here all the same (no
    # bpftool each: 24 of them made every unload 0.2 s slower)
    found += [pin for pin in (*(pins.reader(slot, full) for slot in range(READER_SLOTS)
                                for full in (False, True)),
                              *(pins.rows(slot) for slot in range(READER_SLOTS)))
              if bpffs.is_pin(pin)]
    ids: dict[str, set[int]] = {"map": set(), "prog": set(), "link": set()}
    for pin, kind in named:
        info = _show(kind, pin) if pin in found else None
        if info:
            ids[kind].add(info["id"])
            if kind == "link":
                ids["prog"].add(info["prog_id"])
    if not any(ids.values()):
        return list(dict.fromkeys(found))
    shown = {kind: tools.bpftool(["-f", kind, "show"], elevate=False) for kind in ids}
    # the programs that use the instance's maps, and the links of those programs
    for prog in shown["prog"]:
        if prog["id"] in ids["prog"] or ids["map"] & set(prog.get("map_ids", ())):
            ids["prog"].add(prog["id"])
            ids["map"].update(prog.get("map_ids", ()))
    ids["link"].update(link["id"] for link in shown["link"]
                       if link.get("prog_id") in ids["prog"])
    found += [Path(p) for kind, rows in shown.items() for row in rows
              if row.get("id") in ids[kind] for p in row.get("pinned", ())]
    return list(dict.fromkeys(found))


def remove(pins: Pins) -> tuple[list[Path], list[str]]:
    """Remove the instance's pins and its directory; return what was removed
    and what was left, with why.  Removing the links detaches the programs."""
    if not tools.is_root():
        raise LotteryError("unload needs root", "run sudo lottery unload")
    pins.checked()
    removed: list[Path] = []
    left: list[str] = []
    for pin in _pinned(pins):
        try:
            bpffs.check_pin(pin)
            os.unlink(pin)
            removed.append(pin)
        except LotteryError as err:
            left.append(err.problem)
        except OSError as err:
            left.append(f"{pin}: {err.strerror}")
    readers = pins.reader(0).parent
    with contextlib.suppress(FileNotFoundError, OSError):
        if not os.listdir(readers):
            os.rmdir(readers)
            removed.append(readers)
    try:
        others = sorted(os.listdir(pins.dir))
    except FileNotFoundError:
        others = []
    if others:
        left.append(f"{pins.dir} holds {', '.join(others)}, not pins of lottery")
    elif pins.dir.exists():
        os.rmdir(pins.dir)
        removed.append(pins.dir)
    return removed, left


def unload(pins: Pins) -> int:
    """Detach and unpin; idempotent, so unloading twice is not an error."""
    removed, left = remove(pins)
    for why in left:
        print(f"lottery: left {why}", file=sys.stderr)
    if not removed and not left:
        print(f"lottery: not loaded (nothing pinned at {pins.dir}); nothing to do",
              file=sys.stderr)
        return EXIT_OK
    if removed:
        elsewhere = [str(p) for p in removed if p != pins.dir and pins.dir not in p.parents]
        print(f"unloaded: removed {sum(pins.dir in p.parents for p in removed)} pins"
              + (f" in {pins.dir}" if pins.dir in removed or not elsewhere else "")
              + (f" and {', '.join(elsewhere)}" if elsewhere else ""))
    return EXIT_ERROR if left else EXIT_OK
