"""The numbers of bpf/sched_lottery.h, read from the header itself: the
sizes and defaults the BPF program is built with are written once, there.

Only the plain integer #defines are read (decimal, hex, a ULL suffix, + - *
<< and names defined above them), which is all the header holds."""

from __future__ import annotations

import ast
import operator
import re
from functools import cache
from pathlib import Path

from orchestrator.constants import BPF_HEADER, BPF_SOURCE

_DEFINE = re.compile(r"^#define\s+([A-Z][A-Z0-9_]*)\s+([^/\n]+?)\s*(?:/\*.*)?$", re.MULTILINE)
_SUFFIX = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b")
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.LShift: operator.lshift}


def sources() -> Path | None:
    """The directory holding the BPF program and its header: inside the
    installed package, else the checkout's bpf/; None when neither has them."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "bpf", here.parent / "bpf"):
        if (candidate / BPF_SOURCE).is_file():
            return candidate
    return None


def _value(node: ast.AST, known: dict[str, int]) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name) and node.id in known:
        return known[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_value(node.left, known), _value(node.right, known))
    raise ValueError(ast.dump(node))


def parse_defines(text: str) -> dict[str, int]:
    """The integer #defines of a C header, by name."""
    known: dict[str, int] = {}
    for name, expression in _DEFINE.findall(text):
        python = _SUFFIX.sub(r"\1", expression)
        try:
            known[name] = _value(ast.parse(python, mode="eval").body, known)
        except (SyntaxError, ValueError):
            continue  # not a number (a string, a macro with arguments): not ours to read
    return known


@cache
def defines() -> dict[str, int]:
    """The integer #defines of bpf/sched_lottery.h."""
    found = sources()
    if found is None:
        raise RuntimeError(f"{BPF_HEADER} is not installed beside {Path(__file__).parent}: "
                           "reinstall lottery (pip install .)")
    return parse_defines((found / BPF_HEADER).read_text(encoding="utf-8"))


def define(name: str) -> int:
    return defines()[name]
