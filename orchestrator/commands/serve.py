"""lottery serve: a Prometheus exporter of a loaded instance."""

from __future__ import annotations

import ipaddress
import time

from prometheus_client import CollectorRegistry

from orchestrator import bounds
from orchestrator.constants import EXIT_USAGE
from orchestrator.errors import LotteryError
from orchestrator.exporter import http, privsep
from orchestrator.exporter.collector import GROUP_BY, Collector
from orchestrator.kernel import snapshot, tools
from orchestrator.paths import Pins

# Outside the wiki's exporter range (9100-9999, allocated in full since
# 2023) and below Linux's ephemeral ports (32768-60999), so that no
# outgoing connection holds it when the exporter starts.
DEFAULT_LISTEN = "127.0.0.1:19941"


def parse_listen(text: str) -> tuple[str, int]:
    """'ADDR4:PORT' or '[ADDR6]:PORT' -> (addr, port)."""
    host, sep, port = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    host = host[1:-1] if bracketed else host
    try:
        if not sep or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
            raise ValueError
        address = ipaddress.ip_address(host)
        if (address.version == 6) != bracketed or "%" in host:
            raise ValueError  # IPv6 in brackets, IPv4 without; no scope ids
    except ValueError:
        raise LotteryError(f"--listen {text!r} is not ADDR:PORT",
                           f"pass an IP address and a port, e.g. --listen {DEFAULT_LISTEN} "
                           "or --listen [::1]:19941", code=EXIT_USAGE) from None
    return host, int(port)


def serve(pins: Pins, listen: str, group_by: str, pids: tuple[int, ...], max_groups: int,
          user: str | None = None) -> int:
    """Serve /metrics until a signal stops it.  As root, HTTP is served by a
    child running as `user` (nobody by default) and root only reads."""
    host, port = parse_listen(listen)
    if group_by not in GROUP_BY:
        raise LotteryError(f"--group-by {group_by!r} is not known",
                           f"pass one of {', '.join(GROUP_BY)}", code=EXIT_USAGE)
    bounds.check("--max-groups", max_groups)
    account = None
    if tools.is_root():
        account = privsep.unprivileged(user or privsep.DEFAULT_USER)
    elif user is not None:
        raise LotteryError(
            "--user is for serve run as root, which hands HTTP to that user",
            "run sudo lottery serve --user NAME, or leave --user out to serve as yourself "
            "through the rules of `lottery doctor --sudoers USER`", code=EXIT_USAGE)
    snapshot.require_loaded(pins)
    collector = Collector(pins, group_by, max_groups, pids)
    collector.read_once()  # a baseline, and any failure now rather than at a scrape
    registry = CollectorRegistry()
    registry.register(collector)
    try:
        # as root too: a port below 1024 takes root to bind, not to serve
        listener = http.listen(host, port)
    except OSError as err:
        raise LotteryError(f"cannot listen on {listen} ({err.strerror})",
                           "pass an address of this host and a free port with --listen"
                           ) from None
    where = f"serving /metrics of {pins.dir} on http://{listen}/metrics"
    if account is not None:
        print(f"{where}, HTTP as {account.pw_name}", flush=True)
        privsep.run(listener, registry, account, collector.describe())  # raises at its end
    http.serve_in_background(listener, registry)
    print(where, flush=True)
    while True:  # until a stop (Ctrl-C, SIGTERM) ends the process: its handler raises
        time.sleep(1.0)  # here, at the latest a second after it came
