"""lottery as pip installs it, not as the checkout runs (issue 19): the wheel
holds every module and the BPF sources; installed into a fresh virtual
environment it runs every command's help from there, with its extras and
without them (a command whose extra is missing says which to install); its
start-up imports only what the command needs; a stop at any moment of that
start-up is one line, never a traceback.

No network: the wheel is built without build isolation by this environment's
setuptools (the test extra), and a fresh environment reaches the
dependencies installed here through links to exactly the distributions the
wheel requires, so that neither this environment's own lottery (an editable
install of a checkout) nor an extra the wheel was not asked for is found."""

from __future__ import annotations

import email.parser
import importlib.metadata
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer
from conftest import DATA, REPO, need_bpf
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import orchestrator

EXTRAS = {"top": "textual", "plot": "matplotlib", "serve": "prometheus_client"}


def _env() -> dict[str, str]:
    """The environment of a command run from an installed lottery: no
    PYTHONPATH, which would put the checkout before the installed package."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout, built from a copy of its sources (so that
    neither setuptools' build/ nor a stale file of it reaches the wheel)."""
    setuptools = importlib.metadata.version("setuptools")
    assert Version(setuptools) >= Version("77"), (
        f"setuptools {setuptools} cannot build lottery (pyproject.toml needs 77): make setup "
        "installs the test extra")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "orchestrator", src / "orchestrator", symlinks=True, ignore=skip)
    shutil.copytree(REPO / "bpf", src / "bpf", ignore=skip)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index",
                            "--no-build-isolation", "-q", "-w", str(out), str(src)],
                           capture_output=True, text=True, env=_env(), timeout=120)
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("lottery-*.whl")
    return found


def _metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(zf.read(name).decode())


def _closure(requires: list[str], extras: tuple[str, ...]) -> list[importlib.metadata.Distribution]:
    """The installed distributions these requirements need, recursively."""
    wanted = [r for r in map(Requirement, requires)
              if not r.marker or any(r.marker.evaluate({"extra": e}) for e in ("", *extras))]
    found: dict[str, importlib.metadata.Distribution] = {}
    while wanted:
        req = wanted.pop()
        dist = importlib.metadata.distribution(req.name)
        key = canonicalize_name(dist.metadata["Name"])
        if key in found:
            continue
        assert dist.version in req.specifier, f"{req} is needed, {dist.version} is installed"
        found[key] = dist
        wanted += [r for r in map(Requirement, dist.requires or [])
                   if not r.marker or any(r.marker.evaluate({"extra": e})
                                          for e in ("", *req.extras))]
    return list(found.values())


def _venv(where: Path, wheel: Path, extras: tuple[str, ...]) -> Path:
    """A fresh environment with the wheel installed by pip, and links to the
    installed distributions that `lottery[extras]` needs."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                                "-q", "--no-deps", "--no-index", str(wheel)],
                               capture_output=True, text=True, env=_env(), timeout=120)
    assert installed.returncode == 0, installed.stderr
    deps = where / "deps"
    deps.mkdir()
    for dist in _closure(_metadata(wheel).get_all("Requires-Dist") or [], extras):
        for top in {Path(str(f)).parts[0] for f in dist.files or ()}:
            if top not in ("..", "__pycache__") and not (deps / top).exists():
                (deps / top).symlink_to(dist.locate_file(top))
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True).stdout
    # a path line of a .pth file: the folder goes on sys.path, its own .pth
    # files are not run
    (Path(site.strip()) / "lottery-test-deps.pth").write_text(f"{deps}\n")
    return where


@pytest.fixture(scope="module")
def full(wheel, tmp_path_factory) -> Path:
    return _venv(tmp_path_factory.mktemp("venv") / "all", wheel, ("all",))


@pytest.fixture(scope="module")
def bare(wheel, tmp_path_factory) -> Path:
    return _venv(tmp_path_factory.mktemp("venv") / "bare", wheel, ())


def _lottery(venv: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "lottery"), *args], capture_output=True,
                          text=True, env=_env(), cwd=cwd or venv, timeout=60,
                          stdin=subprocess.DEVNULL)


def _python(venv: Path, code: str) -> str:
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                          text=True, env=_env(), cwd=venv, check=True, timeout=60).stdout.strip()


def _commands(help_text: str) -> list[str]:
    """The commands a help lists under Commands:."""
    lines = help_text.split("\nCommands:\n", 1)[1].splitlines() if "\nCommands:\n" in \
        help_text else []
    return [line.split()[0] for line in lines if line.startswith("  ") and
            not line.startswith("   ")]


def test_the_wheel_holds_every_module_and_the_bpf_sources(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "orchestrator").rglob("*.py")
               if "__pycache__" not in p.parts and not p.is_relative_to(REPO / "orchestrator/bpf")}
    assert modules and modules <= names, sorted(modules - names)
    sources = {f"orchestrator/bpf/{p.name}" for p in (REPO / "bpf").iterdir()
               if p.suffix in (".c", ".h")}
    assert sources and sources <= names, sorted(sources - names)
    meta = _metadata(wheel)
    assert meta["Version"] == orchestrator.__version__
    assert "lottery = orchestrator.entry:main" in zipfile.ZipFile(wheel).read(
        f"lottery-{meta['Version']}.dist-info/entry_points.txt").decode()


def test_all_is_every_extra():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert sorted(extras["all"]) == sorted(extras["top"] + extras["plot"] + extras["serve"])
    for extra, module in EXTRAS.items():
        assert any(Requirement(r).name == module for r in extras[extra])


def test_the_installed_lottery_runs_every_help_from_its_own_environment(full):
    where = _python(full, "import orchestrator; print(orchestrator.__file__)")
    assert Path(where).is_relative_to(full), where
    sources = _python(full, "from orchestrator import paths; print(paths.bpf_sources())")
    assert Path(sources).is_relative_to(full) and (Path(sources) / "sched_lottery.h").is_file()
    version = _lottery(full, "--version")
    assert (version.returncode, version.stdout, version.stderr) == (
        0, f"lottery {orchestrator.__version__}\n", "")
    top = _lottery(full, "--help")
    assert top.returncode == 0 and top.stderr == "", top.stderr
    commands = _commands(top.stdout)
    assert {"build", "load", "dump", "top", "plot", "serve", "experiment"} <= set(commands)
    shown: dict[tuple[str, ...], subprocess.CompletedProcess] = {}
    todo = [(name,) for name in commands]
    with ThreadPoolExecutor(2) as pool:
        while todo:  # the commands, then the subcommands each group lists
            helps = pool.map(lambda path: _lottery(full, *path, "--help"), todo)
            done = dict(zip(todo, helps, strict=True))
            shown.update(done)
            todo = [(*path, sub) for path, result in done.items()
                    for sub in _commands(result.stdout)]
    for path, result in shown.items():
        assert result.returncode == 0 and result.stderr == "", (path, result.stderr)
        assert "Examples:" in result.stdout, path
        assert result.stdout.startswith(f"Usage: lottery {' '.join(path)} "), path
    assert ("experiment", "insulation") in shown  # the subcommands were found too


def test_the_installed_lottery_builds_from_its_own_bpf_sources(full, tmp_path):
    need_bpf()
    result = _lottery(full, "build", "--build-dir", str(tmp_path / "build"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "build" / "sched_lottery.bpf.o").stat().st_size > 0


@pytest.mark.parametrize("args,needs", [
    (["top"], "lottery top needs Textual: pip install 'lottery[top]'"),
    (["top", "--replay", str(DATA / "recording.csv")],
     "lottery top needs Textual: pip install 'lottery[top]'"),
    (["plot", str(DATA / "recording.csv")],
     "lottery plot needs matplotlib: pip install 'lottery[plot]'"),
    (["experiment"], "lottery experiment needs matplotlib: pip install 'lottery[plot]'"),
    (["experiment", "error", "--duration", "5"],
     "lottery experiment needs matplotlib: pip install 'lottery[plot]'"),
    (["serve"], "lottery serve needs prometheus_client: pip install 'lottery[serve]'"),
    (["serve", "--help"], "lottery serve needs prometheus_client: pip install 'lottery[serve]'"),
])
def test_a_missing_extra_is_one_line_naming_the_install(bare, args, needs, tmp_path):
    result = _lottery(bare, *args, cwd=tmp_path)
    assert result.returncode == 1, result
    assert result.stderr == f"lottery: {needs}\n", result.stderr
    assert not list(tmp_path.iterdir())  # nothing was started or written


def test_without_extras_the_rest_works(bare, tmp_path):
    for module in EXTRAS.values():  # the environment really lacks them
        assert _python(bare, f"import importlib.util; print(importlib.util.find_spec("
                             f"{module!r}) is None)") == "True", module
    assert "experiment" in _commands(_lottery(bare, "--help").stdout)
    for args in (["top", "--help"], ["plot", "--help"], ["experiment", "--help"]):
        result = _lottery(bare, *args)
        assert result.returncode == 0 and "Examples:" in result.stdout, (args, result.stderr)
    replayed = _lottery(bare, "dump", "--replay", str(DATA / "recording.csv"), "--top", "3",
                        "-o", str(tmp_path / "out.csv"))
    assert replayed.returncode == 0, replayed.stderr
    assert "PID" in replayed.stdout and (tmp_path / "out.csv").stat().st_size > 0


# What `lottery --version` and `--help` may import of lottery: its entry
# point, the command line, and what both need to report an error.
_START = {"orchestrator", "orchestrator.__main__", "orchestrator.entry", "orchestrator.cli",
          "orchestrator.constants", "orchestrator.errors", "orchestrator.signals"}
_HEAVY = ("textual", "matplotlib", "prometheus_client", "plumbum", "tabulate")


def _imported(*args: str) -> set[str]:
    """Every module `lottery ARGS` imports, as Python's -X importtime lists them."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "orchestrator", *args],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode in (0, 2), result.stderr
    return {line.rpartition("|")[2].strip() for line in result.stderr.splitlines()
            if line.startswith("import time:")}


@pytest.mark.parametrize("args", [["--version"], ["--help"], []])
def test_start_up_imports_only_the_command_line(args):
    modules = _imported(*args)
    assert "typer" in modules  # the listing is read right
    ours = {m for m in modules if m.partition(".")[0] == "orchestrator"}
    assert ours <= _START, sorted(ours - _START)
    assert not {m for m in modules if m.partition(".")[0] in _HEAVY}


def test_the_list_of_commands_is_the_one_typer_builds():
    from orchestrator import cli

    listed, built = cli.command_line().commands, typer.main.get_command(cli.app).commands
    assert list(listed) == list(built)
    for name, command in built.items():
        assert listed[name].get_short_help_str(80) == command.get_short_help_str(80), name


def test_a_command_imports_its_own_code_only():
    modules = _imported("dump", "--help")
    assert "orchestrator.sinks.table" in modules  # what dump's options list
    assert not {m for m in modules if m.partition(".")[0] in ("textual", "matplotlib",
                                                              "prometheus_client")}


# Run `lottery` (python -m orchestrator) with a stop sent to it as the
# import of one module begins.
_STOP_AT_IMPORT = """
import os, runpy, sys
module, signum = sys.argv.pop(1), int(sys.argv.pop(1))

class StopAt:
    def find_spec(self, name, path=None, target=None):
        if name == module:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signum)
        return None

sys.meta_path.insert(0, StopAt())
sys.argv[0] = "lottery"
runpy.run_module("orchestrator", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("module,args,signum", [
    ("signal", ["--version"], signal.SIGINT), ("orchestrator.signals", ["--help"], signal.SIGHUP),
    ("typer", ["--version"], signal.SIGINT), ("typer", ["--version"], signal.SIGTERM),
    ("typer.main", ["--help"], signal.SIGHUP), ("orchestrator.cli", ["--version"], signal.SIGINT),
    ("orchestrator.sinks.table", ["dump", "--help"], signal.SIGTERM),
    ("orchestrator.commands.simulate", ["simulate", str(DATA / "dump.csv")], signal.SIGINT)])
def test_a_stop_while_lottery_imports_is_one_line(module, args, signum):
    result = subprocess.run([sys.executable, "-c", _STOP_AT_IMPORT, module, str(int(signum)),
                             *args], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (result.returncode, result.stderr) == (128 + signum, "lottery: interrupted\n"), \
        result.stderr


def test_the_entry_point_catches_the_stops_signals_names():
    from orchestrator import entry, signals

    assert entry._STOPPING == signals.STOPPING


def test_a_stop_python_would_ignore_still_ends_the_command():
    """A stop whose handler runs inside a weakref callback (the import
    system's module locks have them): Python would print the exception as
    ignored and go on."""
    code = """
import os, signal, sys, weakref
sys.argv = ["lottery", "--version"]
from orchestrator import cli
def run(argv):
    class Lock:
        pass
    lock = Lock()
    def gone(_):
        os.kill(os.getpid(), signal.SIGTERM)
        [n for n in range(3)]  # the handler runs here, in the callback
    ref = weakref.ref(lock, gone)
    del lock
    for _ in range(1000):
        pass
    print("not stopped")
    return 0
cli.run = run
from orchestrator import entry
entry.main()
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (result.returncode, result.stderr) == (
        128 + signal.SIGTERM, "lottery: interrupted\n"), result.stderr


def _caught(pid: int) -> set[int]:
    """The signals the process has handlers for (/proc: SigCgt)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("SigCgt:"):
                mask = int(line.split()[1], 16)
                return {n for n in range(1, 65) if mask >> (n - 1) & 1}
    return set()


def _stopped_at(argv: list[str], delay_s: float, signum: int | None
               ) -> tuple[subprocess.CompletedProcess, float]:
    """Run argv; once its handlers for SIGTERM and SIGHUP are in place (all
    of lottery's, none of them Python's), wait delay_s and send signum.
    Also: the seconds from then to the end."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(), stdin=subprocess.DEVNULL)
    try:
        while proc.poll() is None:
            try:
                if {signal.SIGTERM, signal.SIGHUP} <= _caught(proc.pid):
                    break
            except FileNotFoundError:
                break
        handled = time.monotonic()
        time.sleep(delay_s)
        if signum is not None and proc.poll() is None:
            proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
        return subprocess.CompletedProcess(argv, proc.returncode, out, err), \
            time.monotonic() - handled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("args,stops", [(["--version"], 10), (["dump", "--help"], 7)])
def test_a_stop_at_any_moment_of_start_up_is_one_line_never_a_traceback(full, args, stops):
    """Runs until `stops` of them were stopped before their end (at most
    ten times as many runs): how many stops land in start-up is up to how
    busy the machine is, not what the test checks."""
    argv = [str(full / "bin" / "lottery"), *args]
    _stopped_at(argv, 0, None)  # the first run may write bytecode: not a measure
    clean, rest_s = _stopped_at(argv, 0, None)
    assert clean.returncode == 0 and clean.stderr == ""
    rng = random.Random(19)
    stopped = 0
    for n in range(10 * stops):
        signum = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)[n % 3]
        # from right after lottery's handlers are set to a little past the end
        result, _ = _stopped_at(argv, rng.uniform(0, 1.2 * rest_s), signum)
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 1, (
            n, signum, result.stderr)
        if result.returncode in (0, -signum):
            # the stop came after the process had ended, or in the last
            # moments of the interpreter's exit, once it has put back the
            # signals' default actions (a shell shows 128 + N all the same)
            assert (result.stdout, result.stderr) == (clean.stdout, ""), (n, signum)
        else:
            assert result.returncode == 128 + signum, (n, signum, result)
            assert result.stderr in ("", "lottery: interrupted\n"), (n, signum, result.stderr)
            stopped += 1
            if stopped == stops:
                return
    raise AssertionError(f"only {stopped} of {10 * stops} runs were stopped before their end")
