"""Containers on the real kernel: cgroup directories laid out as containerd,
CRI-O and Docker lay them out (no runtime needed: the names are the
directories), spinners in them pinned to one CPU, the real BPF program in
a pin directory of its own.  `dump --by container` and `serve --group-by
container` must find exactly these containers and pods, and each
container's CPU must be what /proc/PID/schedstat says its tasks used.

The spinners are stopped (SIGSTOP) while a snapshot reads them, so the
snapshot and schedstat read the same numbers whatever else runs on the
machine; between the two readings they compete on the CPU."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import run_lottery, wait_until
from test_exporter import Exporter, _get

from orchestrator import groupings
from orchestrator.analysis import tickets
from orchestrator.analysis.frames import Pipeline, bpftool_source
from orchestrator.groupings.container import Container
from orchestrator.kernel import tools
from orchestrator.kernel.cgroup_dirs import cpu_hierarchy
from orchestrator.sinks import rows

CPU = max(os.sched_getaffinity(0))
# Each container must have used this much CPU between the two readings: a
# busy machine may give the spinners little, and a rate needs some time.
ENOUGH_NS = 40_000_000


def _hex64() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


class _Layout:
    """The directories the runtimes would make, under the test's own cgroup,
    and what each container (or pod's own cgroup) is expected to be."""

    def __init__(self, cgroups):
        self.cgroups = cgroups
        self.expected: dict[Path, Container] = {}

    def make(self, *names: str) -> Path:
        path = self.cgroups.root
        for name in names:
            if path / name not in self.cgroups.made:
                self.cgroups.make(name, 1024, parent=None if path == self.cgroups.root else path)
            path = path / name
        return path

    def expect(self, path: Path, container_id: str, pod_uid: str) -> Path:
        self.expected[path] = Container(container_id, pod_uid)
        return path


def _lay_out(cgroups) -> _Layout:
    layout = _Layout(cgroups)
    burstable, besteffort, guaranteed = (str(uuid.uuid4()) for _ in range(3))
    ids = [_hex64() for _ in range(4)]
    pod_slice = ("kubepods.slice", "kubepods-burstable.slice",
                 f"kubepods-burstable-pod{burstable.replace('-', '_')}.slice")
    # containerd, systemd driver; CRI-O for a guaranteed pod; the cgroupfs
    # driver; Docker's systemd scope; and the burstable pod's own slice
    layout.expect(layout.make(*pod_slice, f"cri-containerd-{ids[0]}.scope"), ids[0], burstable)
    layout.expect(layout.make("kubepods.slice", f"kubepods-pod{guaranteed.replace('-', '_')}"
                              f".slice", f"crio-{ids[1]}.scope"), ids[1], guaranteed)
    layout.expect(layout.make("kubepods", "besteffort", f"pod{besteffort}", ids[2]), ids[2],
                  besteffort)
    layout.expect(layout.make("system.slice", f"docker-{ids[3]}.scope"), ids[3], "")
    layout.expect(layout.make(*pod_slice), "", burstable)
    return layout


def _deep(layout: _Layout) -> Path:
    """A Docker container 11 levels down: deeper than the 8 levels the BPF
    walk reads, so the top of its path comes from the hierarchy."""
    deep_id = _hex64()
    levels = [f"level{n}" for n in range(9)]
    return layout.expect(layout.make(*levels, f"docker-{deep_id}.scope"), deep_id, "")


def _stop(pids: list[int]) -> None:
    """Stop the spinners, and wait until none runs: schedstat is final then."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    for pid in pids:
        wait_until(lambda pid=pid: Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
                   .split()[0] == "T", f"spinner {pid} to stop")


def _go_on(pids: list[int]) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGCONT)


def _schedstat_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def _per_container(members: dict[Container, list[int]]) -> dict[Container, int]:
    return {c: sum(map(_schedstat_ns, pids)) for c, pids in members.items()}


@pytest.fixture
def containers(instance, cgroups, spin):
    """The layout with two spinners in the first container and one in each
    other cgroup, all on one CPU: {container: its spinners' pids}."""
    layout = _lay_out(cgroups)
    deep = _deep(layout)
    members: dict[Container, list[int]] = {}
    for n, (path, found) in enumerate(layout.expected.items()):
        members[found] = spin(0, CPU, cgroup=path) + (spin(0, CPU, cgroup=path) if n == 0
                                                      else [])
    pids = [pid for group in members.values() for pid in group]
    try:
        yield members, deep, layout.expected[deep]
    finally:
        _go_on(pids)  # a stopped spinner still ends with the spin fixture's SIGTERM


def _grown_enough(members, before: dict[Container, int]) -> bool:
    now = _per_container(members)
    return all(now[c] - before[c] >= ENOUGH_NS for c in members)


def test_dump_by_container_finds_the_containers_and_pods_and_their_cpu(instance, containers):
    members, deep_path, deep = containers
    pids = [pid for group in members.values() for pid in group]
    shown = run_lottery("dump", "0.2", "1", "--by", "container", "--wide", "-p",
                           ",".join(map(str, pids)), "--pin-dir", str(instance.dir))
    assert shown.returncode == 0, shown.stderr
    found = set()
    for line in shown.stdout.splitlines():
        cells = line.split()
        if len(cells) > 2 and cells[0].isdigit():  # THREADS CONTAINER GROUP POD-UID ...
            uid = next((c for c in cells if re.fullmatch(r"[0-9a-f-]{36}", c)), "")
            found.add((cells[1], uid))
    expected = {(c.container_id or f"pod-{c.pod_uid}", c.pod_uid) for c in members}
    assert found == expected, shown.stdout

    # the CPU of each, between two readings with the spinners stopped
    grouping = groupings.get("container")
    pipeline, source = Pipeline(tickets.WEIGHT), bpftool_source(instance)
    take = source.take
    _stop(pids)
    before = _per_container(members)
    pipeline.frame(take())
    _go_on(pids)
    wait_until(lambda: _grown_enough(members, before), "CPU for every container")
    _stop(pids)
    after = _per_container(members)
    frame = pipeline.frame(take())
    _go_on(pids)
    interval_ns = frame.conservation.interval_ns
    ours = [r for r in frame.tasks if r.pid in pids]
    by_container = {Container(*g.labels): g for g in rows.aggregate(ours, grouping)}
    assert set(by_container) == set(members)
    errors = []
    for c, g in by_container.items():
        kernel_rate = (after[c] - before[c]) / interval_ns
        shown_rate = g.runtime_delta_ns / interval_ns
        errors.append(abs(shown_rate / kernel_rate - 1))
        assert shown_rate == pytest.approx(kernel_rate, rel=0.05), (c, shown_rate, kernel_rate)
        assert g.threads == len(members[c])
    print(f"\nrates against schedstat: worst error {100 * max(errors):.4f} %")
    # the deep container's path is whole: read from the hierarchy above the 8 levels
    paths = {r.group for r in ours if grouping.key(r) == deep}
    assert paths == {f"/{deep_path.relative_to(cpu_hierarchy())}"}


def _series(text: str, name: str) -> dict[tuple[str, str, str], float]:
    """The samples of `name` in an exposition, by (group, container_id, pod_uid)."""
    found = {}
    for line in text.splitlines():
        sample = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if sample:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', sample.group(1)))
            found[labels["group"], labels["container_id"], labels["pod_uid"]] = \
                float(sample.group(2))
    return found


def test_serve_by_container_labels_series_with_ids_and_pod_uids(instance, containers):
    members, _, _ = containers
    pids = [pid for group in members.values() for pid in group]
    exporter = Exporter(instance, None, "--group-by", "container")
    try:
        _stop(pids)
        before = _per_container(members)
        first = _get(exporter.url)
        _go_on(pids)
        wait_until(lambda: _grown_enough(members, before), "CPU for every container")
        _stop(pids)
        after = _per_container(members)
        second = _get(exporter.url)
        _go_on(pids)
    finally:
        exporter.stop()
    checked = subprocess.run([tools.require("promtool"), "check", "metrics"], input=second,
                             capture_output=True, text=True)
    assert checked.returncode == 0 and not checked.stdout.strip() \
        and not checked.stderr.strip(), checked
    cpu_before = _series(first, "lottery_cpu_seconds_total")
    cpu_after = _series(second, "lottery_cpu_seconds_total")
    containers_found = {(cid, uid) for _, cid, uid in cpu_after if cid or uid}
    assert containers_found == set(members)
    errors = []
    for c in members:
        name = c.container_id or f"pod-{c.pod_uid}"
        key = (name, *c)
        assert cpu_after[key] * 1e9 == pytest.approx(after[c], rel=1e-6)  # the kernel's total
        grown = (cpu_after[key] - cpu_before[key]) * 1e9
        errors.append(abs(grown / (after[c] - before[c]) - 1))
        assert grown == pytest.approx(after[c] - before[c], rel=0.05), (c, grown)
    print(f"\nlabels found: {sorted(containers_found)}\n"
          f"CPU growth against schedstat: worst error {100 * max(errors):.4f} %")
    tasks = _series(second, "lottery_tasks")
    assert all(tasks[(c.container_id or f"pod-{c.pod_uid}", *c)] == len(members[c])
               for c in members)
