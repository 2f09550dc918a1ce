"""What crosses the kernel/user boundary is defined once, in
bpf/sched_lottery.h: the records Python reads by field name name only
fields the compiled object's BTF has, the snapshot info field for field,
struct settings is laid out by that BTF, and the sizes Python uses are the
header's own."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from orchestrator import constants, header
from orchestrator.kernel import btf, tools
from orchestrator.records import Group, SnapshotInfo, TaskSample


@pytest.fixture(scope="module")
def layout(bpf_object):
    dump = tools.bpftool(["btf", "dump", "file", str(bpf_object), "format", "raw"],
                         elevate=False)
    return lambda name: btf.struct(dump["types"], name)


def _names(record) -> set[str]:
    return {f.name for f in dataclasses.fields(record) if f.init}


def test_a_task_sample_reads_only_what_the_task_map_holds(layout):
    held = set(layout("task_key").members) | set(layout("task_stats").members)
    assert _names(TaskSample) <= held, _names(TaskSample) - held


def test_the_snapshot_info_is_the_struct_field_for_field(layout):
    assert list(layout("snapshot_info").members) == [f.name for f in
                                                     dataclasses.fields(SnapshotInfo)]


def test_a_group_reads_only_what_the_groups_map_holds(layout):
    derived = {"id", "exited_switches"}  # the key; voluntary + involuntary
    held = set(layout("group").members)
    assert _names(Group) - derived <= held, _names(Group) - derived - held
    assert {"exited_voluntary_switches", "exited_involuntary_switches"} <= held


def test_settings_are_laid_out_by_the_objects_btf(layout):
    settings = layout("settings")
    packed = settings.pack({"exit_retain_ns": 7})
    member = settings.members["exit_retain_ns"]
    assert len(packed) == settings.size
    assert int.from_bytes(packed[member.offset:member.offset + member.size],
                          sys.byteorder) == 7
    with pytest.raises(Exception, match="has no field nonsense"):
        settings.pack({"nonsense": 1})


def test_the_sizes_python_uses_are_the_headers():
    defined = header.defines()
    assert constants.TASKS_CAPACITY == defined["TASKS_CAPACITY"] == 131072
    assert constants.EXIT_RING == defined["EXIT_RING"]
    assert constants.GROUPS_CAPACITY == defined["GROUPS_CAPACITY"]
    assert constants.SNAPSHOT_SLOTS == defined["SNAPSHOT_SLOTS"]
    assert constants.GROUP_NAME_LEN == defined["GROUP_NAME_LEN"]
    assert constants.EXIT_RETAIN_S_DEFAULT * 1e9 == defined["EXIT_RETAIN_NS_DEFAULT"]
    assert defined["TASK_MAP_ENTRIES"] == (defined["TASKS_CAPACITY"] + defined["EXIT_RING"]
                                           + 1024)  # an expression of defines above it
    assert constants.GROUP_KINDS == {defined["GROUP_ROOT"]: "root",
                                     defined["GROUP_CGROUP"]: "cgroup",
                                     defined["GROUP_AUTOGROUP"]: "autogroup",
                                     defined["GROUP_GONE"]: "gone"}


def test_a_define_that_is_no_number_is_passed_over():
    found = header.parse_defines('#define A 3\n#define B (A << 2) /* why */\n'
                                 '#define NAME "text"\n#define F(x) (x)\n#define C 10ULL\n')
    assert found == {"A": 3, "B": 12, "C": 10}
