"""Per-sample lottery analysis of a sample's rows: tickets, shares, simulated
draws, the EWMA of runtime, the EDF view.  What lives across samples (the
random generator, each task's average) is kept here, not in the sinks.

Each task's analysis is a function of its row, its share in the sample,
and its average before (`analyse_row`).  A task whose row is the one of
the sample before (Sample.unchanged), and whose analysis then had nothing
in it but an average of zero, gets that same analysis again: `analyse_row`
gives nothing else for it, and it is not called for the many tasks of a
host that sleep."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import compress
from operator import not_

from orchestrator import bounds, units
from orchestrator.analysis import deficit, edf, schedulers, shares
from orchestrator.analysis.tickets import TicketModel
from orchestrator.records import Key
from orchestrator.sampling.deltas import Sample, TaskRow


@dataclass(frozen=True)
class AnalysisOptions:
    draws: int = 0                     # lottery draws per sample and group; 0: none
    seed: int | None = None            # makes the draws reproducible
    alpha: float = 0.5                 # EWMA weight of the newest runtime delta
    deadline_warn_ms: float | None = None  # warn when a response per activation exceeds it


def validate(opts: AnalysisOptions) -> None:
    bounds.check("--simulate-draws", opts.draws)
    bounds.check("--alpha", opts.alpha)
    bounds.check("--deadline-warn", opts.deadline_warn_ms)


@dataclass(frozen=True, slots=True, kw_only=True)
class RowAnalysis:
    tickets: int | None = None
    share: shares.Share | None = None
    wins: int | None = None
    win_rate: float | None = None
    ewma_delta_ns: float | None = None
    edf: edf.EdfEstimate | None = None
    # of a task that took part in its set's lottery: what it asked for, the
    # quota that binds its group, and why it ran less than its tickets are worth
    demand_ns: int | None = None
    limit: deficit.Limit | None = None
    deficit: deficit.Deficit | None = None

    @property
    def still(self) -> bool:
        """Nothing but tickets and an average that has faded to zero: what a
        task that goes on sleeping gets again."""
        return (self.ewma_delta_ns == 0.0 and self.share is None and self.wins is None
                and self.edf is None)


@dataclass(frozen=True)
class Late:
    """A task whose response per activation passed --deadline-warn."""

    comm: str
    pid: int
    response_ms: float


@dataclass(frozen=True)
class Analysis:
    rows: dict[Key, RowAnalysis]
    fairness: list[shares.Fairness]
    utilisation: dict[str, float]     # EDF total utilisation per contention group
    late: list[Late]                  # responses over --deadline-warn
    draws: int
    # Tasks whose analysis is the one of the sample before, to the value.
    unchanged: frozenset[Key] = field(default_factory=frozenset)


_NEGLIGIBLE_NS = 0.5  # an average below this prints as 0 ns: it is 0


def analyse_row(row: TaskRow, tickets: int | None, share: shares.Share | None,
                wins: int | None, draws: int, before: float | None, interval_ns: int,
                alpha: float, limit: deficit.Limit | None = None) -> RowAnalysis:
    """One task's analysis: its `share` and `wins` in the sample, its
    average from the one it had `before` (None: it starts afresh), and the
    quota `limit` of its task group."""
    if row.runtime_delta_ns == 0 and not row.runs_delta and share is None:
        # Did not run: only its average moves, down to zero.
        fading = schedulers.ewma(before, 0, alpha)
        return RowAnalysis(tickets=tickets, ewma_delta_ns=0.0 if fading < _NEGLIGIBLE_NS
                           else fading)
    ewma = None  # no baseline: no average, and the next delta starts one afresh
    if row.runtime_delta_ns is not None:
        ewma = schedulers.ewma(before, shares.ran(row), alpha)
    took_part = share is not None
    return RowAnalysis(tickets=tickets, share=share, wins=wins,
                       win_rate=None if wins is None else wins / draws, ewma_delta_ns=ewma,
                       edf=edf.estimate(row, interval_ns),
                       demand_ns=share.demand_ns if took_part else None,
                       limit=limit if took_part else None,
                       deficit=deficit.deficit(row, share, interval_ns, limit))


@dataclass
class Analyser:
    model: TicketModel
    opts: AnalysisOptions = field(default_factory=AnalysisOptions)

    def __post_init__(self) -> None:
        validate(self.opts)
        self._rng = random.Random(self.opts.seed)
        self._rows: dict[Key, RowAnalysis] = {}  # the last sample's, per live task
        self._still: set[Key] = set()            # of those, the still ones

    def _tickets(self, row: TaskRow) -> int | None:
        return None if row.unseen_exits else self.model.of(row.task)

    def analyse(self, sample: Sample) -> Analysis:
        interval = sample.interval_ns
        groups = sample.snapshot.groups if self.model.hierarchical else None
        tasks = sample.tasks
        keys = [row.task.key for row in tasks]
        # A still task whose row did not change is still again: found in bulk.
        same = sample.unchanged & self._still
        is_same = list(map(same.__contains__, keys))
        moving = list(compress(tasks, map(not_, is_same)))
        by_task = shares.shares(moving, self._tickets, interval, groups)
        limit_of = deficit.limits(sample.snapshot.groups, sample.throttled)
        wins = self._draw(by_task)
        before, alpha = self._rows, self.opts.alpha
        rows = dict(zip(keys, map(before.get, keys), strict=True)) if same else {}
        still = set(same)
        utilisation: dict[str, float] = {}
        late = []
        for row in moving:
            key = row.task.key
            old = before.get(key)
            a = analyse_row(row, self._tickets(row), by_task.get(key), wins.get(key),
                            self.opts.draws, old.ewma_delta_ns if old else None, interval, alpha,
                            limit_of.get(row.task.group))
            rows[key] = a
            if a.still:
                still.add(key)
            if a.edf:
                group = shares.contention_group(row.task)
                utilisation[group] = utilisation.get(group, 0.0) + a.edf.utilisation
                limit = self.opts.deadline_warn_ms
                if limit is not None and a.edf.response_ns > units.ns_from_ms(limit):
                    late.append(Late(row.task.comm, row.task.pid, units.ms(a.edf.response_ns)))
        # A task with no row in this sample is forgotten: should it come
        # back, its average starts afresh.
        self._rows, self._still = rows, still
        return Analysis(rows, shares.fairness(by_task.values()), utilisation, late,
                        self.opts.draws, frozenset(same))

    def _draw(self, by_task: dict[Key, shares.Share]) -> dict[Key, int]:
        """N draws per contention group, each ticket holder weighted by what
        its tickets are worth in the base currency (its funded ticket share)."""
        if not self.opts.draws:
            return {}
        groups: dict[str, list[Key]] = {}
        for key, share in by_task.items():
            groups.setdefault(share.group, []).append(key)
        out: dict[Key, int] = {}
        for keys in groups.values():
            won = schedulers.draw([by_task[k].ticket_share for k in keys], self.opts.draws,
                                  self._rng)
            out.update(zip(keys, won, strict=True))
        return out
