"""lottery unload: detach the program and remove every pin of an instance."""

from __future__ import annotations

import sys

from orchestrator.constants import EXIT_OK
from orchestrator.kernel import bpffs, tools
from orchestrator.paths import Pins


def present(pins: Pins) -> list[str]:
    """Return the pins of this instance that exist (root-only dir: ask as root)."""
    candidates = [str(p) for p in pins.all() if p.parent != pins.dir] + [str(pins.dir)]
    out = tools.run(["sh", "-c", 'for p; do [ -e "$p" ] && echo "$p"; done; true', "sh",
                     *candidates], elevate=True, what="listing pins")
    return out.split()


def remove(pins: Pins) -> list[str]:
    """Remove the pin directory and every override pin; return what was there.

    Removing the link pins detaches the programs: nothing else holds them."""
    found = present(pins)
    if found:
        bpffs.check_pin_dir(pins.dir)
        tools.run(["rm", "-rf", "--", *found], elevate=True, what="removing pins")
    return found


def unload(pins: Pins) -> int:
    """Detach and unpin; idempotent, so unloading twice is not an error."""
    found = remove(pins)
    if not found:
        print(f"lottery: not loaded (nothing pinned at {pins.dir}); nothing to do", file=sys.stderr)
        return EXIT_OK
    print(f"unloaded: removed {', '.join(found)}")
    return EXIT_OK
