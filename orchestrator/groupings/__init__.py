"""What tasks are grouped by, in one vocabulary for every view: the rows of
`dump --by` and of `lottery top` (the g key), and the `group` label of the
exporter (`serve --group-by`).  One decoder per file; a new grouping is
one more file and one line in GROUPINGS."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.records import TaskRecord

# Given the tasks of a frame, what names each task's group.
Namer = Callable[[Sequence[TaskRecord]], Callable[[TaskRecord], str]]


@dataclass(frozen=True)
class Grouping:
    name: str
    help: str
    key: Callable[[TaskRecord], Hashable]  # the group a task is in
    namer: Namer                           # the group's name, as a label shows it
    per_task: bool = False  # a group per thread: too many for the exporter's labels
    counts: bool = False    # its groups hold many processes: show how many threads
    by_path: bool = False   # its groups are task groups: their path names them
    # a task's group is read from its task group alone: a row summing a task
    # group's exits (state summed) belongs to one too
    of_task_group: bool = False
    # Groups named otherwise than by a command or a path: the header of the
    # column of their names, and a name as a tight column shows it.
    title: str | None = None
    short: Callable[[str], str] = str
    # What the exporter labels a group's series with besides `group`, read
    # from its key; and the table columns that show more of a group after
    # its name (for tasks and processes: their task group and nice).
    labels: tuple[str, ...] = ()
    label_values: Callable[[Hashable], tuple[str, ...]] = lambda key: ()
    detail: tuple[str, ...] = ("group", "nice")


def _load() -> dict[str, Grouping]:
    from orchestrator.groupings import comm, container, group, process, thread
    return {g.name: g for g in (thread.THREAD, process.PROCESS, comm.COMM, group.GROUP,
                                container.CONTAINER)}


GROUPINGS = _load()
NAMES = tuple(GROUPINGS)
LABELS = tuple(name for name, g in GROUPINGS.items() if not g.per_task)


def get(name: str, option: str = "--by", allowed: Sequence[str] = NAMES) -> Grouping:
    """The grouping named on the command line; a usage error naming the choices."""
    if name not in allowed:
        raise LotteryError(f"{option} {name!r} is not known", f"pass one of {', '.join(allowed)}",
                           code=EXIT_USAGE)
    return GROUPINGS[name]
