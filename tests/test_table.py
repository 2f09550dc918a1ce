"""The table's grouped rows: sums only where they mean something, the
threads chosen before grouping as grouping all would order them, and this
process left out of the view."""

import os

import builders
from conftest import DATA

from orchestrator import groupings, records, waits
from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Frame, Pipeline, replay_frames
from orchestrator.records import TaskRecord
from orchestrator.sinks import rows, table

_BLANK = TaskRecord._make([None] * len(TaskRecord._fields))


def _record(pid, comm, path, nice, cpu_set):
    return _BLANK._replace(pid=pid, start_ns=pid, tgid=1, comm=comm, nice=nice, state="alive",
                           tickets=1024 if nice == 0 else 335, runtime_ns=10,
                           runtime_delta_ns=10, group=path, contention_group=cpu_set,
                           ticket_share=0.5, expected_share=0.5, observed_share=0.5)


def _grouped(found, by):
    return rows.aggregate(found, groupings.GROUPINGS[by])


def test_shares_of_different_contention_groups_are_not_added():
    (sh,) = _grouped([_record(1, "sh", "/", 0, "cpu0"), _record(2, "sh", "/A", 5, "cpu1")],
                     "comm")
    assert sh.expected is None and sh.observed is None
    assert sh.group == "(2 groups)" and sh.nice is None and sh.tickets is None
    assert sh.threads == 2


def test_one_contention_group_adds_up():
    (a,) = _grouped([_record(1, "x", "/A", 0, "cpu1"), _record(2, "y", "/A", 0, "cpu1")],
                    "group")
    assert a.group == "/A" and a.expected == 1.0 and a.nice == 0 and a.tickets == 1024


def test_choosing_threads_before_grouping_them_keeps_the_order_of_grouping_all():
    # a recorded dump: every record a thread, many with equal keys (ties keep their order)
    thread = groupings.GROUPINGS["thread"]
    for frame in replay_frames(records.read(DATA / "recording.csv")):
        everything = rows.aggregate(frame.tasks, thread)
        for sort, (group_key, _) in rows.SORTS.items():
            for top in (1, 3, len(frame.tasks) + 1):
                chosen = rows.top_groups(frame.tasks, thread, sort, top)
                assert chosen == sorted(everything, key=group_key, reverse=True)[:top]


def test_a_view_leaves_out_this_process_and_what_it_started_and_nothing_else():
    me = os.getpid()
    tasks = [builders.task(me, tgid=me, comm="lottery"),
             builders.task(me + 1, tgid=me, comm="lottery"),  # its threads
             builders.task(900001, ppid=me, comm="sudo"),
             builders.task(900002, ppid=900001, comm="bpftool"),
             builders.task(900004, ppid=1, comm="sshd"),
             builders.task(900005, ppid=900004, comm="bash")]
    # a bpftool this process ran and that exited in the interval is its own too
    gone = builders.task(900003, ppid=me, comm="bpftool", exited=True, exit_seq=0)
    pipeline = Pipeline(tickets.WEIGHT)
    pipeline.frame(builders.snap(1, 0, tasks))
    frame = pipeline.frame(builders.snap(2, 10, tasks, [gone], exits_before=1))
    assert [r.comm for r in frame.without_self().tasks] == ["sshd", "bash"]
    assert [r.comm for r in frame.tasks] == [t.comm for t in [*tasks, gone]]  # files keep all


CONTAINER_ID = "9e" * 32
POD_UID = "5b6f1d2e-8c3a-4e9b-a7d1-0c2e4f6a8b9d"


def _by_container(wide: bool) -> list[str]:
    pod = f"/kubepods/burstable/pod{POD_UID}"
    found = [_record(1, "nginx", f"{pod}/{CONTAINER_ID}", 0, "cpu1"),
             _record(2, "nginx", f"{pod}/{CONTAINER_ID}/worker", 0, "cpu1"),
             _record(3, "pause", pod, 0, "cpu1"),
             _record(4, "sshd", "/system.slice/sshd.service", 0, "cpu1")]
    frame = Frame(1.7e9, tuple(found), (), 1.0, 1.0)
    grouping = groupings.get("container")
    shown = table.columns(None, wide, 0, grouping)
    out = table.render(frame, 10, "pid", grouping, shown, wide).splitlines()
    return out[1:out.index("conservation: needs two samples")]  # the header and the rows


def test_by_container_a_row_shows_its_short_id_and_pod_uid_within_the_tables_width():
    header, _, *lines = _by_container(wide=False)
    assert header.split()[:4] == ["THREADS", "CONTAINER", "POD", "UID"]
    assert max(map(len, (header, *lines))) <= table.WIDTH
    by_name = {line.split()[1]: line.split() for line in lines}
    assert set(by_name) == {CONTAINER_ID[:12], f"pod-{POD_UID[:8]}", "host"}
    assert by_name[CONTAINER_ID[:12]][:3] == ["2", CONTAINER_ID[:12], POD_UID]
    assert by_name[f"pod-{POD_UID[:8]}"][2] == POD_UID
    assert by_name["host"][2] != POD_UID
    assert CONTAINER_ID not in "\n".join(lines)


def test_by_container_wide_the_id_and_the_pods_group_are_whole():
    header, _, *lines = _by_container(wide=True)
    assert "POD UID" in header and "GROUP" in header
    text = "\n".join(lines)
    assert CONTAINER_ID in text and f"pod-{POD_UID}" in text and "(2 groups)" in text


def test_the_p99_column_is_each_rows_waits_and_a_processs_adds_its_threads():
    """tests/data/latency.csv (two tasks of a real dump waiting 2 to 4 ms a
    slice for each other): each row's p99 is its waits' (slot 11, 2048 to
    4095 us), and by process the two threads' histograms add up."""
    frames = list(replay_frames(records.read(DATA / "latency.csv")))
    frame = frames[-1]
    view = rows.View(groupings.get("thread"), None, 0)
    for r in frame.tasks:
        (g,) = rows.aggregate([r], groupings.get("thread"))
        (cell,) = rows.cells(g, ("p99",), view)
        assert 2048 <= float(cell) < 4096 and float(cell) == round(r.wait_p99_us)
    (both,) = rows.aggregate(frame.tasks, groupings.get("comm"))
    assert sum(both.waits) == sum(sum(waits.decode(r.wait_slots)) for r in frame.tasks)
    assert "P99 WAIT us" in table.render(frame, 5, "delta", groupings.get("thread"),
                                         ("pid", "comm", "p99"), False)
