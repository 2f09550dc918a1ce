"""Per-sample lottery analysis of dump's rows: ticket shares, simulated draws,
the EWMA of runtime, the EDF view.  State that lives across samples (the
random generator, the averages) is kept here, not in the sinks."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import compress
from operator import not_

from orchestrator import bounds, units
from orchestrator.analysis import edf, schedulers, shares
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


@dataclass(frozen=True, slots=True)
class RowAnalysis:
    share: shares.Share | None = None
    wins: int | None = None
    win_rate: float | None = None
    ewma_delta_ns: float | None = None
    edf: edf.EdfEstimate | None = None


_STILL = RowAnalysis(ewma_delta_ns=0.0)  # a task that has not run for a while
_NEGLIGIBLE_NS = 0.5  # an average below this prints as 0 ns: it is 0


@dataclass(frozen=True)
class Analysis:
    rows: dict[tuple[int, int], RowAnalysis]
    fairness: list[shares.Fairness]
    utilisation: dict[str, float]     # EDF total utilisation per contention group
    late: list[tuple[str, int, float]]  # (comm, pid, response ms) over --deadline-warn
    draws: int
    # By id: the rows whose analysis is the one still object (did not run,
    # average 0).  The same row the next sample is still again, so a view
    # can pass over them in bulk (record.Records).
    still: Mapping[int, TaskRow] = field(default_factory=dict)


@dataclass
class Analyser:
    opts: AnalysisOptions = field(default_factory=AnalysisOptions)
    hierarchical: bool = True  # fund tickets through the task groups (ticket model weight)

    def __post_init__(self) -> None:
        validate(self.opts)
        self._rng = random.Random(self.opts.seed)
        # Kept in place from one sample to the next, so that a task that did
        # not run costs nothing: each task's average and analysis, and by id
        # the rows whose average had faded to 0, and all the rows.
        self._ewma: dict[tuple[int, int], float] = {}
        self._rows: dict[tuple[int, int], RowAnalysis] = {}
        self._still: dict[int, TaskRow] = {}
        self._by_id: dict[int, TaskRow] = {}

    def analyse(self, sample: Sample) -> Analysis:
        interval = sample.conservation.interval_ns if sample.conservation else 0
        groups = sample.snapshot.groups if self.hierarchical else None
        # A row that is the very object of the sample before (deltas.Reader
        # keeps the rows of tasks that did not run) and was still then is
        # still now, and its analysis is still the one still object.  Found
        # in bulk, by id: the dicts hold those rows, so no other object can
        # have their ids meanwhile.  Only the others are visited one by one;
        # on most hosts, a few.
        tasks = sample.tasks
        ids = list(map(id, tasks))
        moving = list(compress(tasks, map(not_, map(self._still.__contains__, ids))))
        by_task = shares.shares(moving, interval, groups)
        wins = self._draw(by_task)
        rows, ewma, still = self._rows, self._ewma, self._still
        moved = set()
        utilisation: dict[str, float] = {}
        late = []
        for row in moving:
            key = row.task.key
            moved.add(key)
            if row.runtime_delta_ns == 0 and not row.runs_delta and key not in by_task:
                # Did not run: only its average moves, down to zero; the one
                # zero object lets a record of it be reused (record.Records).
                fading = schedulers.ewma(ewma.get(key), 0, self.opts.alpha)
                if fading < _NEGLIGIBLE_NS:
                    fading = 0.0
                    still[id(row)] = row
                ewma[key] = fading
                rows[key] = _STILL if fading == 0.0 else RowAnalysis(ewma_delta_ns=fading)
                continue
            if row.runtime_delta_ns is not None:
                ewma[key] = schedulers.ewma(ewma.get(key), row.runtime_delta_ns, self.opts.alpha)
            else:  # no baseline: no average, and the next delta starts one afresh
                ewma.pop(key, None)
            estimate = edf.estimate(row, interval)
            share = by_task.get(key)
            if estimate:
                group = shares.contention_group(row.task)
                utilisation[group] = utilisation.get(group, 0.0) + estimate.utilisation
                limit = self.opts.deadline_warn_ms
                if limit is not None and estimate.response_ns > units.ns_from_ms(limit):
                    late.append((row.task.comm, row.task.pid, units.ms(estimate.response_ns)))
            won = wins.get(key)
            rows[key] = RowAnalysis(share, won, None if won is None else won / self.opts.draws,
                                    ewma.get(key), estimate)
        # The rows of the sample before that are not in this one: a task with
        # no new row here is forgotten (should it come back, its average
        # starts afresh).
        by_id = dict(zip(ids, tasks, strict=True))
        last = self._by_id
        for gone in last.keys() - by_id.keys():
            still.pop(gone, None)
            if (key := last[gone].task.key) not in moved:
                ewma.pop(key, None)
                rows.pop(key, None)
        self._by_id = by_id
        return Analysis(rows.copy(), shares.fairness(by_task), utilisation, late,
                        self.opts.draws, still.copy())

    def _draw(self, by_task: dict[tuple[int, int], shares.Share]) -> dict[tuple[int, int], int]:
        """N draws per contention group, each ticket holder weighted by what
        its tickets are worth in the base currency (its funded ticket share)."""
        if not self.opts.draws:
            return {}
        groups: dict[str, list[tuple[int, int]]] = {}
        for key, share in by_task.items():
            groups.setdefault(share.group, []).append(key)
        out: dict[tuple[int, int], int] = {}
        for keys in groups.values():
            won = schedulers.draw([by_task[k].ticket_share for k in keys], self.opts.draws,
                                  self._rng)
            out.update(zip(keys, won, strict=True))
        return out
