"""Pure analysis: ticket models, shares, fairness, lottery and stride, EDF."""

from __future__ import annotations

import random

import pytest
from builders import row, snap, task
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.analysis import edf, schedulers, shares, tickets
from orchestrator.analysis.analyser import Analyser
from orchestrator.errors import LotteryError
from orchestrator.records import Change
from orchestrator.sampling.deltas import Sample

TICKETS = st.lists(st.integers(1, 100_000), min_size=1, max_size=12)


def _row(pid, nice=0, runtime=0, wait=0, runs=1, cpu=1, pinned=True, policy=0):
    t = task(pid, comm=f"t{pid}", nice=nice, policy=policy, cpu=cpu,
             cpus_allowed=1 if pinned else 2)
    return row(t, runtime, wait, 0, runs)


def WEIGHT(r):  # the kernel's weight of a task, groups aside
    return tickets.WEIGHT.of(r.task)


# ticket models

def test_weight_and_linear_models_at_known_points():
    assert tickets.weight_tickets(0) == 1024 and tickets.weight_tickets(5) == 335
    assert tickets.weight_tickets(-20) == 88761 and tickets.weight_tickets(19) == 15
    assert tickets.linear_tickets(0) == 100 and tickets.linear_tickets(5) == 50
    assert tickets.linear_tickets(19) == 10 and tickets.linear_tickets(-5) == 150


def test_real_time_tasks_hold_no_tickets():
    for model in (tickets.weight_tickets, tickets.linear_tickets):
        assert model(0, tickets.SCHED_FIFO) is None and model(0, tickets.SCHED_RR) is None


def test_mapping_file_with_ranges(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("# mine\n-20..-1 400\n0 100   # default\n1..19, 25\n")
    model = tickets.model(str(path))
    assert (model(-7), model(0), model(19)) == (400, 100, 25)
    assert model(0, tickets.SCHED_FIFO) is None


@pytest.mark.parametrize("text,message", [
    ("0 100\n", "no tickets for nice -20..-1, 1..19"),
    ("-20..19 100\nzero 5\n", "line 2"),
    ("-20..19 0\n", "with 0 tickets"),
])
def test_bad_mapping_files_are_refused_with_the_line(tmp_path, text, message):
    path = tmp_path / "t.txt"
    path.write_text(text)
    with pytest.raises(LotteryError, match=message):
        tickets.model(str(path))


def test_unknown_model_names_the_choices():
    with pytest.raises(LotteryError, match="neither weight, flat, linear nor a readable mapping"):
        tickets.model("/nonexistent/tickets.txt")


# shares and fairness

def test_two_cpu_bound_tasks_expect_their_weight_ratio():
    rows = [_row(1, 0, runtime=750, wait=250), _row(2, 5, runtime=250, wait=750)]
    got = shares.shares(rows, WEIGHT, interval_ns=1000)
    assert got[(1, 1)].expected == pytest.approx(1024 / 1359)
    assert got[(1, 1)].observed == pytest.approx(0.75)
    assert got[(2, 2)].error == pytest.approx(0.25 - 335 / 1359)


def test_a_sleeper_gets_only_what_it_asked_for_and_leaves_the_rest():
    rows = [_row(1, 0, runtime=10, wait=0), _row(2, 0, runtime=495, wait=505),
            _row(3, 0, runtime=495, wait=505)]
    got = shares.shares(rows, WEIGHT, interval_ns=1000)
    assert got[(1, 1)].expected == pytest.approx(0.01)
    assert got[(2, 2)].expected == pytest.approx(0.495)
    assert got[(1, 1)].ticket_share == pytest.approx(1 / 3)


def test_groups_split_pinned_from_free_tasks():
    rows = [_row(1, runtime=5), _row(2, runtime=5, cpu=0), _row(3, runtime=5, pinned=False),
            _row(4, runtime=0, wait=0), _row(5, runtime=5, policy=tickets.SCHED_FIFO)]
    got = shares.shares(rows, WEIGHT)
    assert {k[0]: s.group for k, s in got.items()} == {1: "cpu1", 2: "cpu0", 3: "all"}


@settings(max_examples=200)
@given(TICKETS, st.data())
def test_shares_sum_to_one_in_every_group(ticket_list, data):
    rows = [_row(i + 1, runtime=data.draw(st.integers(1, 10**9)),
                 wait=data.draw(st.integers(0, 10**9))) for i in range(len(ticket_list))]
    held = {r.task.pid: t for r, t in zip(rows, ticket_list, strict=True)}
    got = shares.shares(rows, lambda r: held[r.task.pid]).values()
    assert sum(s.expected for s in got) == pytest.approx(1.0)
    assert sum(s.observed for s in got) == pytest.approx(1.0)
    assert sum(s.ticket_share for s in got) == pytest.approx(1.0)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(-2**40, 2**40), st.integers(-2**40, 2**40) | st.none(),
                          st.integers(-20, 19), st.integers(0, 2)), min_size=1, max_size=10),
       st.integers(0, 2**40))
def test_every_share_lies_between_zero_and_one_whatever_the_counters_did(tasks, interval):
    """A counter can go back (a thread that execs takes over its leader's
    numbers): no share is ever below 0 or above 1 for it, nor for the others."""
    rows = [_row(i + 1, nice=nice, runtime=ran, wait=waited, cpu=cpu)
            for i, (ran, waited, nice, cpu) in enumerate(tasks)]
    for share in shares.shares(rows, WEIGHT, interval).values():
        for value in (share.ticket_share, share.expected, share.observed):
            assert 0.0 <= value <= 1.0, share
        assert -1.0 <= share.error <= 1.0


@given(TICKETS, st.lists(st.floats(0, 1e9), min_size=12, max_size=12), st.floats(0, 1e9))
def test_fill_never_exceeds_demand_and_gives_all_it_can(ticket_list, demand, capacity):
    demand = demand[:len(ticket_list)]
    got = shares.fill(ticket_list, demand, capacity)
    assert all(g <= d * (1 + 1e-9) + 1e-6 for g, d in zip(got, demand, strict=True))
    assert sum(got) == pytest.approx(min(capacity, sum(demand)), rel=1e-9, abs=1e-3)


@given(st.integers(1, 50), st.floats(0.001, 1e6))
def test_equal_ratios_give_jain_index_one(n, value):
    assert shares.jain_index([value] * n) == pytest.approx(1.0)


def test_jain_index_of_one_taking_all_is_one_over_n():
    assert shares.jain_index([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert shares.jain_index([]) is None


# lottery and stride

def test_draws_are_reproducible_with_a_seed():
    a = schedulers.draw([1, 2, 3], 1000, random.Random(7))
    b = schedulers.draw([1, 2, 3], 1000, random.Random(7))
    assert a == b and sum(a) == 1000


@settings(max_examples=25)
@given(st.lists(st.integers(1, 1000), min_size=2, max_size=6), st.integers(0, 2**32))
def test_lottery_win_rate_converges_to_ticket_share(ticket_list, seed):
    draws = 40_000
    wins = schedulers.draw(ticket_list, draws, random.Random(seed))
    total = sum(ticket_list)
    for w, t in zip(wins, ticket_list, strict=True):
        p = t / total
        sd = (p * (1 - p) / draws) ** 0.5
        assert abs(w / draws - p) < 6 * sd + 1e-9  # a 6-sigma miss: about 1 in 10^9


def test_stride_is_exact_on_simple_ratios():
    assert schedulers.stride([3, 2, 1], 6) == [3, 2, 1]
    assert schedulers.stride([100, 50, 25], 700) == [400, 200, 100]


@given(st.lists(st.integers(1, 200), min_size=1, max_size=8), st.integers(0, 2000))
def test_stride_error_is_below_one_quantum_per_client(ticket_list, quanta):
    got = schedulers.stride(ticket_list, quanta)
    total = sum(ticket_list)
    assert sum(got) == quanta
    for g, t in zip(got, ticket_list, strict=True):
        assert abs(g - quanta * t / total) < len(ticket_list)


def test_ewma_starts_at_the_first_value_then_leans_to_new_ones():
    value = schedulers.ewma(None, 100.0, 0.25)
    assert value == 100.0
    assert schedulers.ewma(value, 200.0, 0.25) == pytest.approx(125.0)


class _Series:
    """An analyser fed one sample after another, as a pipeline feeds it:
    each sample of live `rows` numbered, and told (`same`: the keys whose
    row is the one of the sample before) what changed since the one before."""

    def __init__(self) -> None:
        self.analyser = Analyser(tickets.WEIGHT)
        self._n = 0
        self._keys: set = set()

    def __call__(self, rows, same=None):
        self._n += 1
        keys = {r.task.key for r in rows}
        change = None if same is None else Change(
            self._n - 1, {r.task.key: r for r in rows if r.task.key not in same},
            frozenset(self._keys - keys))
        self._keys = keys
        return self.analyser.analyse(Sample(snap(self._n, 0, [r.task for r in rows]), rows, [],
                                            None, change=change))


def test_a_task_missing_from_a_sample_starts_its_average_afresh():
    gone = _Series()  # seen, absent from one sample, back
    gone([_row(5, runtime=1_000_000)])
    gone([], same=set())
    back = gone([_row(5, runtime=1_000)], same=set())
    assert back.rows[(5, 5)].ewma_delta_ns == 1_000
    unknown = _Series()  # seen, then without a baseline (no delta)
    unknown([_row(5, runtime=1_000_000)])
    assert unknown([_row(5, runtime=None)]).rows[(5, 5)].ewma_delta_ns is None
    assert unknown([_row(5, runtime=1_000)]).rows[(5, 5)].ewma_delta_ns == 1_000


def test_a_still_task_keeps_an_average_of_zero_while_others_come_and_go():
    analysed = _Series()
    sleeper = _row(9, runtime=0, runs=0)  # the same row every sample, as deltas.Reader hands it
    for n in range(4):
        found = analysed([sleeper] + ([_row(10 + n, runtime=500)] if n % 2 else []),
                         same={(9, 9)} if n else None)
        if n == 0:
            assert found.rows[(9, 9)].ewma_delta_ns == 0.0
    assert (9, 9) not in found.rows  # still, and passed over: its analysis is the one before
    assert found.change is not None and (9, 9) not in found.change.changed
    woke = analysed([_row(9, runtime=1_000)], same=set())
    assert woke.rows[(9, 9)].ewma_delta_ns == 500  # from 0, not afresh: alpha 0.5
    assert (9, 9) in woke.change.changed


@settings(max_examples=150)
@given(st.data())
def test_what_is_passed_over_as_unchanged_is_what_analysing_it_again_gives(data):
    """The analyser passes over a task whose row did not change, when its
    analysis was still: analysing every row again must give the same, or a
    field that moves while a task sleeps would be lost."""
    quick, full = _Series(), _Series()
    rows = {pid: _row(pid, runtime=0, runs=0) for pid in range(1, 6)}
    kept: dict = {}  # every live task's analysis as the quick analyser's changes say
    for n in range(8):
        same = set()
        for pid in list(rows):
            what = data.draw(st.sampled_from(["same", "ran", "waited", "fresh"]))
            if what == "ran":
                rows[pid] = _row(pid, runtime=data.draw(st.integers(1, 10**7)), runs=1)
            elif what == "waited":
                rows[pid] = _row(pid, runtime=0, wait=data.draw(st.integers(1, 10**7)), runs=0)
            elif what == "fresh":
                rows[pid] = _row(pid, runtime=0, runs=0)
            elif rows[pid].quiet:
                same.add((pid, pid))  # as deltas.Reader says it: the same quiet row
        listed = list(rows.values())
        a = quick(listed, same if n else None)
        b = full(listed)
        kept.update(a.fresh)
        assert kept == b.rows
        assert all(kept[k].still for k in b.rows if k not in a.fresh)


# EDF view

def test_edf_estimate_of_a_periodic_task():
    # 100 activations in 1 s, 2 ms each, 1 ms of waiting each
    e = edf.estimate(_row(1, runtime=200_000_000, wait=100_000_000, runs=100), 1_000_000_000)
    assert e.period_ns == pytest.approx(10e6) and e.budget_ns == pytest.approx(2e6)
    assert e.utilisation == pytest.approx(0.2) and e.response_ns == pytest.approx(3e6)
    assert e.lateness_ns == pytest.approx(-7e6)
    assert edf.estimate(_row(2, runs=0), 1_000_000_000) is None
    assert edf.total_utilisation([e, e]) == pytest.approx(0.4)


def test_no_hypothesis_example_has_a_deadline():
    # conftest's profile: an example that waits for a CPU on a busy machine is no failure
    assert settings().deadline is None
