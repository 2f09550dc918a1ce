"""Names the kernel keeps as raw bytes (task comm, cgroup names), made
readable: any user can name a task `café` or put a newline in it.

bpftool prints a char array as a JSON string only when every byte is
printable ASCII; otherwise as a list of numbers (signed: 0xc3 is -61)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable

_NAMED = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_char(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    if not ch.isprintable():
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ch


def escape(raw: bytes) -> str:
    """Text for raw bytes: valid UTF-8 as it is, a backslash doubled, control
    characters as \\n, \\t, \\r or \\xNN, and each invalid byte as \\xNN."""
    out = []
    pos = 0
    while pos < len(raw):
        try:
            text = raw[pos:].decode("utf-8")
        except UnicodeDecodeError as err:
            text = raw[pos:pos + err.start].decode("utf-8")
            out.extend(_escape_char(ch) for ch in text)
            bad = pos + err.start
            out.append(f"\\x{raw[bad]:02x}")
            pos = bad + 1
            continue
        out.extend(_escape_char(ch) for ch in text)
        break
    return "".join(out)


def decode(value: str | list[int]) -> str:
    """The readable name of a char array as bpftool -j prints it."""
    if isinstance(value, str):
        if value.isascii() and value.isprintable() and "\\" not in value:
            return value  # what bpftool prints as a string nearly always is
        raw = value.encode("utf-8", "surrogateescape")
    else:
        raw = bytes(b & 0xFF for b in value)
    return escape(raw.split(b"\0", 1)[0])


def shown(typed: str) -> str:
    """A name the user typed, as names are shown.  Typed with a backslash it
    is taken as shown already (`new\\nline`); otherwise as the raw name,
    whose bytes a terminal or a shell may carry (`café`, a real newline).
    One rule, so that no typed name matches two different tasks."""
    if "\\" in typed:
        return typed
    return escape(typed.encode("utf-8", "surrogateescape"))


def matcher(patterns: Iterable[str]) -> Callable[[str], bool] | None:
    """A test of a shown name: true when it contains any pattern (read by
    `shown`: raw bytes, or as shown when it has a backslash) or any pattern,
    read as a regular expression, matches it.  None when there are none."""
    patterns = tuple(patterns)
    if not patterns:
        return None
    parts = [shown(p) for p in patterns]
    expressions = []
    for pattern in patterns:
        with contextlib.suppress(re.error):  # not a regular expression: a name only
            expressions.append(re.compile(pattern))
    return lambda name: (any(p in name for p in parts)
                         or any(e.search(name) for e in expressions))
