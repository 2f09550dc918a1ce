/* SPDX-License-Identifier: GPL-2.0 */
/* The one definition of what crosses the kernel/user boundary.  User space
 * never mirrors this layout: it reads these fields by name from the BTF that
 * `bpftool map dump -j` prints ("formatted"), writes struct settings at the
 * offsets the object's BTF gives, and reads the #defines below from this
 * file (orchestrator/header.py), so each number here is written once. */
#ifndef SCHED_LOTTERY_H
#define SCHED_LOTTERY_H

/* Live rows the task map may hold; `lottery load --max-tasks` sets a lower
 * soft limit.  Rows are not preallocated, so unused capacity costs nothing. */
#define TASKS_CAPACITY 131072
/* Exited tasks kept for readers: the newest EXIT_RING exits, and of those
 * only the ones younger than the retention `load --exit-retention` sets. */
#define EXIT_RING 16384
#define EXIT_RETAIN_NS_DEFAULT (10ULL * 1000000000) /* when load sets none */
#define TASK_MAP_ENTRIES (TASKS_CAPACITY + EXIT_RING + 1024) /* + room for races */
#define GROUPS_CAPACITY 8192
#define GROUP_DEPTH 8 /* task-group levels read above a task, leaf first */
#define TASK_COMM_LEN 16
/* A cgroup directory name whole (NAME_MAX + its NUL): a container runtime's
 * `cri-containerd-<64 hex>.scope` is 85 bytes, and its id is at the end. */
#define GROUP_NAME_LEN 256

/* task_key.exited: a task's exit row has its own key, so an exit never
 * touches the live row a reader is about to dump. */
struct task_key {
	__u32 pid;
	__u32 exited;   /* 0: live row written by a snapshot; 1: final numbers */
	__u64 start_ns; /* task start time: a reused pid makes a new key */
};

struct task_stats {
	__u64 runtime_ns;          /* se.sum_exec_runtime */
	__u64 wait_ns;             /* sched_info.run_delay: runnable, not running */
	__u64 wait_max_ns;         /* longest single wait seen since load */
	__u64 runs;                /* sched_info.pcount: times switched in */
	__u64 voluntary_switches;  /* nvcsw */
	__u64 involuntary_switches;/* nivcsw */
	__u64 exit_seq;            /* exit row: its place in the order of exits */
	__u64 group;               /* id of its task group (see struct group) */
	__u32 tgid;
	__u32 ppid;                /* real_parent's tgid */
	__s32 nice;
	__u32 policy;
	__u32 cpu;                 /* CPU it last ran on */
	__u32 cpus_allowed;        /* nr_cpus_allowed: 1 means pinned to `cpu` */
	char comm[TASK_COMM_LEN];
	/* Stamped by every walk, so last: a row's text before them is unchanged
	 * while its task sleeps, and the reader reuses what it made of it. */
	__u64 sampled_ns;          /* CLOCK_MONOTONIC when these numbers were read
	                            * (a live row: when its snapshot began) */
	__u64 snapshot;            /* live row: the snapshot that wrote it */
};

/* group.kind */
#define GROUP_ROOT 0
#define GROUP_CGROUP 1
#define GROUP_AUTOGROUP 2
#define GROUP_GONE 3
/* Autogroup ids live beside cgroup ids in one key space. */
#define GROUP_ID_AUTOGROUP (1ULL << 62)
/* Where the totals of groups that went away are kept (see GROUP_IDLE_NS). */
#define GROUP_ID_GONE (1ULL << 63)
/* A group no snapshot or exit has touched this long leaves the map (every
 * session makes an autogroup: a host that forks sessions would fill it). */
#define GROUP_IDLE_NS (10ULL * 1000000000)

/* A task group, the scheduler's currency: its weight is shared among the
 * tasks and groups below it.  Totals of tasks that exited in it only grow. */
struct group {
	__u64 parent;              /* id of the parent group; 0 for the root */
	__u64 shares;              /* tg->shares, in the kernel's fixed point */
	__u64 snapshot;            /* the latest snapshot that saw it */
	__u64 seen_ns;             /* when a snapshot or an exit last touched it */
	__u64 exits;               /* tasks that exited in it */
	__u64 exited_runtime_ns;
	__u64 exited_wait_ns;
	__u64 exited_runs;
	__u64 exited_voluntary_switches;
	__u64 exited_involuntary_switches;
	__u32 kind;                /* GROUP_* */
	__u32 idle;                /* cpu.idle: weighted as SCHED_IDLE */
	__u64 number;              /* cgroup id, or the autogroup's number */
	/* CPU bandwidth (tg->cfs_bandwidth; v1 cpu.cfs_quota_us and v2 cpu.max
	 * alike): a ceiling on the group's CPU time, and how often it was hit.
	 * The counters only grow, as cpu.stat shows them. */
	__u64 quota_ns;            /* per period; 0: no limit */
	__u64 period_ns;
	__u64 periods;             /* nr_periods: periods the group was active in */
	__u64 throttled_periods;   /* nr_throttled */
	__u64 throttled_ns;        /* throttled_time, summed over its CPUs */
	char name[GROUP_NAME_LEN]; /* cgroup directory name; empty for the others */
};

struct counters {
	__u64 snapshots;   /* snapshots started */
	__u64 exits;       /* exits recorded: the next exit_seq */
	__u64 exits_lost;  /* exits whose row could not be written */
	__u64 groups_lost; /* groups that did not fit: their totals went to the root */
	/* Rows in the task map, kept by every insert and delete, so a snapshot
	 * knows without scanning the map whether it holds rows to drop. */
	__u64 live_rows;
	__u64 exit_rows;
	__u64 cleared;     /* exits before this have no live row left */
	__u64 expired;     /* exit rows before this left after the retention */
};

/* What one snapshot did, kept in the snapshots map at slot
 * snapshot % SNAPSHOT_SLOTS: the walk prints only its number, and its
 * reader dumps the map to find the rest. */
#define SNAPSHOT_SLOTS 64
struct snapshot_info {
	__u64 snapshot;    /* its number, from 1 */
	__u64 start_ns;    /* CLOCK_MONOTONIC when the walk began */
	__u64 end_ns;      /* and when it ended */
	__u64 rows;        /* live rows it wrote */
	__u64 dropped;     /* live tasks it could not write (the map was full) */
	__u64 exits;       /* exits numbered before it began */
	__u64 exits_lost;  /* since load: exits whose row could not be written */
	__u64 groups_lost; /* since load: groups that did not fit */
	__u64 live_rows;   /* rows in the task map when it ended */
	__u64 exit_rows;
};

/* Set once by `lottery load` (bpftool map update). */
struct settings {
	__u64 max_tasks;      /* soft limit of live rows; 0 means TASKS_CAPACITY */
	__u64 exit_retain_ns; /* how long an exit row is kept; 0: the default */
	__u64 group_idle_ns;  /* how long an untouched group stays; 0: GROUP_IDLE_NS */
};

#endif
