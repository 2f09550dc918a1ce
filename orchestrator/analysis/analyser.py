"""Per-sample lottery analysis of dump's rows: ticket shares, simulated draws,
the EWMA of runtime, the EDF view.  State that lives across samples (the
random generator, the averages) is kept here, not in the sinks."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from orchestrator import bounds, units
from orchestrator.analysis import edf, schedulers, shares
from orchestrator.sampling.deltas import Sample


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


@dataclass
class Analyser:
    opts: AnalysisOptions = field(default_factory=AnalysisOptions)
    hierarchical: bool = True  # fund tickets through the task groups (ticket model weight)

    def __post_init__(self) -> None:
        validate(self.opts)
        self._rng = random.Random(self.opts.seed)
        self._ewma: dict[tuple[int, int], float] = {}

    def analyse(self, sample: Sample) -> Analysis:
        interval = sample.conservation.interval_ns if sample.conservation else 0
        groups = sample.snapshot.groups if self.hierarchical else None
        by_task = shares.shares(sample.tasks, interval, groups)
        wins = self._draw(by_task, sample)
        rows: dict[tuple[int, int], RowAnalysis] = {}
        utilisation: dict[str, float] = {}
        late = []
        ewma: dict[tuple[int, int], float] = {}
        for row in sample.tasks:
            key = row.task.key
            if row.runtime_delta_ns == 0 and not row.runs_delta and key not in by_task:
                # Did not run: only its average moves, down to zero; the one
                # zero object lets a record of it be reused (record.Records).
                fading = schedulers.ewma(self._ewma.get(key), 0, self.opts.alpha)
                if fading < _NEGLIGIBLE_NS:
                    fading = 0.0
                ewma[key] = fading
                rows[key] = _STILL if fading == 0.0 else RowAnalysis(ewma_delta_ns=fading)
                continue
            if row.runtime_delta_ns is not None:
                ewma[key] = schedulers.ewma(self._ewma.get(key), row.runtime_delta_ns,
                                            self.opts.alpha)
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
        self._ewma = ewma  # tasks that are gone are forgotten
        return Analysis(rows, shares.fairness(by_task), utilisation, late, self.opts.draws)

    def _draw(self, by_task: dict[tuple[int, int], shares.Share],
              sample: Sample) -> dict[tuple[int, int], int]:
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
