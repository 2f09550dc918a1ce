"""One group per process (thread group): named by its leader's command and
its tgid, since every process of a pool may share one name."""

from collections.abc import Callable, Sequence

from orchestrator.groupings import Grouping
from orchestrator.records import TaskRecord


def _namer(tasks: Sequence[TaskRecord]) -> Callable[[TaskRecord], str]:
    """The leader's name where the frame holds the leader (a thread may
    rename itself); the thread's own where it does not."""
    leaders = {r.pid: r.comm for r in tasks if r.pid == r.tgid and r.state == "alive"}
    return lambda r: f"{leaders.get(r.tgid, r.comm)}/{r.tgid}"


PROCESS = Grouping("process", "one row per process", key=lambda r: r.tgid, namer=_namer)
