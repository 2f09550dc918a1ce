"""Cgroup paths by id, read from the real cpu hierarchy (kernfs: a cgroup's
id is its directory's inode number): the hierarchy is read again only for
an id newer than every directory it held when last read."""

from __future__ import annotations

import os

from orchestrator.kernel.cgroup_dirs import CgroupDirs, cpu_hierarchy


def _id(path) -> int:
    return os.stat(path).st_ino


def test_ids_name_their_directories_and_known_ones_read_nothing_again(cgroups):
    outer = cgroups.make("kubepods.slice", 1024)
    inner = cgroups.make("docker-" + "0f" * 32 + ".scope", 1024, parent=outer)
    dirs = CgroupDirs(cpu_hierarchy())
    assert dirs.path(_id(inner)) == f"/{cgroups.root.name}/kubepods.slice/{inner.name}"
    assert dirs.path(_id(outer)) == f"/{cgroups.root.name}/kubepods.slice"
    assert dirs.path(_id(cpu_hierarchy())) == "/"
    assert dirs.readings == 1


def test_a_newer_directory_is_read_again_and_a_removed_one_is_not(cgroups):
    first = cgroups.make("first", 1024)
    dirs = CgroupDirs(cpu_hierarchy())
    assert dirs.path(_id(first)) is not None
    later = cgroups.make("later", 1024)
    assert dirs.path(_id(later)) == f"/{cgroups.root.name}/later"
    assert dirs.readings == 2
    gone = _id(first)
    first.rmdir()
    dirs.path(_id(later) + 1_000_000)  # newer than any: a reading that finds no `first`
    assert dirs.path(gone) is None
    assert dirs.path(gone) is None
    assert dirs.readings == 3  # older than the last reading's newest: not read again


def test_without_a_hierarchy_no_id_has_a_path():
    dirs = CgroupDirs(None)
    assert dirs.path(12345) is None
    assert dirs.path(99999) is None
    assert dirs.readings == 1
