"""Named constants and exit codes, in one place."""

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
PIN_NAMES = (
    SWITCH_LINK_NAME,
    SNAPSHOT_LINK_NAME,
    TASK_MAP_NAME,
    GROUPS_MAP_NAME,
    COUNTERS_MAP_NAME,
    SETTINGS_MAP_NAME,
    "exit_ring",
    "waits",
    "walks",
)

BPF_SOURCE = "sched_lottery.bpf.c"
BPF_HEADER = "sched_lottery.h"
BPF_OBJECT = "sched_lottery.bpf.o"
# bpf/sched_lottery.h
TASKS_CAPACITY = 131072  # live rows
EXIT_RING = 16384        # exit rows kept at most
GROUPS_CAPACITY = 8192
EXIT_RETAIN_S_DEFAULT = 10.0  # EXIT_RETAIN_NS_DEFAULT
GROUP_IDLE_S_DEFAULT = 10.0   # GROUP_IDLE_NS
GROUP_KINDS = {0: "root", 1: "cgroup", 2: "autogroup", 3: "gone"}

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
