"""Parsing what real bpftool runs printed (tests/data, captured on a 6.18 kernel)."""

import json
import os

import pytest
from conftest import DATA, need_bpf

from orchestrator.errors import LotteryError
from orchestrator.kernel import parse, procstat, tools


def _text() -> str:
    return (DATA / "task_map.json").read_text()


def _formatted(text: str) -> list:
    return [row["formatted"] for row in json.loads(text)]


def _all(items) -> list:
    """Every task sample of a dump, live rows of any snapshot and exit rows alike."""
    return [parse.task_sample(item) for item in items]


def test_task_rows_read_fields_by_btf_name():
    tasks = _all(_formatted(_text()))
    by_comm = {t.comm: t for t in tasks}
    work = max((t for t in tasks if t.comm == "lottery-work" and t.nice == 5),
               key=lambda t: t.exit_seq)
    assert work.exited and work.exit_seq > 0
    assert work.runtime_ns > 100_000_000  # 1.5 s on a CPU it shared with two heavier groups
    assert work.switches == work.voluntary_switches + work.involuntary_switches
    assert not by_comm["kthreadd"].exited and by_comm["kthreadd"].pid == 2
    assert work.cpus_allowed == 1 and by_comm["kthreadd"].cpus_allowed == os.cpu_count()
    assert by_comm["kthreadd"].group == 1  # the root task group
    assert by_comm["kthreadd"].ppid == 0 and work.ppid > 1


def test_names_bpftool_prints_as_numbers_become_readable_text():
    comms = {t.comm for t in _all(_formatted(_text()))}
    assert {"café", "new\\nline", "bad\\xff"} <= comms


def test_group_rows_give_the_hierarchy_with_weights():
    groups = parse.group_rows(_formatted((DATA / "groups.json").read_text()))
    root = groups[1]
    assert root.kind == "root" and root.parent == 0
    capture = next(g for g in groups.values() if g.name == "lottery-capture")
    assert capture.kind == "cgroup" and capture.parent == 1
    assert capture.shares == 2 * root.shares  # cpu.shares 2048 against the root's 1024
    sessions = [g for g in groups.values() if g.kind == "autogroup"]
    assert sessions and all(g.parent == 1 and g.number > 0 for g in sessions)


@pytest.mark.parametrize("chunk", [1, 7, 11, 12, 13, 100, 4096, 1 << 20])
def test_streaming_parse_matches_whole_parse_at_any_chunk_size(chunk):
    text = _text()
    pieces = [text[i:i + chunk] for i in range(0, len(text), chunk)]
    assert list(parse.iter_formatted(pieces)) == _formatted(text)


def test_hostile_comm_cannot_fake_a_row():
    rows = json.loads(_text())[:2]
    rows[0]["formatted"]["value"]["comm"] = '"formatted":{"key":{}}}]'
    text = json.dumps(rows, separators=(",", ":"))
    pieces = [text[i:i + 5] for i in range(0, len(text), 5)]
    assert list(parse.iter_formatted(pieces)) == [r["formatted"] for r in rows]


@pytest.mark.parametrize("cut", [0.5, 0.999, -1])
def test_truncated_output_is_an_error_not_a_short_map(cut):
    text = _text().rstrip()
    end = len(text) - 1 if cut == -1 else int(len(text) * cut)  # -1: only "]" lost
    with pytest.raises(LotteryError, match="ended"):
        list(parse.iter_formatted([text[:end]]))


def test_empty_map_is_no_rows():
    assert list(parse.iter_formatted(["[", "]\n"])) == []


def test_bpftool_error_document_is_reported():
    need_bpf()  # a real bpftool, on a pin that does not exist
    argv = [tools.require("bpftool"), "-j", "map", "dump", "pinned", "/sys/fs/bpf/lottery-none"]
    with pytest.raises(LotteryError, match="bpftool map dump failed: bpf obj get"):
        list(parse.iter_formatted(tools.stream(argv, what="bpftool map dump")))


def test_output_that_is_no_array_is_refused():
    with pytest.raises(LotteryError, match="not a JSON array"):
        list(parse.iter_formatted(['{"maps": []}']))


def test_map_without_btf_names_is_refused_with_the_fix():
    rows = json.loads(_text())
    for row in rows:
        del row["formatted"]
    with pytest.raises(LotteryError, match="no BTF field names"):
        list(parse.iter_formatted([json.dumps(rows)]))


def test_the_snapshot_gives_its_number_and_its_info_by_btf_name():
    number = parse.snapshot_number((DATA / "snapshot_line.txt").read_text())
    entries = [r["formatted"] for r in json.loads((DATA / "snapshots.json").read_text())]
    info = parse.snapshot_info(entries, number)
    assert info.snapshot == number and info.rows > 50 and info.dropped == 0
    assert info.exits > 0 and info.end_ns > info.start_ns
    assert info.full and info.live_rows == info.rows  # a slot's first walk writes every task
    assert info.retired_runtime_ns > 0 and info.retired_runs > 0
    assert parse.snapshot_info(entries, number + 1) is None  # its slot's next walk


def test_garbage_snapshot_line_is_refused():
    with pytest.raises(LotteryError, match="not its number"):
        parse.snapshot_number("hello\n")


def test_one_entry_maps_give_their_value():
    counters = parse.map_value(json.loads((DATA / "counters.json").read_text()))
    assert set(counters) >= {"snapshots", "exits", "exits_lost", "groups_lost"}
    settings = parse.map_value(json.loads((DATA / "settings.json").read_text()))
    assert settings == {"max_tasks": 0, "exit_retain_ns": 10_000_000_000,
                        "group_idle_ns": 10_000_000_000}  # load's defaults


def test_proc_stat_idle_is_idle_plus_iowait_per_cpu():
    text = (DATA / "proc_stat.txt").read_text()
    idle = procstat.parse_idle(text)
    cpu0 = next(line.split() for line in text.splitlines() if line.startswith("cpu0 "))
    assert [i.cpu for i in idle] == [0, 1]
    assert idle[0].idle_ns == (int(cpu0[4]) + int(cpu0[5])) * 10_000_000


def test_a_walks_sum_of_the_exits_it_passed_over_is_a_row_of_its_group():
    """A reader's map after 1,300 short processes between two walks (captured,
    trimmed to three rows of each kind and the sum): the exits beyond the
    ones a walk lists come as one row per task group, apart from the exits."""
    data = json.loads((DATA / "task_map_summed.json").read_text())
    rows = parse.task_rows((r["formatted"] for r in data["rows"]), data["snapshot"])
    assert len(rows.live) == 3 and len(rows.exits) == 3 and len(rows.summed) == 1
    (summed,) = rows.summed
    assert summed.pid == 0 and summed.start_ns == summed.group > 0
    assert summed.exit_seq > 100 and summed.runtime_ns > summed.exit_seq * 1000
    assert summed.exited and all(t.exited for t in rows.exits)
    assert parse.task_rows((r["formatted"] for r in data["rows"]), data["snapshot"] + 1) == \
        ([], [], [], frozenset())  # another walk's


def test_a_live_row_marked_as_taken_over_is_named_so():
    """`walked` on a live row marks a key a thread's exec took over as the
    walk ran (the reader keeps the key's row it had); on an exit row it says
    a walk had found the task alive, and marks nothing taken."""
    data = json.loads((DATA / "task_map_summed.json").read_text())
    items = [r["formatted"] for r in data["rows"]]
    rows = parse.task_rows(items, data["snapshot"])
    assert rows.taken == frozenset()
    live = [i for i in items if i["key"]["exited"] == 0]
    exited = [i for i in items if i["key"]["exited"] == 1]
    marked = {**live[1], "value": {**live[1]["value"], "walked": 1}}
    walked_exit = {**exited[0], "value": {**exited[0]["value"], "walked": 1}}
    rows = parse.task_rows([marked if i is live[1] else walked_exit if i is exited[0] else i
                            for i in items], data["snapshot"])
    assert rows.taken == {(marked["key"]["pid"], marked["key"]["start_ns"])}
    assert len(rows.live) == 3  # still a live row: the reader decides what to keep
