"""`sudo lottery serve`: the root process only reads the instance; a child
running as an unprivileged user (nobody) accepts the connections and parses
HTTP, and the two speak over a socketpair (orchestrator/exporter/privsep.py).

Everything here looks only at its own serve processes, its own port and
its own workload: other tests and load share the machine."""

from __future__ import annotations

import array
import contextlib
import grp
import math
import os
import pwd
import random
import signal
import socket
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest
from conftest import PATIENCE_S, _argv_env, run_lottery
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.openmetrics import exposition
from test_exporter import _free_port, _get, _value, _wait_for

from orchestrator import workload
from orchestrator.exporter import privsep
from orchestrator.exporter.collector import Collector

CPU = max(os.sched_getaffinity(0))
NOBODY = pwd.getpwnam("nobody")
SHADOW = grp.getgrnam("shadow").gr_gid  # may read /etc/shadow
_LISTEN, _ESTABLISHED = "0A", "01"  # /proc/net/tcp states


class RootServe:
    """`lottery serve` run as root (as `sudo lottery serve` runs it) on a
    free loopback port, in a session of its own; `http` is its HTTP child.
    It starts with the supplementary group shadow and a descriptor of the
    pin directory, which the child must not keep."""

    def __init__(self, pins, *args: str, port: int | None = None):
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        argv, env = _argv_env(("serve", "--pin-dir", str(pins.dir), "--listen",
                               f"127.0.0.1:{self.port}", *args), None, None)
        self.pin_dir_fd = os.open(pins.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                stdin=subprocess.DEVNULL, start_new_session=True, pass_fds=[self.pin_dir_fd],
                extra_groups=[SHADOW])
        finally:
            os.close(self.pin_dir_fd)
        self.http = 0
        try:
            _wait_for(lambda: "lottery_up 1.0" in _get(self.url), "the exporter")
            found = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                                   text=True).stdout.split()
            assert len(found) == 1, found
            self.http = int(found[0])
        except AssertionError:
            self.kill()
            raise AssertionError(f"serve did not come up: {self.proc.stderr.read()}") from None

    def http_alive(self) -> bool:
        """The HTTP child exists and is not a zombie (its parent may be gone)."""
        try:
            state = _status(self.http)["State"]
        except FileNotFoundError:
            return False
        return not state.startswith(("Z", "X"))

    def kill(self) -> None:
        """End both, whatever state they are in (the test's cleanup)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=PATIENCE_S)
        if self.http and self.http_alive() and self._is_ours(self.http):
            os.kill(self.http, signal.SIGKILL)

    def _is_ours(self, pid: int) -> bool:
        with contextlib.suppress(OSError):
            return f"127.0.0.1:{self.port}" in Path(f"/proc/{pid}/cmdline").read_text()
        return False


@pytest.fixture
def root_serve(instance):
    started: list[RootServe] = []

    def start(*args: str, port: int | None = None) -> RootServe:
        started.append(RootServe(instance, *args, port=port))
        return started[-1]

    yield start
    for serve in started:
        serve.kill()


def _free_privileged_port() -> int:
    """A port below 1024 that nothing listens on now."""
    for port in random.sample(range(600, 1024), 424):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below 1024")


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def _tcp(port: int, state: str) -> list[tuple[int, int]]:
    """(uid, inode) of this host's IPv4 sockets on local port `port` in `state`."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    found = []
    for row in rows:
        fields = row.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            found.append((int(fields[7]), int(fields[9])))
    return found


def _descriptors(pid: int) -> dict[int, str]:
    fds = Path(f"/proc/{pid}/fd")
    return {int(fd.name): os.readlink(fd) for fd in fds.iterdir()}


def _schedstat_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def test_sudo_serve_reads_as_root_and_parses_http_as_nobody(instance, root_serve):
    pids = workload.start(0, 30, CPU)
    client = None
    try:
        # a port only root may bind, served by nobody
        serve = root_serve("--group-by", "process", port=_free_privileged_port())
        # real numbers of this test's own task, read during the scrape
        label = f"lottery-work/{pids[0]}"
        kernel_before = _schedstat_ns(pids[0]) / 1e9
        scraped = _value(_get(serve.url), "lottery_cpu_seconds_total", label)
        kernel_after = _schedstat_ns(pids[0]) / 1e9
        assert 0 < kernel_before <= scraped <= kernel_after, \
            (kernel_before, scraped, kernel_after)
        # every format and filter prometheus_client serves
        request = urllib.request.Request(serve.url, headers={
            "Accept": "application/openmetrics-text; version=1.0.0"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.headers["Content-Type"].startswith("application/openmetrics-text")
            openmetrics = reply.read().decode()
        assert openmetrics.endswith("# EOF\n") and f'group="{label}"' in openmetrics
        only = _get(serve.url + "?name[]=lottery_up")
        assert "lottery_up 1.0" in only and "lottery_cpu_seconds_total" not in only
        head = urllib.request.urlopen(urllib.request.Request(serve.url, method="HEAD"))
        assert head.status == 200 and head.read() == b""

        parent, child = _status(serve.proc.pid), _status(serve.http)
        assert parent["Uid"].split() == ["0"] * 4, parent["Uid"]
        assert parent["Groups"].split() == [str(SHADOW)], parent["Groups"]
        assert parent["Threads"] == "1"  # no server thread in the root process
        assert child["Uid"].split() == [str(NOBODY.pw_uid)] * 4, child["Uid"]
        assert child["Gid"].split() == [str(NOBODY.pw_gid)] * 4, child["Gid"]
        assert child["Groups"] == "" and child["NoNewPrivs"] == "1", child
        assert int(child["CapEff"], 16) == 0 and int(child["CapPrm"], 16) == 0, child
        # The listening socket is the child's alone (root bound it, so its
        # inode is root's); a connection it accepted is a socket of nobody's.
        [(_, listening)] = _tcp(serve.port, _LISTEN)
        held = f"socket:[{listening}]"
        assert held in _descriptors(serve.http).values()
        assert held not in _descriptors(serve.proc.pid).values()
        client = socket.create_connection(("127.0.0.1", serve.port))
        # both ends of a loopback connection are listed: the client's has a
        # local port of its own, so this is the server's, and it has an inode
        # once accepted (before, the kernel lists it as uid 0, inode 0)
        accepted = _wait_for(lambda: [row for row in _tcp(serve.port, _ESTABLISHED) if row[1]],
                             "the accepted connection")
        assert [uid for uid, _ in accepted] == [NOBODY.pw_uid], accepted
        # nothing else of the parent's: no pin, no pipe, only its sockets
        # (the listener, the socketpair, the accepted connection)
        assert _descriptors(serve.proc.pid)[serve.pin_dir_fd] == str(instance.dir)
        for fd, target in _descriptors(serve.http).items():
            assert fd <= 2 or target.startswith("socket:["), (fd, target)

        os.kill(serve.proc.pid, signal.SIGTERM)
        assert serve.proc.wait(timeout=PATIENCE_S) == 128 + signal.SIGTERM
        assert serve.proc.stderr.read() == "lottery: interrupted\n"
        assert not serve.http_alive()
    finally:
        if client:
            client.close()
        workload.stop(pids)
        workload.wait(pids)


def test_either_side_killed_ends_the_other(root_serve):
    serve = root_serve()
    os.kill(serve.http, signal.SIGKILL)
    assert serve.proc.wait(timeout=PATIENCE_S) == 1
    err = serve.proc.stderr.read()
    assert err == (f"lottery: serve's HTTP process (PID {serve.http}) ended: killed by "
                   "SIGKILL: run serve again (a service's Restart=on-failure does)\n"), err

    serve = root_serve()
    os.kill(serve.proc.pid, signal.SIGKILL)
    serve.proc.wait(timeout=PATIENCE_S)
    _wait_for(lambda: not serve.http_alive(), "the HTTP child to die with its parent", 10)


def _answer_then_close(channel: socket.socket, read) -> None:
    try:
        privsep.answer(channel, read)
    finally:
        channel.close()  # as run() does when the loop ends


@contextlib.contextmanager
def _answering(read):
    """The parent's loop in a thread, on one end of a socketpair; yields the
    other end, the child's, and the thread."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    theirs.settimeout(30)  # a loop that answers nothing fails the test, not hangs it
    loop = threading.Thread(target=_answer_then_close, args=(ours, read), daemon=True)
    loop.start()
    try:
        yield theirs, loop
    finally:
        theirs.close()  # a hang-up ends the loop
        loop.join(timeout=10)
    assert not loop.is_alive()


def _replies(channel: socket.socket) -> list[bytes]:
    """Every reply until the other end is gone."""
    replies = []
    with contextlib.suppress(ConnectionError):
        while True:
            replies.append(privsep.receive(channel))
    return replies


def test_the_parent_answers_only_the_request_whatever_else_the_child_sends(instance, capfd):
    collector = Collector(instance, "process")
    collector.read_once()  # its reader slot taken, and held, before the descriptors are counted
    registry = CollectorRegistry()
    registry.register(collector)
    readings = []

    def read() -> bytes:
        readings.append(privsep.reading(registry))
        return readings[-1]

    pipe_r, pipe_w = os.pipe()
    try:
        fds_before = len(os.listdir("/proc/self/fd"))
        with _answering(read) as (child, loop):
            for garbage in (b"", b"GET /metrics HTTP/1.1\r\n\r\n", privsep.REQUEST + b"!",
                            privsep.REQUEST[:-1], privsep.REQUEST.upper(),
                            b"\xff" * 150_000):  # more than the parent reads of a message
                child.send(garbage)
            # the request, with a descriptor the parent must not take
            child.sendmsg([privsep.REQUEST], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                               array.array("i", [pipe_r]))])
            child.send(privsep.REQUEST)
            child.shutdown(socket.SHUT_WR)  # and no more
            replies = _replies(child)
            loop.join(timeout=10)
            assert not loop.is_alive()  # it ended at the shutdown
        fds_after = len(os.listdir("/proc/self/fd"))
    finally:
        os.close(pipe_r)
        os.close(pipe_w)
        collector.close()
    # one reading for the one request, and that reading whole
    assert len(readings) == 1 and replies == readings, (len(readings), len(replies))
    up = [f for f in privsep.families(replies[0]) if f.name == "lottery_up"]
    assert up[0].samples[0].value == 1
    assert fds_after == fds_before
    err = capfd.readouterr().err
    assert err == "lottery: ignored a message from serve's HTTP process that is not a request\n"


def test_a_reading_that_raises_fails_one_scrape_and_the_next_is_answered(capfd):
    calls = []

    def read() -> bytes:
        calls.append(len(calls))
        if len(calls) == 1:
            raise ValueError("a bug in a collector")
        return b"[]"

    with _answering(read) as (child, _):
        child.send(privsep.REQUEST)
        assert privsep.receive(child) == b""  # no reading: the child answers 503
        child.send(privsep.REQUEST)
        assert privsep.receive(child) == b"[]"
    assert capfd.readouterr().err == "lottery: a reading failed: ValueError: a bug in a collector\n"


def test_the_child_serves_the_parents_reading_as_the_parent_would_have(instance):
    # One real reading, every series of it (groups per process, no folding)
    collector = Collector(instance, "process", max_groups=10_000)
    collector.read_once()
    families = list(collector.collect())
    collector.close()

    class Fixed:  # the collector, but with that one reading at every scrape
        def describe(self):
            return collector.describe()

        def collect(self):
            return families

    parents = CollectorRegistry()
    parents.register(Fixed())
    wire = privsep.reading(parents)
    assert len(wire) > 32 * 1024  # a reply of several chunks
    with _answering(lambda: wire) as (channel, _):
        childs = CollectorRegistry()
        childs.register(privsep.Relay(channel, collector.describe()))
        assert generate_latest(childs) == generate_latest(parents)
        assert exposition.generate_latest(childs) == exposition.generate_latest(parents)
        names = ["lottery_up", "lottery_tasks"]  # ?name[]= filters
        only = generate_latest(childs.restricted_registry(names))
        assert only == generate_latest(parents.restricted_registry(names))
        assert b"\nlottery_up " in only and b"\nlottery_tasks{" in only


def test_a_reading_keeps_every_label_and_value_whatever_its_characters():
    class Odd:
        def collect(self):
            cpu = CounterMetricFamily("odd_cpu_seconds", 'help with \\ and " and\nlines',
                                      labels=["group"])
            for label in ('b"q', "c\\d", "e\nf", "\u00fc\U0001f389", "", "kworker/0:1"):
                cpu.add_metric([label], 1.25e-7)
            yield cpu
            yield CounterMetricFamily("odd_empty", "no samples", labels=["pid"])
            for name, value in (("nan", math.nan), ("inf", math.inf), ("big", 1e300),
                                ("int", 12345678901234567)):
                yield GaugeMetricFamily(f"odd_{name}", name, value)

    registry = CollectorRegistry()
    registry.register(Odd())
    back = CollectorRegistry()
    decoded = privsep.families(privsep.reading(registry))
    back.register(type("Decoded", (), {"collect": lambda self: decoded})())
    assert generate_latest(back) == generate_latest(registry)
    assert exposition.generate_latest(back) == exposition.generate_latest(registry)


@pytest.mark.parametrize("user,words", [("lp-no-such-user", "does not exist"),
                                        ("root", "is root")])
def test_a_user_that_is_missing_or_root_is_one_line_naming_the_fix(user, words):
    if os.geteuid() != 0:
        pytest.skip("--user is for serve run as root")
    done = run_lottery("serve", "--pin-dir", "/sys/fs/bpf/lottery-never-loaded", "--user", user)
    assert done.returncode == 2 and words in done.stderr and "--user" in done.stderr, done
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_user_is_refused_when_serve_does_not_run_as_root():
    done = run_lottery("serve", "--pin-dir", "/sys/fs/bpf/lottery-never-loaded", "--user",
                       "nobody", user="nobody" if os.geteuid() == 0 else None)
    assert done.returncode == 2 and "sudo lottery serve --user" in done.stderr, done
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
