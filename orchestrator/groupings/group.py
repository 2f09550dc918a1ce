"""One group per task group (cgroup or autogroup), by its path: the
scheduler's currencies (/autogroup-41, /A/B)."""

from orchestrator.groupings import Grouping


def _path(record) -> str:
    return record.group or ""


GROUP = Grouping("group", "one row per task group", key=_path, namer=lambda tasks: _path,
                 counts=True, by_path=True, of_task_group=True)
