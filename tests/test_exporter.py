"""lottery serve against a real Prometheus (Debian's package, installed by
make setup) scraping it every two seconds on loopback, the exporter running as
a throwaway user through the rules of `lottery doctor --sudoers` (issue 11).

Rates are compared with /proc/PID/schedstat of the same tasks over the same
window, so other load on the machine changes nothing; the tests that need
an exporter and a Prometheus share one pair (starting them takes seconds),
each looking at its own tasks."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import (
    PATIENCE_S,
    REPO,
    _argv_env,
    loaded,
    run_in_process,
    run_lottery,
    wait_until,
    write_sudoers,
)

from orchestrator import records
from orchestrator.kernel import tools

FLEET = REPO / "assets" / "fleet"
CPU = max(os.sched_getaffinity(0))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return reply.read().decode()


def _wait_for(check, what: str, timeout: float = PATIENCE_S):
    """wait_until, a check that cannot be made yet (nothing listens, no
    series) counting as not yet."""
    def attempt():
        with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
            return check()
        return None
    return wait_until(attempt, what, timeout, step_s=0.2)


class Exporter:
    """`lottery serve` as `user` (None: root, HTTP as nobody) on a free
    loopback port."""

    def __init__(self, pins, user: str | None, *args: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        argv, env = _argv_env(("serve", "--pin-dir", str(pins.dir), "--listen",
                               f"127.0.0.1:{self.port}", *args), None, user)
        # its own process group: runuser forks, and a signal must reach serve itself
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            _wait_for(lambda: self.proc.poll() is None and "lottery_up 1.0" in _get(self.url)
                      or self.proc.poll() is not None, "the exporter")
            assert self.proc.poll() is None
        except AssertionError:
            self.stop()
            raise AssertionError(f"serve did not come up: {self.proc.stderr.read()}") from None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# Every 2 s: on a busy machine a scrape takes about a second, and a dump of
# the same instance beside it waits its turn (kernel/snapshot.py).
SCRAPE_S = 2


class Prometheus:
    """A real Prometheus scraping `targets` every SCRAPE_S, with lottery's rules."""

    def __init__(self, tmp: Path, targets: list[str]):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": "1s"},
            "rule_files": [str(FLEET / "lottery.rules.yml")],
            "scrape_configs": [{"job_name": "lottery",
                                "static_configs": [{"targets": targets}]}]}))
        self.proc = subprocess.Popen(
            [tools.require("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        _wait_for(lambda: _get(f"{self.url}/-/ready"), "Prometheus")
        _wait_for(lambda: all(t["health"] == "up" for t in json.loads(_get(
            f"{self.url}/api/v1/targets"))["data"]["activeTargets"]), "the target up")

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params = {"query": expr, **({"time": f"{at:.6f}"} if at else {})}
        reply = json.loads(_get(f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"))
        assert reply["status"] == "success", (expr, reply)
        return reply["data"]["result"]

    def stop(self) -> None:
        # its data is the test's to throw away: no orderly shutdown to wait for (4 s)
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def reader(instance, throwaway_user):
    """A user that may read `instance`, and nothing else, through sudo."""
    user, rules = throwaway_user
    write_sudoers(rules, user, instance)
    return user


class Fleet(NamedTuple):
    instance: object
    exporter: Exporter
    prometheus: Prometheus


@pytest.fixture(scope="module")
def fleet(bpf_object, module_pin_dir, tmp_path_factory):
    """An instance, its exporter (groups per process) as docs/FLEET.md runs
    it (sudo lottery serve: read as root, HTTP as nobody), and a Prometheus
    scraping it, for the tests of this module that need all three.  Reading
    as root, the exporter takes turns with a root dump of the instance; the
    exporter as a user through sudo (which cannot) has tests of its own."""
    with loaded(bpf_object, module_pin_dir) as instance:
        exporter = Exporter(instance, None, "--group-by", "process")
        prometheus = None
        try:
            prometheus = Prometheus(tmp_path_factory.mktemp("prometheus"),
                                    [f"127.0.0.1:{exporter.port}"])
            yield Fleet(instance, exporter, prometheus)
        finally:
            if prometheus:
                prometheus.stop()
            exporter.stop()


def _schedstat_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as handle:
        return int(handle.read().split()[0])


class Track:
    """/proc/PID/schedstat of some tasks every 50 ms, with wall-clock times."""

    def __init__(self, pids: list[int]):
        self.pids, self.points = pids, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.points.append((time.time(), {p: _schedstat_ns(p) for p in self.pids}))

    def at(self, when: float, pid: int) -> float:
        """CPU ns of `pid` at `when`, interpolated between two readings."""
        for (t0, a), (t1, b) in zip(self.points, self.points[1:], strict=False):
            if t0 <= when <= t1:
                return a[pid] + (b[pid] - a[pid]) * (when - t0) / (t1 - t0)
        raise AssertionError(f"no schedstat reading around {when}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _label(pid: int) -> str:
    return f"lottery-work/{pid}"


def _scrapes(prometheus: Prometheus, pid: int) -> list[tuple[float, float]]:
    """(scrape time, value) of a task's CPU seconds, every scrape of the
    last 5 minutes."""
    found = prometheus.query(f'lottery_cpu_seconds_total{{group="{_label(pid)}"}}[5m]')
    return [(float(t), float(v)) for t, v in found[0]["values"]] if found else []


def _spans(prometheus: Prometheus, pids: list[int], seconds: float) -> bool:
    return all(len(s := _scrapes(prometheus, pid)) >= 2 and s[-1][0] - s[0][0] >= seconds
               for pid in pids)


def test_promql_rates_of_two_pinned_tasks_agree_with_schedstat(fleet, spin):
    """A scrape is stamped when it begins, and the exporter reads the kernel
    somewhere before it ends: the rate PromQL gives over the scrapes is held
    to the kernel's CPU time over the same span, within what moving either
    end by its scrape's duration (Prometheus's scrape_duration_seconds)
    could make of it. A busy machine slows scrapes; it widens that bound
    only as far as it slowed them."""
    prometheus = fleet.prometheus
    pids = spin(0, CPU) + spin(5, CPU)
    track = Track(pids)
    try:
        _wait_for(lambda: _spans(prometheus, pids, 4), "4 s of scrapes of both tasks")
        for pid in pids:
            (first, _), *_, (last, _) = _scrapes(prometheus, pid)
            # a window a millisecond wider than from the first to the last:
            # the rate over exactly these scrapes, nothing extrapolated
            window = f"{(last - first) * 1000 + 1:.0f}ms"
            found = prometheus.query(
                f'rate(lottery_cpu_seconds_total{{group="{_label(pid)}"}}[{window}])', last)
            promql = float(found[0]["value"][1])
            took = {t: float(prometheus.query("scrape_duration_seconds", t)[0]["value"][1])
                    for t in (first, last)}
            span = last - first
            until = last + took[last]
            _wait_for(lambda until=until: track.points[-1][0] > until, "a schedstat reading")
            low = (track.at(last, pid) - track.at(first + took[first], pid)) / span / 1e9
            high = (track.at(last + took[last], pid) - track.at(first, pid)) / span / 1e9
            print(f"\npid {pid}: PromQL rate {promql:.4f} CPU s/s, schedstat {low:.4f} to "
                  f"{high:.4f} over {span:.1f} s")
            assert low * 0.98 <= promql <= high * 1.02, (pid, promql, low, high)
        # the two shared one CPU by their weights, more or less: the heavier ran more
        shares = [float(_wait_for(lambda p=p: prometheus.query(
            f'lottery:cpu_share:rate1m{{group="{_label(p)}"}}'), "the share rule")[0][
                "value"][1]) for p in pids]
        assert shares[0] > shares[1] > 0
    finally:
        track.stop()


def test_a_dump_of_the_same_instance_keeps_its_conservation(fleet, spin, tmp_path):
    prometheus = fleet.prometheus
    spin(0, CPU)
    spin(5, CPU)
    out = tmp_path / "beside.csv"
    done = run_lottery("dump", "--pin-dir", str(fleet.instance.dir), "-i", "0.5", "-n", "10",
                       "-q", "-o", str(out), timeout=PATIENCE_S)
    assert done.returncode == 0, done.stderr
    errors = [e for _, e in records.conservation(records.read(out))]
    assert len(errors) >= 9
    assert abs(statistics.median(errors)) < 0.03, errors
    # and Prometheus scraped all along
    up = prometheus.query("min_over_time(lottery_up[10s])")
    assert up and float(up[0]["value"][1]) == 1


def test_promtool_finds_nothing_wrong_in_a_scrape(fleet):
    exporter = fleet.exporter
    text = _get(exporter.url)
    checked = subprocess.run([tools.require("promtool"), "check", "metrics"], input=text,
                             capture_output=True, text=True)
    assert checked.returncode == 0 and not checked.stdout.strip() \
        and not checked.stderr.strip(), checked
    for name in ("lottery_cpu_seconds_total", "lottery_runqueue_wait_seconds_total",
                 "lottery_context_switches_total", "lottery_tasks", "lottery_tickets",
                 "lottery_cpu_idle_seconds_total", "lottery_up", "lottery_map_entries",
                 "lottery_map_capacity", "lottery_tasks_dropped_total", "lottery_build_info",
                 "lottery_scrape_duration_seconds", "lottery_expected_cpu_seconds_total"):
        assert f"\n{name}" in text, name


def _histogram(text: str, name: str, label: str) -> tuple[list[tuple[float, float]], float,
                                                         float]:
    """(le, cumulative count) of each bucket, _sum and _count of one series."""
    buckets = [(float(le), float(v)) for le, v in re.findall(
        rf'^{name}_bucket{{group="{re.escape(label)}",le="([^"]+)"}} (\S+)$', text, re.M)]
    total = float(re.search(rf'^{name}_sum{{group="{re.escape(label)}"}} (\S+)$', text,
                            re.M).group(1))
    count = float(re.search(rf'^{name}_count{{group="{re.escape(label)}"}} (\S+)$', text,
                            re.M).group(1))
    return buckets, total, count


def test_the_latency_histogram_counts_the_kernels_runs_and_waits(fleet, spin):
    """Two tasks pinned to one CPU wait for each other.  Stopped at both
    scrapes (each switched out, its last wait counted), a task's series
    grew by its pcount in _count and by its run_delay in _sum, exactly;
    the buckets are runqlat's powers of two microseconds, in seconds."""
    pids = [*spin(0, CPU), *spin(0, CPU)]
    name = "lottery_runqueue_latency_seconds"

    def stopped_scrape() -> tuple[str, dict[int, tuple[int, int]]]:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        for pid in pids:
            _wait_for(lambda pid=pid: Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
                      in "tT", f"task {pid} to stop")
        text = _get(fleet.exporter.url)
        kernel = {}
        for pid in pids:
            _, delay, runs = Path(f"/proc/{pid}/schedstat").read_text().split()
            kernel[pid] = (int(delay), int(runs))
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        return text, kernel

    _wait_for(lambda: all(f'{name}_count{{group="{_label(pid)}"}}' in _get(fleet.exporter.url)
                          for pid in pids), "a series of each task")
    first, before = stopped_scrape()
    time.sleep(1.0)
    second, after = stopped_scrape()
    for pid in pids:
        buckets, total, count = _histogram(second, name, _label(pid))
        # every bound whole: 2.097152 s, not 2.09715 (below the slot's bound)
        assert [le for le, _ in buckets[:-1]] == [2 ** (k + 1) / 1e6
                                                  for k in range(len(buckets) - 1)]
        assert buckets[-1][0] == float("inf") and buckets[-1][1] == count
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:], strict=False))
        _, total_before, count_before = _histogram(first, name, _label(pid))
        delay = after[pid][0] - before[pid][0]
        runs = after[pid][1] - before[pid][1]
        assert runs > 10 and count - count_before == runs, (pid, count, count_before, runs)
        assert total - total_before == pytest.approx(delay / 1e9, abs=1e-6)


# Prometheus's default scrape_timeout, which the fleet's configuration keeps:
# a scrape slower than this marks the target down.
SCRAPE_TIMEOUT_S = 10.0


def test_concurrent_scrapes_for_5_s_all_succeed_within_the_scrape_timeout(fleet):
    exporter = fleet.exporter
    times: list[float] = []
    failures: list[str] = []
    end = time.monotonic() + 5

    def scrape() -> None:
        while time.monotonic() < end:
            start = time.perf_counter()
            try:
                text = _get(exporter.url)
                if "\nlottery_up 1.0" not in text:
                    failures.append("lottery_up is not 1")
            except OSError as err:
                failures.append(str(err))
            times.append(time.perf_counter() - start)

    threads = [threading.Thread(target=scrape) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:5]
    times.sort()
    p99 = times[max(0, int(len(times) * 0.99) - 1)]
    print(f"\n{len(times)} scrapes by 4 clients in 5 s: median "
          f"{statistics.median(times) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    assert len(times) >= 8  # each client had at least two answers
    assert p99 < SCRAPE_TIMEOUT_S and times[-1] < SCRAPE_TIMEOUT_S, (p99, times[-1])


def _value(text: str, name: str, label: str) -> float:
    for line in text.splitlines():
        if line.startswith(f'{name}{{group="{label}"}} '):
            return float(line.split()[-1])
    raise AssertionError(f"{name} of {label} not in the scrape")


def test_an_exporter_killed_mid_scrape_goes_on_from_the_kernels_totals(instance, reader, spin):
    pids = spin(0, CPU)
    exporter = Exporter(instance, reader, "--group-by", "process")
    try:
        before = _value(_get(exporter.url), "lottery_cpu_seconds_total", _label(pids[0]))
        def scrape() -> None:
            with contextlib.suppress(OSError):  # its exporter dies under it
                _get(exporter.url)

        threading.Thread(target=scrape, daemon=True).start()
        time.sleep(0.01)
        exporter.stop(signal.SIGKILL)
        assert exporter.proc.returncode == -signal.SIGKILL
        exporter = Exporter(instance, reader, "--group-by", "process")
        kernel_before = _schedstat_ns(pids[0]) / 1e9
        after = _value(_get(exporter.url), "lottery_cpu_seconds_total", _label(pids[0]))
        kernel_after = _schedstat_ns(pids[0]) / 1e9
        # it went on from the kernel's total of the task, read during that scrape
        assert before < kernel_before <= after <= kernel_after, \
            (before, kernel_before, after, kernel_after)
    finally:
        exporter.stop()


def test_every_dashboard_panel_queries_the_real_prometheus(fleet, spin):
    prometheus = fleet.prometheus
    spin(0, CPU)
    spin(5, CPU)
    _wait_for(lambda: prometheus.query("lottery:jain_index:rate1m"), "the recording rules")
    dashboard = json.loads((FLEET / "grafana-dashboard.json").read_text())
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "instance"} <= variables
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert "rate(" not in expr or "[$__rate_interval]" in expr, expr
            # Grafana's $__rate_interval is at least four scrape intervals;
            # on a busy machine scrapes come late, and a query may have to
            # wait for its points
            concrete = expr.replace("$__rate_interval", f"{8 * SCRAPE_S}s").replace(
                "$instance", ".*")
            assert _wait_for(lambda concrete=concrete: prometheus.query(concrete),
                             f"{panel['title']}: {concrete}")


def test_the_recording_rules_pass_promtools_unit_tests():
    promtool = tools.which("promtool")
    if promtool is None:
        if os.environ.get("LOTTERY_REQUIRE_BPF") == "1":
            pytest.fail("promtool is not installed (make setup)")
        pytest.skip("promtool is not installed (make setup)")
    done = subprocess.run([promtool, "test", "rules", "lottery.rules.test.yml"],
                          cwd=FLEET, capture_output=True, text=True)
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_the_service_unit_runs_serve_as_root_with_http_as_nobody_and_verifies():
    unit = (FLEET / "lottery-serve.service").read_text()
    fields = dict(line.split("=", 1) for line in unit.splitlines()
                  if "=" in line and not line.startswith("#"))
    # as root (privilege separation: tests/test_serve_privsep.py), HTTP as nobody
    assert fields.get("User", "root") in ("root", "0")
    command = fields["ExecStart"].split()
    assert command[1] == "serve" and "127.0.0.1:19941" in command
    assert command[command.index("--user") + 1] == "nobody"
    # a stop reaches serve alone, which ends its child, and 143 is a clean end
    assert fields["KillMode"] == "mixed" and "143" in fields["SuccessExitStatus"].split()
    assert fields["NoNewPrivileges"] == "yes"
    # the options parse: serve gets as far as the instance it is given (as
    # root; a user is told that --user is root's)
    pin = command.index("--pin-dir")
    done = run_in_process(*command[1:pin + 1], "/sys/fs/bpf/lottery-never-loaded",
                          *command[pin + 2:])
    expected = (1, "not loaded") if os.geteuid() == 0 else (2, "sudo lottery serve --user")
    assert (done.returncode, expected[1] in done.stderr) == (expected[0], True), done.stderr
    analyze = tools.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not here to verify the unit")
    done = subprocess.run([analyze, "verify", str(FLEET / "lottery-serve.service")],
                          capture_output=True, text=True)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if "lottery-serve.service" in line]
    assert not problems, problems


def _counters(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        name = line.split("{")[0].split(" ")[0]
        if name.endswith("_total"):
            out[line.rsplit(" ", 1)[0]] = float(line.rsplit(" ", 1)[1])
    return out


@pytest.mark.alone
def test_counters_never_go_back_while_tasks_churn_and_the_instance_is_reloaded(
        instance, reader, bpf_object):
    from orchestrator.commands import load as load_cmd
    from orchestrator.commands import unload as unload_cmd

    exporter = Exporter(instance, reader)
    churn = subprocess.Popen(["sh", "-c", "while :; do /bin/true; done"])
    try:
        seen: dict[str, float] = {}
        for step in range(12):
            if step == 5:
                unload_cmd.unload(instance)
                assert "\nlottery_up 0.0" in _get(exporter.url)
                load_cmd.load(instance, obj=str(bpf_object))
            text = _get(exporter.url)
            assert "\nlottery_up 1.0" in text, step
            for key, value in _counters(text).items():
                assert value >= seen.get(key, 0.0), (step, key, seen.get(key), value)
                seen[key] = value
            time.sleep(0.3)
        assert seen['lottery_exits_missed_total'] >= 0
    finally:
        churn.kill()
        churn.wait()
        exporter.stop()
    assert "not loaded" in exporter.proc.stderr.read()  # said once, in one line


def test_slow_and_idle_clients_cannot_starve_a_scrape(instance, reader):
    exporter = Exporter(instance, reader)
    idle = []
    try:
        for _ in range(300):  # far more than the exporter serves at once
            sock = socket.create_connection(("127.0.0.1", exporter.port))
            sock.sendall(b"GET /metr")  # and never the rest
            idle.append(sock)
        time.sleep(0.5)
        threads = int(next(line.split()[1] for line in
                           Path(f"/proc/{_serve_pid(exporter)}/status").read_text().splitlines()
                           if line.startswith("Threads:")))
        assert threads < 64, threads
        for sock in idle:
            sock.close()
        _wait_for(lambda: "\nlottery_up 1.0" in _get(exporter.url), "a scrape after them")
        head = urllib.request.urlopen(urllib.request.Request(exporter.url, method="HEAD"))
        assert head.status == 200 and head.read() == b""
        only = _get(exporter.url + "?name[]=lottery_up")
        assert "lottery_up 1.0" in only and "lottery_cpu_seconds_total" not in only
    finally:
        for sock in idle:
            sock.close()
        exporter.stop()
    err = exporter.proc.stderr.read()
    assert "Traceback" not in err, err


def test_clients_trickling_headers_cannot_hold_the_slots_against_scrapes(instance, reader):
    """Forty clients each sending a header line every 0.5 s (a per-read
    timeout never fires; they used to hold every slot: 0 of 14 scrapes
    answered), reconnecting when sent away: every scrape is answered, and
    HEAD says the length the body has."""
    exporter = Exporter(instance, reader)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", exporter.port), timeout=5) as sock:
                    sock.sendall(b"GET /metrics HTTP/1.1\r\n")
                    while not stop.wait(0.5):
                        sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                stop.wait(0.05)  # sent away: come back, as an attacker would

    trickling = [threading.Thread(target=trickle, daemon=True) for _ in range(40)]
    try:
        for t in trickling:
            t.start()
        time.sleep(0.6)  # every slot taken by them by now
        answered = 0
        # answered, however long a reading takes on a busy machine (the old
        # server closed the connection at once: every slot was held)
        for _ in range(6):
            with urllib.request.urlopen(exporter.url + "?name[]=lottery_up",
                                        timeout=PATIENCE_S) as got:
                answered += "lottery_up" in got.read().decode()
            time.sleep(0.25)
        assert answered == 6
        head = urllib.request.urlopen(urllib.request.Request(exporter.url, method="HEAD"),
                                      timeout=PATIENCE_S)
        length = int(head.headers["Content-Length"])
        body = len(urllib.request.urlopen(exporter.url, timeout=PATIENCE_S).read())
        assert head.read() == b"" and length == pytest.approx(body, rel=0.05), (length, body)
    finally:
        stop.set()
        for t in trickling:
            t.join(timeout=10)
        exporter.stop()
    err = exporter.proc.stderr.read()
    assert "Traceback" not in err, err


def _serve_pid(exporter: Exporter) -> int:
    """The serve process itself (runuser forks it)."""
    found = subprocess.run(["pgrep", "-f", "-P", str(exporter.proc.pid), "orchestrator serve"],
                           capture_output=True, text=True).stdout.split()
    return int(found[0]) if found else exporter.proc.pid


def test_two_stops_at_once_end_serve_in_one_line(instance, reader):
    exporter = Exporter(instance, reader)
    serve = _serve_pid(exporter)
    os.kill(serve, signal.SIGINT)
    os.kill(serve, signal.SIGTERM)
    exporter.proc.wait(timeout=PATIENCE_S)
    err = exporter.proc.stderr.read()
    # lottery's one line; a second signal that finds it already exiting may
    # end it with that signal, which runuser then reports ("Terminated")
    assert err.splitlines()[0] == "lottery: interrupted" and "Traceback" not in err, err
    assert set(err.splitlines()[1:]) <= {"Terminated"}, err
    exporter.stop()


@pytest.mark.parametrize("listen", ["127.0.0.1:\uff11\uff19\uff19\uff19", "::1:19941",
                                    "[127.0.0.1]:19941", "[fe80::1%lo]:19941", "127.0.0.1:0",
                                    "localhost:19941", "127.0.0.1:65536"])
def test_a_listen_address_that_is_not_addr_port_is_refused(listen):
    from orchestrator.commands.serve import parse_listen
    from orchestrator.errors import LotteryError

    with pytest.raises(LotteryError, match="is not ADDR:PORT"):
        parse_listen(listen)
    assert parse_listen("[::1]:19941") == ("::1", 19941)
