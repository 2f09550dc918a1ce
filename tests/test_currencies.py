"""Task groups as currencies: expected shares funded down the hierarchy,
checked on the groups a real run recorded (tests/data/groups.json: two
sessions, cgroups lt-A with cpu.shares 2048 and lt-B with 1024)."""

from __future__ import annotations

import json

import builders
import pytest
from builders import snap
from conftest import DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.analysis import currencies, shares, simulate, tickets
from orchestrator.analysis.analyser import Analyser, AnalysisOptions
from orchestrator.analysis.frames import Joiner
from orchestrator.kernel import parse
from orchestrator.sampling.deltas import Sample

GROUPS = parse.group_rows(r["formatted"] for r in json.loads((DATA / "groups.json").read_text()))
SESSIONS = sorted(g.id for g in GROUPS.values() if g.kind == "autogroup")
BY_NAME = {g.name: g.id for g in GROUPS.values() if g.kind == "cgroup"}
INTERVAL = 1_000_000_000


def _row(pid, group, nice=0, runtime=INTERVAL // 2, wait=INTERVAL // 2):
    task = builders.task(pid, comm=f"t{pid}", nice=nice, cpu=1, group=group)
    return builders.row(task, runtime, wait, 0, 1)


def WEIGHT(row):
    return tickets.WEIGHT.of(row.task)


def _expected(rows, groups=GROUPS):
    found = shares.shares(rows, WEIGHT, INTERVAL, groups)
    return [round(found[r.task.key].expected, 3) for r in rows]


def test_two_sessions_share_a_cpu_equally_whatever_their_nice():
    """Autogroup: nice counts only inside a session."""
    rows = [_row(1, SESSIONS[0], nice=0), _row(2, SESSIONS[1], nice=5)]
    assert _expected(rows) == [0.5, 0.5]
    assert _expected(rows, groups=None) == [0.753, 0.247]  # the flat model: nice alone


def test_cgroup_weights_fund_their_tasks_like_currencies():
    """A (2048) holds a nice-0 task; B (1024) a nice-0 and a nice-5 task: the
    kernel gave 66.7 / 25.1 / 8.2 % when measured on this machine."""
    rows = [_row(1, BY_NAME["lt-A"]), _row(2, BY_NAME["lt-B"]), _row(3, BY_NAME["lt-B"], nice=5)]
    assert _expected(rows) == pytest.approx([0.667, 0.251, 0.082], abs=0.002)
    ticket_shares = shares.shares(rows, WEIGHT, INTERVAL, GROUPS)
    assert ticket_shares[(1, 1)].ticket_share == pytest.approx(2 / 3)


def test_a_group_that_sleeps_leaves_its_share_to_its_siblings():
    """Water-filling at the group level: B's only task ran 10% of the interval
    and asked for no more, so A gets the rest although B outweighs it."""
    rows = [_row(1, BY_NAME["lt-A"], runtime=900, wait=100),
            _row(2, BY_NAME["lt-B"], runtime=100, wait=0)]
    assert [round(v, 3) for v in _raw_expected(rows, 1000)] == [0.9, 0.1]


def _raw_expected(rows, interval):
    found = shares.shares(rows, WEIGHT, interval, GROUPS)
    return [found[r.task.key].expected for r in rows]


def test_nested_groups_multiply_down_the_tree():
    root = builders.group(1, 0, "root", shares=1024 << 10, number=0)
    outer = builders.group(10, 1, name="outer", shares=1024 << 10)
    inner = builders.group(11, 10, name="inner", shares=3072 << 10)
    sibling = builders.group(12, 10, name="sibling", shares=1024 << 10)
    other = builders.group(13, 1, name="other", shares=1024 << 10)
    groups = {g.id: g for g in (root, outer, inner, sibling, other)}
    rows = [_row(1, 11), _row(2, 12), _row(3, 13)]
    assert _expected(rows, groups) == [0.375, 0.125, 0.5]
    assert currencies.path(groups, 11) == "/outer/inner"


def test_an_idle_group_weighs_like_sched_idle():
    root = builders.group(1, 0, "root", shares=1024 << 10, number=0)
    idle = builders.group(5, 1, name="batch", shares=1024 << 10, idle=True)
    assert currencies.weight(idle, root) == currencies.WEIGHT_IDLEPRIO


def test_paths_name_sessions_cgroups_and_the_root():
    assert currencies.path(GROUPS, 1) == "/"
    assert currencies.path(GROUPS, BY_NAME["lottery-capture"]) == "/lottery-capture"
    number = GROUPS[SESSIONS[0]].number
    assert currencies.path(GROUPS, SESSIONS[0]) == f"/autogroup-{number}"
    assert currencies.path(GROUPS, 999_999) == "?"  # a group the map had no room for


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-20, 19), st.integers(1, 1000),
                          st.integers(0, 1000)), min_size=1, max_size=10))
def test_hierarchical_shares_sum_to_one_and_never_exceed_demand(tasks):
    ids = [1, *SESSIONS[:1], BY_NAME["lt-A"], BY_NAME["lt-B"]]
    rows = [_row(i + 1, ids[g], nice, run, wait) for i, (g, nice, run, wait) in enumerate(tasks)]
    found = shares.shares(rows, WEIGHT, 2000, GROUPS)
    assert sum(s.expected for s in found.values()) == pytest.approx(1.0)
    runtime = sum(r.runtime_delta_ns for r in rows)
    for r in rows:
        demand = min(r.runtime_delta_ns + r.wait_delta_ns, 2000)
        assert found[r.task.key].expected * runtime <= demand + 1e-6


def _sample(rows, n=1):
    return Sample(snap(n, 0, [r.task for r in rows], groups=GROUPS), rows, [], None)


class _Frame:
    """A sample joined into records, as frames.Pipeline makes them."""

    def __init__(self, n, rows, analysing):
        sample = _sample(rows, n)
        self.timestamp_s = float(n)
        self.tasks, _, _, _ = Joiner()(sample, analysing.analyse(sample))


def test_draws_and_replays_hold_the_funded_tickets_not_the_raw_ones():
    """Two sessions at nice 0 and nice 5: their tickets are worth the same in
    the base currency, so simulated lotteries split 50/50, not 1024:335."""
    rows = [_row(1, SESSIONS[0], nice=0), _row(2, SESSIONS[1], nice=5)]
    analysing = Analyser(tickets.WEIGHT, AnalysisOptions(draws=20_000, seed=1))
    found = analysing.analyse(_sample(rows))
    wins = [found.rows[r.task.key].wins for r in rows]
    assert wins[0] / sum(wins) == pytest.approx(0.5, abs=0.02)
    intervals, tasks = simulate.from_samples([_Frame(n, rows, analysing) for n in range(5)])
    result = simulate.replay(intervals, tasks, 1_000_000, 2, seed=1)
    stride = {r.pid: r.stride_ns for r in result}
    assert stride[1] == pytest.approx(stride[2], rel=0.01)
    assert {r.pid: r.tickets for r in result} == {1: 1024, 2: 335}  # shown as the task holds them


class _Dirs:
    """A hierarchy's paths by cgroup id, as CgroupDirs reads them, and what was asked."""

    def __init__(self, paths: dict[int, str]):
        self.paths, self.asked = paths, []

    def path(self, cgroup_id: int) -> str | None:
        self.asked.append(cgroup_id)
        return self.paths.get(cgroup_id)


def _deep_chain(depth: int) -> dict:
    """What the groups map holds of a cgroup `depth` levels down (ids 100 +
    level): the 8 levels the BPF walk reads above a task, and the root,
    which every task at the top files."""
    held = range(max(1, depth - 7), depth + 1)
    return {1: builders.group(1, 0, "root", number=0),
            **{100 + n: builders.group(100 + n, 100 + n - 1 if n > 1 else 1, name=f"d{n}")
               for n in held}}


def test_a_path_deeper_than_the_walk_reads_the_rest_from_the_hierarchy():
    groups = _deep_chain(10)
    dirs = _Dirs({103: "/d1/d2/d3"})
    assert currencies.path(groups, 110, dirs) == "/" + "/".join(f"d{n}" for n in range(1, 11))
    assert dirs.asked == [103]  # the highest level held, once
    assert currencies.path(groups, 103, dirs) == "/d1/d2/d3"


def test_a_path_no_one_knows_the_top_of_says_so():
    assert currencies.path(_deep_chain(9), 109, _Dirs({})) == "?/d2/d3/d4/d5/d6/d7/d8/d9"
    assert currencies.path(_deep_chain(9), 109) == "?/d2/d3/d4/d5/d6/d7/d8/d9"


def test_a_group_the_map_had_no_room_for_is_found_by_its_cgroup_id():
    dirs = _Dirs({999_999: "/kubepods/besteffort/pod1"})
    assert currencies.path(GROUPS, 999_999, dirs) == "/kubepods/besteffort/pod1"
    assert currencies.path(GROUPS, 888_888, dirs) == "?"
    autogroup = (1 << 62) | 77  # GROUP_ID_AUTOGROUP: no directory has it
    assert currencies.path(GROUPS, autogroup, dirs) == "?"
    assert autogroup not in dirs.asked


def test_a_whole_path_asks_the_hierarchy_nothing():
    dirs = _Dirs({})
    assert currencies.path(GROUPS, BY_NAME["lt-A"], dirs) == "/lt-A"
    assert currencies.path(_deep_chain(8), 108, dirs) == "/d1/d2/d3/d4/d5/d6/d7/d8"
    assert dirs.asked == []
