"""Cgroup directories by id: the path of a task group the groups map holds
only in part.

The BPF walk records at most GROUP_DEPTH levels above a task, and nothing of
a group the map had no room for.  The rest of such a path is where the
kernel keeps it: a cgroup's id is its kernfs node's, which is also the inode
number of its directory in the hierarchy that holds the cpu controller
(/sys/fs/cgroup/cpu on v1, /sys/fs/cgroup on v2).

Reading that hierarchy costs a directory listing per cgroup, so it is read
only when asked for an id newer than every directory the last reading saw:
kernfs numbers its nodes in the order they are made, so an older id that
the reading did not find was removed before it.  On a host whose deep
cgroups stay, the hierarchy is read once."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.kernel.names import escape


def cpu_hierarchy() -> Path | None:
    """Where the cpu controller's cgroups are here; None without one."""
    from orchestrator.kernel.cgroups import controller

    found = controller()
    return found[0] if found else None


class CgroupDirs:
    """Paths of cgroup directories by id, read from the hierarchy at `root`
    (None: there is none here, and no id has a path)."""

    def __init__(self, root: Path | None):
        self._root = root
        self._paths: dict[int, str] = {}
        self._newest = -1  # the highest id the last reading saw
        self.readings = 0  # how often the hierarchy was read

    def path(self, cgroup_id: int) -> str | None:
        """'/A/B' for the directory whose id is `cgroup_id`, '/' for the
        hierarchy's root; None when there is none (removed, or no hierarchy)."""
        found = self._paths.get(cgroup_id)
        if found is None and cgroup_id > self._newest:
            self._read()
            found = self._paths.get(cgroup_id)
        return found

    def _read(self) -> None:
        self.readings += 1
        if self._root is None:
            self._newest = 2**64  # nothing to find, now or later
            return
        paths: dict[int, str] = {}
        try:
            top = os.stat(self._root).st_ino
        except OSError:
            self._newest = 2**64
            return
        paths[top] = "/"
        pending = [(os.fspath(self._root), "")]
        while pending:
            where, shown = pending.pop()
            try:
                entries = list(os.scandir(where))
            except OSError:
                continue  # removed while it was read
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    # d_ino from the listing: kernfs gives it the node's id
                    inner = f"{shown}/{escape(os.fsencode(entry.name))}"
                    paths[entry.inode()] = inner
                    pending.append((entry.path, inner))
        self._paths = paths
        self._newest = max(paths)
