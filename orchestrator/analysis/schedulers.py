"""Proportional-share schedulers, simulated: lottery (Waldspurger and Weihl,
OSDI 1994) and stride (Waldspurger and Weihl, MIT TM-528, 1995)."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Hashable, Sequence
from fractions import Fraction


def draw(tickets: Sequence[float], draws: int, rng: random.Random) -> list[int]:
    """Hold `draws` lotteries among ticket holders; return each one's wins."""
    wins = [0] * len(tickets)
    if not tickets or draws <= 0:
        return wins
    cum = list(itertools.accumulate(tickets))
    for winner in rng.choices(range(len(tickets)), cum_weights=cum, k=draws):
        wins[winner] += 1
    return wins


def lottery_run(tickets: Sequence[int], demand: Sequence[int], quanta: int,
                rng: random.Random) -> list[int]:
    """Hand out `quanta` quanta one lottery at a time; a holder that has got
    the quanta it demanded stops runnable and leaves the draw."""
    won = [0] * len(tickets)
    active = [i for i, d in enumerate(demand) if d > 0]
    for _ in range(quanta):
        if not active:
            break
        winner = rng.choices(active, weights=[tickets[i] for i in active])[0]
        won[winner] += 1
        if won[winner] >= demand[winner]:
            active.remove(winner)
    return won


class Stride:
    """Stride scheduling: each client's pass advances by 1/tickets when it
    wins a quantum; the lowest pass wins the next one (ties: the client that
    joined first).  Exact fractions, so long runs do not drift."""

    def __init__(self) -> None:
        self._pass: dict[Hashable, Fraction] = {}
        self._order: dict[Hashable, int] = {}

    def run(self, clients: Sequence[tuple[Hashable, int]], quanta: int,
            demand: Sequence[int] | None = None) -> list[int]:
        """Give `quanta` quanta to the (key, tickets) clients present now;
        return each one's quanta.  A client absent here leaves; a new one joins
        at the lowest pass of those present, as if it had always been there.
        With `demand`, a client stops competing once it has that many."""
        present = {key for key, _ in clients}
        for gone in [k for k in self._pass if k not in present]:
            del self._pass[gone]
        floor = min(self._pass.values(), default=Fraction(0))
        for key, _ in clients:
            if key not in self._pass:
                self._pass[key] = floor
                self._order[key] = len(self._order)
        strides = {key: Fraction(1, tickets) for key, tickets in clients}
        limit = dict(zip((k for k, _ in clients), demand, strict=True)) if demand else {}
        heap = [(self._pass[k] + strides[k], self._order[k], k) for k, _ in clients
                if limit.get(k, 1) > 0]
        heapq.heapify(heap)
        won = dict.fromkeys(present, 0)
        for _ in range(quanta):
            if not heap:
                break
            finish, order, key = heapq.heappop(heap)
            won[key] += 1
            self._pass[key] = finish
            if key not in limit or won[key] < limit[key]:
                heapq.heappush(heap, (finish + strides[key], order, key))
        return [won[key] for key, _ in clients]


def stride(tickets: Sequence[int], quanta: int) -> list[int]:
    """Quanta each client gets from a fresh stride scheduler."""
    return Stride().run(list(enumerate(tickets)), quanta)


def ewma(previous: float | None, value: float, alpha: float) -> float:
    """Exponentially weighted moving average; the first value starts it."""
    return value if previous is None else alpha * value + (1 - alpha) * previous
