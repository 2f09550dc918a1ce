"""Struct layouts from a BPF object's BTF, so that a value lottery writes
into a map (struct settings) is laid out by the compiler's own record of
its fields, by name, and never by an order written down in Python."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import LotteryError
from orchestrator.kernel import tools

# Kinds that only name or qualify another type: their size is that type's.
_ALIASES = {"TYPEDEF", "VOLATILE", "CONST", "RESTRICT", "TYPE_TAG"}


@dataclass(frozen=True)
class Member:
    name: str
    offset: int  # bytes from the start of the struct
    size: int    # bytes


@dataclass(frozen=True)
class Struct:
    name: str
    size: int
    members: dict[str, Member]

    def pack(self, values: dict[str, int]) -> bytes:
        """The struct's bytes with each named member set (unsigned integers,
        in this machine's byte order, as BPF programs see them); members
        not named are zero.  Raises for a name the struct has not."""
        unknown = values.keys() - self.members.keys()
        if unknown:
            raise LotteryError(f"struct {self.name} has no field {sorted(unknown)[0]}",
                               "run lottery build, then sudo lottery load --force")
        out = bytearray(self.size)
        for name, value in values.items():
            m = self.members[name]
            out[m.offset:m.offset + m.size] = value.to_bytes(m.size, sys.byteorder)
        return bytes(out)


def _size(types: dict[int, dict[str, Any]], type_id: int) -> int:
    t = types[type_id]
    while t["kind"] in _ALIASES:
        t = types[t["type_id"]]
    if t["kind"] == "ARRAY":
        return t["nr_elems"] * _size(types, t["type_id"])
    if t["kind"] == "PTR":
        return 8  # BPF's pointers are 64-bit
    if "size" not in t:
        raise ValueError(f"a member of kind {t['kind']} has no size")
    return t["size"]


def struct(types: list[dict[str, Any]], name: str) -> Struct:
    """The layout of `struct name` in `bpftool -j btf dump ... format raw`."""
    by_id = {t["id"]: t for t in types}
    for t in types:
        if t.get("kind") == "STRUCT" and t.get("name") == name:
            members = {}
            for m in t["members"]:
                if m["bits_offset"] % 8:
                    raise ValueError(f"{name}.{m['name']} is a bit field")
                members[m["name"]] = Member(m["name"], m["bits_offset"] // 8,
                                            _size(by_id, m["type_id"]))
            return Struct(name, t["size"], members)
    raise LotteryError(f"the BPF object has no struct {name}",
                       "run lottery build, then sudo lottery load --force")


def object_struct(obj: Path, name: str) -> Struct:
    """The layout of `struct name` in a compiled BPF object."""
    dump = tools.bpftool(["btf", "dump", "file", str(obj), "format", "raw"], elevate=False,
                         what="bpftool btf dump")
    return struct(dump["types"], name)


def hex_bytes(data: bytes) -> list[str]:
    """Bytes as bpftool's `key`/`value` arguments take them."""
    return [f"0x{b:02x}" for b in data]
