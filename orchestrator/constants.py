"""Named constants and exit codes, in one place."""

from orchestrator import header
from orchestrator.header import BPF_HEADER, BPF_SOURCE  # noqa: F401 (named here for the rest)
from orchestrator.units import NS_PER_S

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
PIN_NAMES = (
    SWITCH_LINK_NAME,
    SNAPSHOT_LINK_NAME,
    TASK_MAP_NAME,
    GROUPS_MAP_NAME,
    COUNTERS_MAP_NAME,
    SETTINGS_MAP_NAME,
    SNAPSHOTS_MAP_NAME,
    "exit_ring",
    "waits",
    "walks",
)

BPF_OBJECT = "sched_lottery.bpf.o"
# bpf/sched_lottery.h, read from the header: each number is written there once
TASKS_CAPACITY = header.define("TASKS_CAPACITY")    # live rows
EXIT_RING = header.define("EXIT_RING")              # exit rows kept at most
GROUPS_CAPACITY = header.define("GROUPS_CAPACITY")
SNAPSHOT_SLOTS = header.define("SNAPSHOT_SLOTS")
EXIT_RETAIN_S_DEFAULT = header.define("EXIT_RETAIN_NS_DEFAULT") / NS_PER_S
GROUP_IDLE_S_DEFAULT = header.define("GROUP_IDLE_NS") / NS_PER_S
GROUP_NAME_LEN = header.define("GROUP_NAME_LEN")
GROUP_KINDS = {header.define(f"GROUP_{kind.upper()}"): kind
               for kind in ("root", "cgroup", "autogroup", "gone")}

# A sample whose rows another reader's snapshot overwrote is taken again,
# after a random pause, at most this many times.
SAMPLE_TRIES = 8
# How long a root reader waits for another to finish its sample (flock on
# the iterator pin) before it goes on unlocked.
LOCK_WAIT_S = 10.0

# Warn when the task map is this full.
FILL_WARN_FRACTION = 0.9

# Tickets a mapping file may give one nice value (and a recording may hold).
MAX_TICKETS = 10**9
