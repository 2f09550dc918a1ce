"""The lottery paper's experiments on this kernel, in short real runs
(issue 12): cgroups are currencies.  Shares are of what the experiment's
own tasks had, so other load on the CPU changes nothing; the cgroups checked
for after each run are the ones its own tasks ran in (other users' runs
make lottery-* cgroups too)."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path

import pytest
from conftest import PATIENCE_S, _argv_env, need_cpu_controller, ratio_allowed, wait_until

from orchestrator.constants import READER_SLOTS
from orchestrator.kernel import cgroups, snapshot
from orchestrator.paths import Pins

CPU = max(os.sched_getaffinity(0))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def cpu_controller():
    need_cpu_controller()


def _started(pid: int) -> int:
    """When a process started (clock ticks after boot): with its pid, what
    tells it from a later task that got the same pid."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def _tasks(pid: int) -> dict[int, int]:
    """An experiment's tasks (its children) and when each started."""
    found = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
            found[int(child)] = _started(int(child))
    return found


def _groups(pids) -> dict[int, Path]:
    """The run's own cgroups: the top-level one (of the cpu controller) each
    of its tasks is in, if a lottery-* one; everything the run makes is under
    them (cgroups.Cgroups)."""
    base, knob = cgroups.controller()
    found = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
                hierarchy, controllers, path = line.split(":", 2)
                ours = "cpu" in controllers.split(",") if knob == "cpu.shares" \
                    else hierarchy == "0"
                if ours and path.startswith("/lottery-"):
                    found[pid] = base / path.split("/")[1]
    return found


class Experiment:
    """`lottery experiment ARGS` as a program, watched while it runs: its
    tasks, and the cgroups they are in."""

    def __init__(self, *args: str):
        argv, env = _argv_env(("experiment", *args), None, None)
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL)
        self.tasks: dict[int, int] = {}  # its children (bpftool too), when each started
        self.grouped: dict[int, Path] = {}  # those in its cgroups: the experiment's tasks

    @property
    def groups(self) -> set[Path]:
        return set(self.grouped.values())

    def watch(self) -> int:
        """Look once; return how many of its tasks were seen in its cgroups."""
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            tasks = _tasks(self.proc.pid)
            self.tasks.update(tasks)
            self.grouped.update(_groups(tasks))
        return len(self.grouped)

    def _ended(self) -> bool:
        self.watch()
        return self.proc.poll() is not None

    def wait(self) -> subprocess.CompletedProcess:
        """Watch it to its end."""
        wait_until(self._ended, "the experiment to end", step_s=0.1)
        out, err = self.proc.communicate()
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)

    def left(self) -> list[str]:
        """What is left of the run: its cgroups, and its tasks (a task gone,
        a zombie, or a later task under its pid, is not left)."""
        left = [str(group) for group in self.groups if group.exists()]
        for pid, began in self.tasks.items():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                if stat[0] != "Z" and int(stat[19]) == began:
                    left.append(f"task {pid}")
        return left


def _run(*args: str) -> subprocess.CompletedProcess:
    """Run an experiment to its end; it must leave none of its cgroups and tasks."""
    run = Experiment(*args)
    try:
        done = run.wait()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
    if done.returncode == 0:
        assert run.groups, "its tasks were never seen in cgroups of its own"
    assert not run.left(), f"the experiment left {run.left()}"
    return done


def test_insulation_keeps_a_unchanged_when_b3_inflates_b(instance, cpu_controller, tmp_path):
    out, png = tmp_path / "ins.csv", tmp_path / "ins.png"
    done = _run("insulation", "--duration", "5", "--cpu", str(CPU),
                "--pin-dir", str(instance.dir), "-o", str(out), "--png", str(png))
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    ran = {(r["phase"], r["task"]): int(r["runtime_ns"]) for r in rows}
    assert {r["task"] for r in rows if r["phase"] == "after"} == {"A1", "A2", "B1", "B2", "B3"}

    def share(phase: str, names: str) -> float:
        here = {t: v for (p, t), v in ran.items() if p == phase}
        return sum(here[t] for t in here if t in names.split()) / sum(here.values())

    for phase in ("before", "after"):
        assert share(phase, "A1 A2") == pytest.approx(0.5, rel=0.05), phase  # A:B 1:1
        assert ran[(phase, "A2")] / ran[(phase, "A1")] == pytest.approx(2, rel=0.05)
    assert share("after", "A1 A2") == pytest.approx(share("before", "A1 A2"), rel=0.05)
    assert share("after", "B1") == pytest.approx(share("before", "B1") / 2, rel=0.10)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fairness_linux_keeps_the_ratio_and_lottery_spreads_more_than_stride(
        instance, cpu_controller, tmp_path):
    out = tmp_path / "fair.csv"
    done = _run("fairness", "--ratio", "2:1", "--duration", "5", "--window", "0.5",
                "--cpu", str(CPU), "--seed", "1", "--pin-dir", str(instance.dir), "-o", str(out),
                "--png", str(tmp_path / "fair.png"))
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    assert len(rows) >= 9
    linux = [float(r["linux_ratio"]) for r in rows]
    assert statistics.fmean(linux) == pytest.approx(2.0, rel=0.03), linux
    lottery = [float(r["lottery_ratio"]) for r in rows]
    stride = [float(r["stride_ratio"]) for r in rows]
    assert statistics.stdev(lottery) > statistics.stdev(stride), (lottery, stride)


def test_ratio_through_cgroup_weights_is_exact(instance, cpu_controller, tmp_path):
    out = tmp_path / "ratio.csv"
    done = _run("ratio", "--ratios", "1:1,3:1", "--duration", "2", "--cpu", str(CPU),
                "--seed", "1", "--via", "cgroup", "--pin-dir", str(instance.dir), "-o", str(out),
                "--png", str(tmp_path / "ratio.png"))
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    assert [r["via"] for r in rows] == ["cgroup", "cgroup"]
    for row, allocated in zip(rows, (1.0, 3.0), strict=True):
        assert float(row["weight_ratio"]) == allocated
        assert float(row["observed_ratio"]) == pytest.approx(allocated, rel=ratio_allowed(
            int(row["runtime_a_ns"]), int(row["runtime_b_ns"]), 0.02)), row


def test_error_linux_stays_within_a_few_quanta_while_lotterys_grows(
        instance, cpu_controller, tmp_path):
    out = tmp_path / "error.csv"
    done = _run("error", "--duration", "4", "--cpu", str(CPU), "--seed", "1",
                "--pin-dir", str(instance.dir), "-o", str(out),
                "--png", str(tmp_path / "error.png"))
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    late = rows[len(rows) // 2:]
    lottery = statistics.fmean(float(r["lottery_error"]) for r in late)
    theory = statistics.fmean(float(r["lottery_theory"]) for r in late)
    assert lottery == pytest.approx(theory, rel=0.3)  # sqrt(n) growth, as simulated
    assert max(float(r["stride_error"]) for r in rows) <= 1.0
    linux = statistics.fmean(float(r["linux_error"]) for r in late)
    assert linux < lottery, (linux, lottery)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_removes_the_tasks_and_the_cgroups(instance, cpu_controller, tmp_path, stop):
    run = Experiment("insulation", "--duration", "300", "--cpu", str(CPU),
                     "--pin-dir", str(instance.dir), "-o", str(tmp_path / "x.csv"),
                     "--png", str(tmp_path / "x.png"))
    try:
        # stopped once its tasks run in their cgroups, however long a busy
        # machine takes to get there
        wait_until(lambda: run.watch() >= 4, "the experiment's four first tasks")
        run.proc.send_signal(stop)
        _, err = run.proc.communicate(timeout=PATIENCE_S)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
    assert run.proc.returncode == 128 + stop, err  # typer alone would say 130 for any
    assert "interrupted" in err and "Traceback" not in err
    assert not run.left(), f"the experiment left {run.left()}"
    assert not list(tmp_path.iterdir())  # no result written


def test_no_cpu_controller_is_said_in_one_line(monkeypatch):
    from orchestrator.commands import experiment
    from orchestrator.errors import LotteryError
    from orchestrator.paths import pins

    monkeypatch.setattr(cgroups, "controller", lambda: None)
    with pytest.raises(LotteryError, match="no cpu controller for cgroups") as err:
        experiment.insulation(pins("/sys/fs/bpf/lottery-never-loaded"), 10, None, None, None)
    assert "--via nice" in err.value.line() or "cpu" in err.value.fix
    assert experiment.via_default(None) == "nice"


def test_readings_that_come_late_are_no_measurement():
    """On a busy machine a reading can take longer than the run: a window
    with fewer than two readings once gave an observed ratio of 0.000, and
    a task without CPU a ratio of zeros, written as results with exit 0."""
    from orchestrator.errors import LotteryError
    from orchestrator.experiments import runner

    late = [(0.0, {"A": 0, "B": 0}), (2.1, {"A": 900, "B": 300}), (4.0, {"A": 1900, "B": 700})]
    with pytest.raises(LotteryError, match="no two readings between 0.30 s and 3.30 s"):
        runner.between(late, 0.3, 3.3)
    starved = [(0.0, {"A": 0, "B": 0}), (1.0, {"A": 900, "B": 0}), (2.0, {"A": 1900, "B": 0})]
    with pytest.raises(LotteryError, match="task B had no CPU time"):
        runner.between(starved, 0.0, 2.0)
    assert runner.between(late, 0.0, 4.0) == (4.0, {"A": 1900, "B": 700})


def test_an_experiment_beside_other_readers_measures_its_own_tasks(instance, cpu_controller,
                                                                    tmp_path):
    """Other readers of the same instance (a dump sampling every 0.1 s, and
    one more) take their samples between the experiment's: it still reads
    its own tasks at every step, on CPU 0 as on any."""
    readers = [subprocess.Popen(_argv_env(("dump", "0.1", "-q", "--pin-dir",
                                           str(instance.dir)), None, None)[0],
                                env=_argv_env((), None, None)[1], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
               for _ in range(2)]
    try:
        out = tmp_path / "ratio.csv"
        # each reader walks a slot of its own: no turns to wait for (it says
        # so in one line when two readings do not come)
        done = _run("ratio", "--ratios", "2:1", "--duration", "3", "--cpu", "0", "--via",
                    "cgroup", "--pin-dir", str(instance.dir), "-o", str(out),
                    "--png", str(tmp_path / "r.png"))
        assert done.returncode == 0, done.stderr
        (row,) = _rows(out)
        assert float(row["observed_ratio"]) == pytest.approx(2.0, rel=ratio_allowed(
            int(row["runtime_a_ns"]), int(row["runtime_b_ns"]), 0.05)), row
        assert all(r.poll() is None for r in readers), "a reader was stopped by the experiment"
    finally:
        for reader in readers:
            reader.send_signal(signal.SIGINT)
            _, err = reader.communicate(timeout=PATIENCE_S)
            assert "Traceback" not in err and "overwritten" not in err, err


def _ended_in_one_line(run: Experiment, tmp_path: Path, *words: str) -> None:
    """The run ended with one line naming `words`, wrote nothing, left nothing."""
    try:
        _, err = run.proc.communicate(timeout=PATIENCE_S)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
    assert run.proc.returncode == 1 and len(err.splitlines()) == 1, err
    assert "Traceback" not in err and all(word in err for word in words), err
    assert not run.left(), f"the experiment left {run.left()}"
    assert not list(tmp_path.iterdir())


def test_a_task_someone_else_kills_ends_the_run_in_one_line(instance, cpu_controller, tmp_path):
    """Its status said, the other task stopped, its cgroups removed: once, the
    run reaped the dead task to tell why, then waited for it again and ended
    in a traceback."""
    run = Experiment("ratio", "--ratios", "2:1", "--duration", "300", "--cpu", str(CPU),
                     "--via", "cgroup", "--pin-dir", str(instance.dir),
                     "-o", str(tmp_path / "x.csv"), "--png", str(tmp_path / "x.png"))
    wait_until(lambda: run.watch() >= 2, "the experiment's two tasks")
    victim = min(run.grouped)
    os.kill(victim, signal.SIGKILL)
    _ended_in_one_line(run, tmp_path, f"(pid {victim}) ended early (status -9)")


def test_readings_that_come_late_are_said_so_not_taken_for_ended_tasks(instance, bpf_object,
                                                                        cpu_controller,
                                                                        tmp_path):
    """Other readers hold every reader slot: the run's first reading waits
    for one, longer than the run. That is said in one line; once, its tasks
    had ended by then, for they ran for the run's length in seconds, and it
    blamed someone for killing them."""
    pins: Pins = instance
    held = [snapshot.claim(pins, [slot], wait=False)[1] for slot in range(READER_SLOTS)]
    try:
        run = Experiment("ratio", "--ratios", "2:1", "--duration", "1", "--cpu", str(CPU),
                         "--via", "cgroup", "--pin-dir", str(pins.dir),
                         "-o", str(tmp_path / "x.csv"), "--png", str(tmp_path / "x.png"))
        wait_until(lambda: run.watch() >= 2, "the experiment's two tasks")
        time.sleep(4)  # at least: the run's length and then some, before its first reading
    finally:
        for handle in held:
            handle.close()
    _ended_in_one_line(run, tmp_path, "no two readings", "sampling took longer than the run")
