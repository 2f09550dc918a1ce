"""Fixtures: a real BPF build and a real loaded instance with its own pins.

Every instance is unloaded and checked for leftovers even when the test
fails; with LOTTERY_REQUIRE_BPF=1 (CI) a BPF test that would skip fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from orchestrator import bpffs, paths, tools
from orchestrator.commands import build as build_cmd
from orchestrator.commands import load as load_cmd
from orchestrator.commands import unload as unload_cmd

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parent.parent


def _bpf_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "BPF tests need root"
    if not paths.btf_path().exists():
        return "no kernel BTF at /sys/kernel/btf/vmlinux"
    if not tools.which("clang"):
        return "clang is not installed (make setup)"
    if not tools.which("bpftool") or not tools.bpftool_can_autoattach():
        return "bpftool with autoattach is not installed (make setup)"
    return None


def need_bpf() -> None:
    reason = _bpf_unavailable()
    if reason:
        if os.environ.get("LOTTERY_REQUIRE_BPF") == "1":
            pytest.fail(f"LOTTERY_REQUIRE_BPF=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def bpf_object(tmp_path_factory) -> Path:
    need_bpf()
    out = tmp_path_factory.mktemp("build")
    build_cmd.build(str(out))
    return out / "sched_lottery.bpf.o"


def _links() -> set[int]:
    shown = subprocess.run([tools.require("bpftool"), "-j", "link", "show"],
                           capture_output=True, text=True).stdout
    return {link["id"] for link in json.loads(shown or "[]")}


@pytest.fixture
def pin_dir() -> Path:
    """A fresh pin directory name; whatever ends up there is removed after."""
    need_bpf()
    bpffs.ensure_mounted()
    path = Path(f"/sys/fs/bpf/lottery-test-{uuid.uuid4().hex[:8]}")
    links_before = _links()
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)
    leaked = _links() - links_before
    assert not path.exists(), f"pins left at {path}"
    assert not leaked, f"BPF links left attached: {leaked}"


@pytest.fixture
def instance(bpf_object, pin_dir):
    """A loaded instance in its own pin directory."""
    pins = paths.pins(pin_dir)
    load_cmd.load(pins, obj=str(bpf_object))
    try:
        yield pins
    finally:
        unload_cmd.unload(pins)


def run_lottery(*args: str, env: dict | None = None, user: str | None = None,
                cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the CLI as a user would, in a child process."""
    argv = [sys.executable, "-m", "orchestrator", *args]
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, cwd=cwd,
                          timeout=timeout, stdin=subprocess.DEVNULL)
