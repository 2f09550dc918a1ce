"""Lottery analysis: ticket models, task groups as currencies, expected and
observed shares, fairness, the EDF view, simulated lottery and stride, the
paper's experiments."""
