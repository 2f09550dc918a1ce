"""Result tables (an experiment's rows, a simulation's tasks) as CSV files,
each written whole (files.write_atomically).  A result type lists its
columns once, each with how its cell is read from a result and how many
decimals it keeps: the header and the cells come from that one list."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

from orchestrator import files


@dataclass(frozen=True)
class Column:
    name: str
    read: Callable[[Any], object]
    digits: int | None = None  # a float with this many decimals

    def cell(self, result: object) -> object:
        value = self.read(result)
        if self.digits is not None and value is not None:
            return f"{value:.{self.digits}f}"
        return value


def column(name: str, attribute: str | None = None, digits: int | None = None) -> Column:
    """A column read from the result's attribute (its own name, unless given)."""
    return Column(name, attrgetter(attribute or name), digits)


def write_csv(path: Path, columns: Sequence[Column], results: Iterable[object]) -> int:
    """Replace `path` with a CSV of `results`; return how many rows."""
    rows = [[c.cell(r) for c in columns] for r in results]
    files.write_atomically(path, files.csv_text([c.name for c in columns], rows))
    return len(rows)
