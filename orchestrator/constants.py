"""Named constants and exit codes, in one place."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C

# The seed's CSV schema; every further column comes after these.
SEED_CSV_COLUMNS = ("timestamp_s", "pid", "runtime_ns", "runtime_ms", "switches", "nice", "tickets")

# Environment overrides honoured since the seed project.
ENV_PIN_DIR = "LOTTERY_PIN_DIR"
ENV_BUILD_DIR = "LOTTERY_BUILD_DIR"
ENV_MAP_PIN = "MAP_PIN"
ENV_PROG_PIN = "PROG_PIN"
ENV_LINK_PIN = "LINK_PIN"
ENV_BTF_PATH = "BTF_PATH"

DEFAULT_PIN_DIR = "/sys/fs/bpf/lottery"
DEFAULT_BTF_PATH = "/sys/kernel/btf/vmlinux"
DEFAULT_BUILD_DIR = "build"
BPFFS_ROOT = "/sys/fs/bpf"

# Names bpftool gives the pins: links take their program's name, maps theirs.
SWITCH_LINK_NAME = "on_switch"
SNAPSHOT_LINK_NAME = "snapshot"
TASK_MAP_NAME = "tasks"
GROUPS_MAP_NAME = "groups"
COUNTERS_MAP_NAME = "counters"
SETTINGS_MAP_NAME = "settings"
SNAPSHOTS_MAP_NAME = "snapshots"
CPU_WAITS_MAP_NAME = "cpu_waits"
PIN_NAMES = (
    SWITCH_LINK_NAME,
    SNAPSHOT_LINK_NAME,
    TASK_MAP_NAME,
    GROUPS_MAP_NAME,
    COUNTERS_MAP_NAME,
    SETTINGS_MAP_NAME,
    SNAPSHOTS_MAP_NAME,
    CPU_WAITS_MAP_NAME,
    "exit_ring",
    "waits",
    "wait_table",
    "walks",
    "marks",
    "reader_state",
    "reader_rows",
)
# Each reader slot's pins: readers/<slot> and readers/<slot>-full (the
# snapshot link, pinned again: the walk tells its slot from the name its
# reader opened), and its map rows_<slot>.
READERS_DIR_NAME = "readers"
READER_ROWS_PREFIX = "rows_"

BPF_SOURCE = "sched_lottery.bpf.c"
BPF_HEADER = "sched_lottery.h"
BPF_OBJECT = "sched_lottery.bpf.o"


def _from_header() -> dict[str, object]:
    """The sizes and defaults of bpf/sched_lottery.h, read from the header:
    each number is written there once."""
    from orchestrator.header import define
    from orchestrator.units import NS_PER_S

    return {
        "TASKS_CAPACITY": define("TASKS_CAPACITY"),    # live rows
        "EXIT_RING": define("EXIT_RING"),              # exit rows kept at most
        "EXIT_LIST_RATE_DEFAULT": define("EXIT_LIST_RATE_DEFAULT"),  # short exits listed a s
        "TASK_EXITS_SUMMED": define("TASK_EXITS_SUMMED"),    # task_key.exited of a sum row
        "GROUPS_CAPACITY": define("GROUPS_CAPACITY"),
        "SNAPSHOT_SLOTS": define("SNAPSHOT_SLOTS"),
        "READER_SLOTS": define("READER_SLOTS"),
        "READER_SLOTS_SUDO": define("READER_SLOTS_SUDO"),
        "EXIT_RETAIN_S_DEFAULT": define("EXIT_RETAIN_NS_DEFAULT") / NS_PER_S,
        "GROUP_IDLE_S_DEFAULT": define("GROUP_IDLE_NS") / NS_PER_S,
        "GROUP_NAME_LEN": define("GROUP_NAME_LEN"),
        "WAIT_SLOTS": define("WAIT_SLOTS"),  # run-queue wait histograms' log2 slots
        "GROUP_KINDS": {define(f"GROUP_{kind.upper()}"): kind
                        for kind in ("root", "cgroup", "autogroup", "gone")},
    }


def __getattr__(name: str) -> object:
    # Read when first asked for, not at start-up: `lottery --version` and
    # `--help` need none of them (PEP 562).
    if name in _HEADER_NAMES:
        globals().update(_from_header())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_HEADER_NAMES = ("TASKS_CAPACITY", "EXIT_RING", "EXIT_LIST_RATE_DEFAULT", "TASK_EXITS_SUMMED",
                 "GROUPS_CAPACITY", "SNAPSHOT_SLOTS", "WAIT_SLOTS",
                 "READER_SLOTS", "READER_SLOTS_SUDO",
                 "EXIT_RETAIN_S_DEFAULT", "GROUP_IDLE_S_DEFAULT", "GROUP_NAME_LEN",
                 "GROUP_KINDS")

# Warn when the task map is this full.
FILL_WARN_FRACTION = 0.9

# Tickets a mapping file may give one nice value (and a recording may hold).
MAX_TICKETS = 10**9
