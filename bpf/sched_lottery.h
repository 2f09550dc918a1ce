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
/* Entries of the table where on_switch counts each task's waits, by pid
 * modulo this (a power of two): 208 bytes each, allocated at load.  A task
 * whose entry a live task of another pid holds counts in task storage, at
 * about twice the cost per switch. */
#define WAIT_TABLE 65536
#define EXIT_RETAIN_NS_DEFAULT (10ULL * 1000000000) /* when load sets none */
/* Entries of the walks' array by pid (a power of two, at least as many as
 * the live tasks a map holds). */
#define MARK_SLOTS (2 * TASKS_CAPACITY)
/* A reader's map holds a walk's live rows and the exits it copied. */
#define TASK_MAP_ENTRIES (TASKS_CAPACITY + EXIT_RING + 1024) /* + room for races */
#define EXIT_MAP_ENTRIES (EXIT_RING + 1024)
/* Exits of tasks no walk ever found alive (born and gone between walks,
 * as a fork loop's short processes are) that a reader is given one by one,
 * per second since its walk before, at most (`load --listed-exits`).  Beyond
 * it, each is added to its group's sum row in the reader's map instead
 * (TASK_EXITS_SUMMED), so that what a reader spends on exits is bounded at
 * any exit rate, a reader that falls behind catches up, and what those tasks
 * used still reaches it by group.  The exits of tasks a walk found alive are
 * always copied: a reader may hold them live. */
#define EXIT_LIST_RATE_DEFAULT 500
/* Sum rows of task groups one walk writes at most: beyond, the exits of the
 * other groups share one row under GROUP_ID_GONE (churn whose every task
 * starts a session, as stress-ng's fork stressor does, makes an autogroup
 * per exit, and a row per group would be a row per exit again). */
#define EXIT_SUM_GROUPS 64
#define GROUPS_CAPACITY 8192
#define GROUP_DEPTH 8 /* task-group levels read above a task, leaf first */
#define TASK_COMM_LEN 16
/* A cgroup directory name whole (NAME_MAX + its NUL): a container runtime's
 * `cri-containerd-<64 hex>.scope` is 85 bytes, and its id is at the end. */
#define GROUP_NAME_LEN 256

/* task_key.exited: a task's exit row has its own key, beside its live row in
 * a reader's map.  A walk's sum of the exits it passed over in one task
 * group (EXIT_LIST_RATE_DEFAULT) is a row too: pid 0, start_ns the group's id,
 * exit_seq the number of exits it sums, the numbers their totals. */
/* Run-queue waits by length, log2 of microseconds as runqlat counts them:
 * slot 0 holds waits under 2 us, slot k those from 2^k to 2^(k+1) - 1 us,
 * the last every longer one (from about 33.6 s).  One wait per run: the
 * growth of sched_info.run_delay from one switch-out of a task to its next
 * (its wait on an earlier CPU before a migration too), so a task's slots
 * add up to its runs and its waits to run_delay. */
#define WAIT_SLOTS 26

#define TASK_LIVE 0
#define TASK_EXITED 1
#define TASK_EXITS_SUMMED 2
struct task_key {
	__u32 pid;
	__u32 exited;   /* TASK_*: live row, final numbers, or a group's sum */
	__u64 start_ns; /* task start time: a reused pid makes a new key */
};

struct task_stats {
	__u64 runtime_ns;          /* se.sum_exec_runtime */
	__u64 wait_ns;             /* sched_info.run_delay: runnable, not running */
	__u64 wait_max_ns;         /* longest single wait seen since load */
	__u64 wait_longest_ns;     /* a reader's row: the longest wait that ended
	                            * since its walk before wrote the task (or,
	                            * a task it never wrote, since the task began);
	                            * a sum row: the longest of its exits' */
	__u64 runs;                /* sched_info.pcount: times switched in */
	__u64 voluntary_switches;  /* nvcsw */
	__u64 involuntary_switches;/* nivcsw */
	__u64 exit_seq;            /* exit row: its place in the order of exits */
	__u64 walked;              /* exit row: 1 if a walk had found it alive;
	                            * live row: 1 if a thread's exec took its key
	                            * over as the walk that wrote it ran */
	__u64 group;               /* id of its task group (see struct group) */
	__u32 tgid;
	__u32 ppid;                /* real_parent's tgid */
	__s32 nice;
	__u32 policy;
	__u32 cpu;                 /* CPU it last ran on */
	__u32 cpus_allowed;        /* nr_cpus_allowed: 1 means pinned to `cpu` */
	char comm[TASK_COMM_LEN];
	__u64 sampled_ns;          /* CLOCK_MONOTONIC when these numbers were read
	                            * (a live row: when its snapshot began) */
	__u64 snapshot;            /* live row: the snapshot that wrote it */
	/* its waits since load by slot (WAIT_SLOTS); 32 bits: a reader takes
	 * differences modulo 2^32 */
	__u32 waits[WAIT_SLOTS];
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
	__u64 exited_waits[WAIT_SLOTS]; /* the waits of tasks that exited in it */
};

struct counters {
	__u64 snapshots;   /* snapshots started */
	__u64 exits;       /* exits recorded: the next exit_seq */
	__u64 exits_lost;  /* exits whose row could not be written */
	__u64 groups_lost; /* groups that did not fit: their totals went to the root */
	__u64 exit_rows;   /* rows in the exit map */
	__u64 expired;     /* exit rows before this left after the retention */
	/* What every task that exited used, in all: the groups' totals summed,
	 * added before the exit takes its number, so that a walk reading the
	 * count of exits and then these has the totals of all of those exits. */
	__u64 retired_runtime_ns;
	__u64 retired_wait_ns;
	__u64 retired_runs;
	__u64 retired_switches;
	__u64 retired_waits[WAIT_SLOTS];
	/* Each change a walk finds in a task's numbers takes the next number,
	 * which the task keeps: a reader is given the tasks whose number is
	 * above the count when its own last walk began. */
	__u64 changes;
	/* calls of the snapshot program for a session whose walk had ended */
	__u64 stray_calls;
};

/* A reader owns one slot: it holds an flock on the pin of the slot's own
 * map, rows_<slot>, reads readers/<slot> (or readers/<slot>-full) to walk,
 * and dumps that map, which only its walks write.  So no reader can overwrite,
 * consume or see another's rows.  Each slot's map costs its hash table's
 * buckets (4 MiB) while empty. */
#define READER_SLOTS 8
/* Slots a reader through sudo (lottery's root helper) may take; the others
 * are kept for readers running as root, so that users holding the read
 * rules cannot take every slot. */
#define READER_SLOTS_SUDO 6

/* What one snapshot did, kept in the snapshots map at its reader's slot
 * (READER_SLOTS: a read of the plain `snapshot` pin, which writes no rows):
 * the walk prints only its number, and its reader dumps the map for the rest. */
#define SNAPSHOT_SLOTS (READER_SLOTS + 1)
struct snapshot_info {
	__u64 snapshot;    /* its number, from 1 */
	__u64 start_ns;    /* CLOCK_MONOTONIC when the walk began */
	__u64 end_ns;      /* and when it ended */
	__u64 rows;        /* live rows it wrote: tasks that changed since its
	                    * reader's walk before (every task, when full) */
	__u64 dropped;     /* changed live tasks it could not write (map full) */
	__u64 full;        /* 1: it wrote every live task, not only the changed */
	__u64 exits;       /* exits numbered before it began */
	__u64 exits_from;  /* the first exit whose row it copied to its reader */
	__u64 exits_passed;/* exits numbered before it began, from exits_from on,
	                    * that it summed instead of copying */
	__u64 exits_lost;  /* since load: exits whose row could not be written */
	__u64 groups_lost; /* since load: groups that did not fit */
	__u64 live_rows;   /* live tasks it found (written or not) */
	__u64 exit_rows;   /* rows in the exit map when it ended */
	/* counters.retired_* as it began, with its `exits` */
	__u64 retired_runtime_ns;
	__u64 retired_wait_ns;
	__u64 retired_runs;
	__u64 retired_switches;
	__u64 retired_waits[WAIT_SLOTS];
};

/* The waits that ended on one CPU, by slot (WAIT_SLOTS): a per-CPU array
 * of one entry, as bpftool prints it, one value per CPU. */
struct cpu_waits {
	__u64 waits[WAIT_SLOTS];
	__u64 sum_ns; /* what they add up to */
};

/* Set once by `lottery load` (bpftool map update). */
struct settings {
	__u64 max_tasks;      /* soft limit of live rows; 0 means TASKS_CAPACITY */
	__u64 exit_retain_ns; /* how long an exit row is kept; 0: the default */
	__u64 group_idle_ns;  /* how long an untouched group stays; 0: GROUP_IDLE_NS */
	__u64 exit_list_rate; /* exits of unwalked tasks listed a second; 0: the default */
};

#endif
