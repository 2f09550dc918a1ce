"""The kernel's task groups read as the lottery paper's currencies.

A group's weight (cgroup v1 cpu.shares, v2 cpu.weight, an autogroup's
nice) is what it holds in its parent's currency; the tasks and groups inside
it split that by their own weights.  With autogroup on, every session in the
root cgroup is one such group, so nice counts only within a session."""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.header import define
from orchestrator.kernel.cgroup_dirs import CgroupDirs
from orchestrator.records import Group

NICE_0_WEIGHT = 1024
WEIGHT_IDLEPRIO = 3  # kernel/sched/sched.h: what an idle task or cpu.idle group weighs


def weight(group: Group, root: Group | None) -> float:
    """The group's weight on the scale where nice 0 is 1024 (tg->shares is in
    a fixed point whose unit the root group shows: it holds NICE_0_WEIGHT)."""
    if group.idle:
        return WEIGHT_IDLEPRIO
    unit = root.shares / NICE_0_WEIGHT if root and root.shares else 1
    return group.shares / unit


def root_of(groups: Mapping[int, Group]) -> Group | None:
    return next((g for g in groups.values() if g.kind == "root"), None)


def label(group: Group) -> str:
    """A group's level in a path: a cgroup's directory name (whole: the map
    holds NAME_MAX bytes), a session's autogroup, the totals of groups gone."""
    if group.kind == "autogroup":
        return f"autogroup-{group.number}"
    if group.kind == "gone":
        return "(gone)"  # totals of groups that went away
    return group.name or f"cgroup-{group.number}"


def chain(groups: Mapping[int, Group], gid: int) -> list[Group]:
    """The groups from the root down to `gid`; [] when it is not known."""
    out: list[Group] = []
    seen: set[int] = set()
    while gid in groups and gid not in seen:
        seen.add(gid)
        out.append(groups[gid])
        gid = groups[gid].parent
    return list(reversed(out))


def _cgroup_id(gid: int) -> bool:
    # autogroup ids (and the gone entry's) lie above every cgroup id
    return 0 < gid < define("GROUP_ID_AUTOGROUP")


def path(groups: Mapping[int, Group], gid: int, dirs: CgroupDirs | None = None) -> str:
    """'/', '/autogroup-41', '/A/B'.  Where the map holds a group's chain only
    in part (deeper than the BPF walk reads, or above a group it had no room
    for), the rest is read from `dirs` by cgroup id; '?' stands for what
    neither knows."""
    levels = chain(groups, gid)
    if not levels:
        if not gid:
            return ""
        found = dirs.path(gid) if dirs is not None and _cgroup_id(gid) else None
        return found or "?"
    top = levels[0]
    below = "/".join(label(g) for g in levels if g.kind != "root")
    if top.kind == "root" or not top.parent:
        return "/" + below
    # the map holds nothing above `top`: its own path says where it is
    above = dirs.path(top.number) if dirs is not None and top.kind == "cgroup" else None
    if above is None:
        return "?/" + below
    return above + below[len(label(top)):]


class Paths(dict):
    """Group paths of one snapshot, each built once: paths[gid] or paths(gid).
    A dict, so that the lookups of a sample's every task cost what a dict's do."""

    def __init__(self, groups: Mapping[int, Group], dirs: CgroupDirs | None = None):
        super().__init__()
        self._groups = groups
        self._dirs = dirs

    def __missing__(self, gid: int) -> str:
        found = self[gid] = path(self._groups, gid, self._dirs)
        return found

    __call__ = dict.__getitem__
