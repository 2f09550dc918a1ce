"""One group per command name (comm), whatever process or task group."""

from orchestrator.groupings import Grouping


def _comm(record) -> str:
    return record.comm


COMM = Grouping("comm", "one row per command name", key=_comm, namer=lambda tasks: _comm,
                counts=True)
