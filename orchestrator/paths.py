"""Where things live: pins of an instance, build outputs, BPF sources."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchestrator import constants as c
from orchestrator import header
from orchestrator.errors import LotteryError
from orchestrator.kernel import bpffs


@dataclass(frozen=True)
class Pins:
    """The bpffs paths of one loaded instance."""

    dir: Path
    switch_link: Path
    snapshot_link: Path
    tasks: Path
    groups: Path
    counters: Path
    settings: Path
    snapshots: Path
    prog: Path | None  # the seed's PROG_PIN: an extra pin of the program itself
    cpu_waits: Path

    def checked(self) -> Pins:
        """These pins, when root may follow them: the directory and every
        override pass bpffs.check_dir / check_pin.  Raises otherwise."""
        bpffs.check_dir(self.dir)
        for pin in (self.switch_link, self.tasks, self.prog):
            if pin is not None and pin.parent != self.dir:
                bpffs.check_pin(pin)
        return self

    def reader(self, slot: int, full: bool = False) -> Path:
        """The pin a reader of `slot` opens to walk (see kernel/snapshot.py)."""
        return self.dir / c.READERS_DIR_NAME / (f"{slot}-full" if full else str(slot))

    def rows(self, slot: int) -> Path:
        """The map a walk of `slot` writes."""
        return self.dir / f"{c.READER_ROWS_PREFIX}{slot}"

    def all(self) -> list[Path]:
        """Return every pin this instance may own, overrides included."""
        found = [self.dir / name for name in c.PIN_NAMES]
        found += [self.rows(slot) for slot in range(c.READER_SLOTS)]
        found += [self.switch_link, self.tasks]
        if self.prog:
            found.append(self.prog)
        return list(dict.fromkeys(found))


def pins(pin_dir: str | Path | None = None, map_pin: str | Path | None = None) -> Pins:
    """Resolve the pins from arguments, then the seed's environment overrides."""
    root = Path(pin_dir or os.environ.get(c.ENV_PIN_DIR) or c.DEFAULT_PIN_DIR)
    link = os.environ.get(c.ENV_LINK_PIN)
    tasks = map_pin or os.environ.get(c.ENV_MAP_PIN)
    prog = os.environ.get(c.ENV_PROG_PIN)
    return Pins(
        dir=root,
        switch_link=Path(link) if link else root / c.SWITCH_LINK_NAME,
        snapshot_link=root / c.SNAPSHOT_LINK_NAME,
        tasks=Path(tasks) if tasks else root / c.TASK_MAP_NAME,
        groups=root / c.GROUPS_MAP_NAME,
        counters=root / c.COUNTERS_MAP_NAME,
        settings=root / c.SETTINGS_MAP_NAME,
        snapshots=root / c.SNAPSHOTS_MAP_NAME,
        prog=Path(prog) if prog else None,
        cpu_waits=root / c.CPU_WAITS_MAP_NAME,
    )


def btf_path(override: str | Path | None = None) -> Path:
    """Return the kernel BTF to build against."""
    return Path(override or os.environ.get(c.ENV_BTF_PATH) or c.DEFAULT_BTF_PATH)


def build_dir(override: str | Path | None = None) -> Path:
    """Return the build directory; relative to the working directory, so that a
    later `sudo lottery load` from the same place finds what `build` made."""
    return Path(override or os.environ.get(c.ENV_BUILD_DIR) or c.DEFAULT_BUILD_DIR).absolute()


def bpf_object(obj: str | Path | None = None, build: str | Path | None = None) -> Path:
    """Return the BPF object that load uses."""
    return Path(obj).absolute() if obj else build_dir(build) / c.BPF_OBJECT


def bpf_sources() -> Path:
    """Return the directory holding the BPF program and its header: inside the
    installed package (pip install .), else the checkout's bpf/ (editable)."""
    found = header.sources()
    if found is None:
        raise LotteryError(f"the BPF sources ({c.BPF_SOURCE}) are not installed beside "
                           f"{Path(__file__).parent}", "reinstall lottery (pip install .)")
    return found
