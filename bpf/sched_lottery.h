/* SPDX-License-Identifier: GPL-2.0 */
/* The one definition of what crosses the kernel/user boundary.  User space
 * never mirrors this layout: it reads these fields by name from the BTF that
 * `bpftool map dump -j` prints ("formatted"). */
#ifndef SCHED_LOTTERY_H
#define SCHED_LOTTERY_H

/* Hard ceiling of the task map; `lottery load --max-tasks` sets a lower soft
 * limit.  The map is not preallocated, so unused capacity costs only buckets. */
#define TASKS_CAPACITY 131072
#define TASK_COMM_LEN 16

/* task_stats.flags */
#define ROW_EXITED 1 /* final numbers of a task that has died */

struct task_key {
	__u32 pid;
	__u32 pad;      /* always 0: hash keys compare every byte */
	__u64 start_ns; /* task start time: a reused pid makes a new key */
};

struct task_stats {
	__u64 runtime_ns;          /* se.sum_exec_runtime */
	__u64 wait_ns;             /* sched_info.run_delay: runnable, not running */
	__u64 wait_max_ns;         /* longest single wait seen since load */
	__u64 runs;                /* sched_info.pcount: times switched in */
	__u64 voluntary_switches;  /* nvcsw */
	__u64 involuntary_switches;/* nivcsw */
	__u64 sampled_ns;          /* CLOCK_MONOTONIC when these numbers were read */
	__u64 snapshot;            /* snapshot number that wrote (or saw the exit of) the row */
	__u32 tgid;
	__s32 nice;
	__u32 policy;
	__u32 cpu;                 /* CPU it last ran on */
	__u32 flags;               /* ROW_* */
	__u32 cpus_allowed;        /* nr_cpus_allowed: 1 means pinned to `cpu` */
	char comm[TASK_COMM_LEN];
};

struct counters {
	__u64 snapshots;  /* iterator runs */
	__u64 entries;    /* rows in the task map */
	__u64 dropped;    /* rows not written because the map was full */
	__u64 snapshot_ns;/* CLOCK_MONOTONIC of the latest snapshot */
};

#endif
