"""lottery build decides what is up to date by the contents of every input
(BTF, sources, vmlinux.h, compiler and flags), not by file times (issue 10):
a kernel's BTF keeps its time across an upgrade, a copied file its own."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import need_bpf

from orchestrator import paths
from orchestrator.commands import build as build_cmd
from orchestrator.errors import LotteryError


def _build(capsys, out, btf) -> str:
    build_cmd.build(str(out), str(btf))
    return capsys.readouterr().out


def test_a_build_follows_the_btf_content_not_its_time(tmp_path, capsys):
    need_bpf()
    btf, out = tmp_path / "vmlinux.btf", tmp_path / "build"
    shutil.copy(paths.btf_path(), btf)
    first = _build(capsys, out, btf)
    assert "generated" in first and "compiled" in first
    assert "up to date: " in _build(capsys, out, btf)  # nothing changed: nothing redone
    header = (out / "vmlinux.h").read_text()
    # Another BTF, as old as the first: the object's own (a small, valid BTF).
    shutil.copy(out / "sched_lottery.bpf.o", btf)
    os.utime(btf, (1_000_000, 1_000_000))
    assert build_cmd.generate_vmlinux_h(btf, out / "vmlinux.h")
    assert (out / "vmlinux.h").read_text() != header
    assert "struct task_stats" in (out / "vmlinux.h").read_text()
    # back to the kernel's: the header is made again, the same as before, so
    # the object made from that very header still is up to date
    shutil.copy(paths.btf_path(), btf)
    os.utime(btf, (1_000_000, 1_000_000))
    again = _build(capsys, out, btf)
    assert "generated" in again and "up to date: " + str(out / "sched_lottery.bpf.o") in again
    assert (out / "vmlinux.h").read_text() == header


def test_an_object_changed_after_the_build_is_built_again(tmp_path, capsys):
    need_bpf()
    out = tmp_path / "build"
    _build(capsys, out, paths.btf_path())
    obj = out / "sched_lottery.bpf.o"
    good = obj.read_bytes()
    obj.write_bytes(b"not an object")  # newer than every input, and wrong
    assert "compiled" in _build(capsys, out, paths.btf_path())
    assert obj.read_bytes() == good  # the compiler is deterministic for the same inputs
    (out / "vmlinux.h.inputs").write_text("{}")  # a stamp of other inputs
    assert "generated" in _build(capsys, out, paths.btf_path())


def test_a_btf_from_the_build_directory_is_not_replaced_by_what_is_made_from_it(tmp_path):
    """The object holds BTF too: built from it, the build would replace its
    own input (and vmlinux.h likewise)."""
    need_bpf()
    out = tmp_path / "build"
    build_cmd.build(str(out))
    for made in ("sched_lottery.bpf.o", "vmlinux.h"):
        before = (out / made).read_bytes()
        with pytest.raises(LotteryError, match="same file as --btf") as err:
            build_cmd.build(str(out), str(tmp_path / "build" / ".." / "build" / made))
        assert err.value.code == 2 and "--build-dir" in err.value.line()
        assert (out / made).read_bytes() == before
