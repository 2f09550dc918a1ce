"""Parsing what real bpftool runs printed (tests/data, captured on a 6.18 kernel)."""

import copy
import functools
import json
import os

import pytest
from conftest import DATA, need_bpf
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize("chunk", [1, 97, 4096, 1 << 20])
def test_exit_rows_a_reader_counted_are_passed_over_undecoded(chunk):
    text = _text()
    pieces = [text[i:i + chunk] for i in range(0, len(text), chunk)]
    everything = _formatted(text)
    seqs = sorted(r["value"]["exit_seq"] for r in everything if r["key"]["exited"])
    cut = seqs[len(seqs) // 2]
    kept = list(parse.iter_formatted(pieces, exits_from=cut))
    assert kept == [r for r in everything
                    if not r["key"]["exited"] or r["value"]["exit_seq"] >= cut]
    assert len(kept) < len(everything)


def _stable(row: dict) -> dict:
    """A task-map row less what every walk stamps on it."""
    value = row["formatted"]["value"]
    return {k: v for k, v in value.items() if k not in ("sampled_ns", "snapshot")}


def _dump_with(memo: parse.RowMemo, rows: list, chunk: int, snapshot: int) -> parse.TaskRows:
    """`rows` printed as bpftool does, read in chunks of `chunk` characters
    through the memo, as the reader of `snapshot` reads them."""
    text = json.dumps(rows, separators=(",", ":"))
    pieces = [text[i:i + chunk] for i in range(0, len(text), chunk)]
    try:
        return parse.task_rows(parse.iter_formatted(pieces, memo=memo, snapshot=snapshot),
                               snapshot, memo)
    finally:
        memo.done()


def _read_with(memo: parse.RowMemo, rows: list, chunk: int, snapshot: int) -> list:
    found = _dump_with(memo, rows, chunk, snapshot)
    # in the dump's order
    order = {(r["formatted"]["key"]["pid"], r["formatted"]["key"]["start_ns"],
              r["formatted"]["key"]["exited"]): i for i, r in enumerate(rows)}
    return sorted(found.live + found.exits, key=lambda t: order[(*t.key, int(t.exited))])


def _snapshot_of(rows: list) -> int:
    return next(r["formatted"]["value"]["snapshot"] for r in rows
                if not r["formatted"]["key"]["exited"])


def _fresh(rows: list, snapshot: int) -> list:
    """What a reader without a memo takes of a dump: the snapshot's live rows, every exit."""
    return [parse.task_sample(r["formatted"]) for r in rows
            if r["formatted"]["key"]["exited"] or r["formatted"]["value"]["snapshot"] == snapshot]


@pytest.mark.parametrize("chunk", [1, 97, 1 << 20])
def test_a_row_unchanged_since_the_last_walk_is_the_same_sample_and_said_so(chunk):
    # two dumps of one instance 0.3 s apart, each after its own walk
    first, second = json.loads((DATA / "task_map_two_walks.json").read_text())
    memo = parse.RowMemo()
    before = _read_with(memo, first, chunk, _snapshot_of(first))
    found = _dump_with(memo, second, chunk, _snapshot_of(second))
    by_key = {t.key: t for t in before if not t.exited}
    unchanged = {(r["formatted"]["key"]["pid"], r["formatted"]["key"]["start_ns"])
                 for a, r in zip(first, second, strict=True)
                 if not r["formatted"]["key"]["exited"] and _stable(a) == _stable(r)}
    assert found.unchanged == unchanged and unchanged and len(unchanged) < len(found.live)
    for task in found.live:
        assert (task is by_key.get(task.key)) == (task.key in unchanged)
    # equal to a fresh decode
    assert sorted(found.live, key=lambda t: t.key) == sorted(
        (t for t in _fresh(second, _snapshot_of(second)) if not t.exited), key=lambda t: t.key)


def test_rows_of_another_snapshot_are_not_this_readers():
    first, second = json.loads((DATA / "task_map_two_walks.json").read_text())
    memo = parse.RowMemo()
    _read_with(memo, first, 4096, _snapshot_of(first))
    # as if another reader's walk had written them: their stamps are not ours
    found = _dump_with(memo, second, 4096, _snapshot_of(second) + 1)
    assert not found.live and not found.unchanged
    assert found.exits == [t for t in _fresh(second, 0) if t.exited]


def test_after_a_reload_the_memo_starts_again():
    rows = json.loads((DATA / "task_map_two_walks.json").read_text())[0]
    live = sum(1 for r in rows if not r["formatted"]["key"]["exited"])
    memo = parse.RowMemo()
    assert len(_read_with(memo, rows, 4096, _snapshot_of(rows))) == len(rows)
    # a new instance numbers its snapshots from 1 again: a dump of it may bear
    # the number the memo's rows were stamped with, or a lower one
    for _ in range(2):
        found = _dump_with(memo, rows, 4096, _snapshot_of(rows))
        assert len(found.live) == live and not found.unchanged


def test_after_a_dump_that_was_thrown_away_nothing_is_unchanged():
    """A sample taken again (another reader overwrote rows) is compared with
    the sample before the one thrown away: the memo must not call a row
    unchanged because the thrown-away dump had it."""
    first, second = json.loads((DATA / "task_map_two_walks.json").read_text())
    memo = parse.RowMemo()
    _dump_with(memo, first, 4096, _snapshot_of(first))
    text = json.dumps(second, separators=(",", ":"))
    parse.task_rows(parse.iter_formatted([text], memo=memo, snapshot=_snapshot_of(second)),
                    _snapshot_of(second), memo)
    memo.done(kept=False)
    again = _dump_with(memo, second, 4096, _snapshot_of(second))
    assert not again.unchanged and again.live


def test_rows_whose_stamps_are_not_last_are_decoded_every_time():
    rows = json.loads(_text())  # an older layout: fields after the stamps
    memo = parse.RowMemo()
    before = _read_with(memo, rows, 4096, _snapshot_of(rows))
    after = _read_with(memo, rows, 4096, _snapshot_of(rows))
    assert after == before == _fresh(rows, _snapshot_of(rows))
    assert not any(a is b for a, b in zip(before, after, strict=True))


def _walked(rows: list, snapshot: int, at_ns: int) -> list:
    """The rows as the walk `snapshot` leaves them: live rows restamped (new
    dicts on the way to the stamps; the rows given are left as they were)."""
    out = []
    for row in rows:
        if not row["formatted"]["key"]["exited"]:
            formatted = row["formatted"]
            value = {**formatted["value"], "snapshot": snapshot, "sampled_ns": at_ns}
            row = {**row, "formatted": {**formatted, "value": value}}
        out.append(row)
    return out


@functools.cache
def _first_walk_live() -> tuple:
    """The live rows of the first walk of task_map_two_walks.json, read once
    (the series test copies a row before it changes it)."""
    walks = json.loads((DATA / "task_map_two_walks.json").read_text())
    return tuple(r for r in walks[0] if not r["formatted"]["key"]["exited"])


def _exit_row(row: dict, seq: int) -> dict:
    row = copy.deepcopy(row)
    row["formatted"]["key"]["exited"] = 1
    row["formatted"]["value"].update(snapshot=0, exit_seq=seq)
    return row


@settings(max_examples=100)
@given(st.data())
def test_a_series_of_dumps_in_any_order_reads_as_fresh_decodes(data):
    """bpftool meets rows in the order of the map's buckets: between two dumps
    tasks leave, come, run, exit, and a row may come twice.  Whatever the
    order and the chunks, the memo gives what a fresh decode gives, the same
    object for a row whose numbers it has seen, and calls a row unchanged
    exactly when the dump before had its numbers."""
    rows = list(_first_walk_live())
    memo = parse.RowMemo()
    seen: dict[str, object] = {}  # a row less its stamps -> the sample it first gave
    before: set[str] = set()      # the stable texts of the dump before
    next_pid = 1 << 22
    for snapshot in range(1, 6):
        rows = list(rows)
        for _ in range(data.draw(st.integers(0, 6))):
            op = data.draw(st.sampled_from(["leave", "come", "run", "swap", "twice", "exit"]))
            i = data.draw(st.integers(0, len(rows) - 1))
            row = rows[i]
            if op == "leave" and len(rows) > 2:
                del rows[i]
            elif op == "come":
                row = copy.deepcopy(row)
                row["formatted"]["key"]["pid"] = next_pid
                next_pid += 1
                rows.insert(data.draw(st.integers(0, len(rows))), row)
            elif op == "run" and not row["formatted"]["key"]["exited"]:
                ran = copy.deepcopy(row)
                ran["formatted"]["value"]["runtime_ns"] += 1
                # a task has one row: bpftool may meet it twice, the same both times
                rows = [ran if r["formatted"]["key"] == row["formatted"]["key"] else r
                        for r in rows]
            elif op == "swap" and i + 1 < len(rows):
                rows[i], rows[i + 1] = rows[i + 1], rows[i]
            elif op == "twice":
                rows.insert(data.draw(st.integers(0, len(rows))), row)
            elif op == "exit" and not row["formatted"]["key"]["exited"]:
                rows.insert(i, _exit_row(row, snapshot))
        dump = _walked(rows, snapshot, 1000 * snapshot)
        chunk = data.draw(st.sampled_from([13, 97, 4096, 1 << 20]))
        found = _dump_with(memo, dump, chunk, snapshot)
        fresh, texts = {}, {}
        for row in dump:  # a key met twice holds one row
            if not row["formatted"]["key"]["exited"]:
                key = (row["formatted"]["key"]["pid"], row["formatted"]["key"]["start_ns"])
                fresh[key] = row
                texts[key] = json.dumps([row["formatted"]["key"], _stable(row)])
        assert sorted(t.key for t in found.live) == sorted(fresh)  # each live task once
        exits = {t.key: t for t in (parse.task_sample(r["formatted"]) for r in dump
                                    if r["formatted"]["key"]["exited"])}  # each exit once
        assert found.exits == sorted(exits.values(), key=lambda t: t.exit_seq)
        for task in found.live:
            stable = texts[task.key]
            first = seen.setdefault(stable, task)
            assert task is first  # reused exactly when its numbers were seen
            assert task == parse.task_sample(fresh[task.key]["formatted"])
        assert found.unchanged <= {k for k, text in texts.items() if text in before}
        before = set(texts.values())


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
    assert info.exits > 0 and info.end_ns > info.start_ns and info.live_rows == info.rows
    assert parse.snapshot_info(entries, number + 64) is None  # its slot's later owner


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
