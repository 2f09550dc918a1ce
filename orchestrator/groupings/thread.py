"""One group per thread: the task itself."""

from orchestrator.groupings import Grouping
from orchestrator.records import TaskRecord


def _name(record: TaskRecord) -> str:
    return f"{record.comm}/{record.pid}"


THREAD = Grouping("thread", "one row per thread", key=lambda r: r.key,
                  namer=lambda tasks: _name, per_task=True)
