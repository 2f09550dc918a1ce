"""Per-sample lottery analysis of a sample's rows: tickets, shares, simulated
draws, the EWMA of runtime, the EDF view.  What lives across samples (the
random generator, each task's average) is kept here, not in the sinks.

Each task's analysis is a function of its row, its share in the sample,
and its average before (`analyse_row`).  A task whose row is the one of
the sample before (not in Sample.change), and whose analysis then had
nothing in it but an average of zero, gets that same analysis again:
`analyse_row` gives nothing else for it, and it is not called for the many
tasks of a host that sleep."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from orchestrator import bounds, units
from orchestrator.analysis import deficit, edf, schedulers, shares
from orchestrator.analysis.tickets import TicketModel
from orchestrator.records import Change, Key
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
    # How the live tasks' analyses differ from the sample before's (the
    # rows analysed again; every other is as it was there, and still), and
    # the rows they were made from.  None: every row was analysed.
    change: Change | None = None
    moved: dict[Key, TaskRow] = field(default_factory=dict)
    fresh: dict[Key, RowAnalysis] = field(default_factory=dict)  # their analyses


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
        self._active: dict[Key, TaskRow] = {}    # of those, the ones not still: their rows
        self._last: int | None = None            # the number of the last snapshot analysed

    def _tickets(self, row: TaskRow) -> int | None:
        return None if row.unseen_exits else self.model.of(row.task)

    def analyse(self, sample: Sample) -> Analysis:
        interval = sample.interval_ns
        groups = sample.snapshot.groups if self.model.hierarchical else None
        change = sample.change
        live = len(sample.snapshot.tasks)  # the live rows come first
        if change is not None and change.follows(self._last):
            # The rows made again, and those whose analysis was more than
            # still (an average fading after a run): any other row is quiet
            # as it was, and its analysis still as it was.
            rows_in = dict(change.changed)
            rows_in.update((k, row) for k, row in self._active.items()
                           if k not in rows_in and k not in change.left)
            moving = [*rows_in.values(), *sample.tasks[live:]]
            left = change.left
        else:
            rows_in = {row.task.key: row for row in sample.tasks[:live]}
            moving = sample.tasks
            change, left = None, frozenset()
        by_task = shares.shares(moving, self._tickets, interval, groups)
        limit_of = deficit.limits(sample.snapshot.groups, sample.throttled)
        wins = self._draw(by_task)
        before, alpha = self._rows, self.opts.alpha
        rows: dict[Key, RowAnalysis] = {}
        fresh: dict[Key, RowAnalysis] = {}  # the live rows' (an exit may share a key)
        utilisation: dict[str, float] = {}
        late = []
        for n, row in enumerate(moving):
            key = row.task.key
            old = before.get(key)
            a = analyse_row(row, self._tickets(row), by_task.get(key), wins.get(key),
                            self.opts.draws, old.ewma_delta_ns if old else None, interval, alpha,
                            limit_of.get(row.task.group))
            rows[key] = a
            if n < len(rows_in):
                fresh[key] = a
            if a.edf:
                group = shares.contention_group(row.task)
                utilisation[group] = utilisation.get(group, 0.0) + a.edf.utilisation
                limit = self.opts.deadline_warn_ms
                if limit is not None and a.edf.response_ns > units.ns_from_ms(limit):
                    late.append(Late(row.task.comm, row.task.pid, units.ms(a.edf.response_ns)))
        # A live task's analysis is kept for its next (an exit's is not: a
        # key live again is a thread that called exec, whose average starts
        # afresh); a task with no row in this sample is forgotten.
        if change is None:
            self._rows = dict(fresh)
        else:
            for key in left:
                self._rows.pop(key, None)
            self._rows.update(fresh)
        self._active = {k: rows_in[k] for k, a in fresh.items() if not a.still}
        self._last = sample.snapshot.info.snapshot
        return Analysis(rows, shares.fairness(by_task.values()), utilisation, late,
                        self.opts.draws,
                        None if change is None else Change(change.since, fresh, left), rows_in,
                        fresh)

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
            # in the order of the tasks' keys, not of the rows: a seed draws
            # the same wins however the stages before listed them
            keys.sort()
            won = schedulers.draw([by_task[k].ticket_share for k in keys], self.opts.draws,
                                  self._rng)
            out.update(zip(keys, won, strict=True))
        return out
