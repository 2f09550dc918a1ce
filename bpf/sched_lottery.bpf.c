// SPDX-License-Identifier: GPL-2.0
/* Per-task scheduler accounting for lottery.
 *
 * The kernel already keeps exact per-task runtime, run-queue delay and switch
 * counts; this program only adds what it does not keep (longest single wait,
 * final numbers of dying tasks, the task-group chain each task is funded
 * through) and copies the rest into a reader's own map when that reader asks
 * for a snapshot.  That keeps the sched_switch path to an array entry found
 * by pid and a few loads.
 *
 * Any number of readers may share one instance, so no read consumes anything
 * another reader needs: each reader has a slot with a map of its own, which
 * only its walks write, and a walk writes only the tasks that changed since
 * that reader's walk before (a sample costs what changed, not what exists).
 * Exits are numbered and kept for a retention time; a walk copies the ones
 * its reader has not been given.
 *
 * Idle time is not counted here: switches to and from the idle task do not
 * add up on every machine (on a Firecracker guest, perf shows a CPU going
 * idle without a sched_switch event, for tasks the host hides from tracing),
 * so user space takes it from the kernel's NOHZ idle clock in /proc/stat.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "sched_lottery.h"

#define TASK_DEAD 0x80 /* include/linux/sched.h */
#define ROOT_GROUP 1   /* kernfs gives the root of every hierarchy id 1 */
#define EEXIST 17

/* A task's waits as on_switch counts them.  Kept in wait_table, at the
 * task's pid, not in task storage: on_switch runs at every context switch,
 * and finding task storage there is a helper call that cost 34 ns of an
 * event here (an empty program costs 62: calls and returns are dear under
 * the CPU's return-stack mitigation); an array entry is a few inline loads.
 * A task whose entry another live task holds (two pids alike modulo
 * WAIT_TABLE) keeps its waits in its task storage instead. */
struct wait_track {
	__u64 task;          /* the owner's task_struct; 0: the entry is free;
	                      * CLAIMING: being made a task's */
	__u64 start_ns;      /* and its start time (a thread's exec changes it) */
	__u64 seen_delay_ns; /* run_delay at the previous switch-out */
	__u64 max_ns;
	__u32 primed;        /* seen_delay_ns is a real baseline */
	__u32 pad;
	/* for each reader slot, its longest wait since that slot's walk last
	 * wrote it (task_stats.wait_longest_ns): every reader its own interval */
	__u64 longest[READER_SLOTS];
	__u32 waits[WAIT_SLOTS]; /* its waits by length (task_stats.waits) */
};

/* What the program keeps per task (task storage: it leaves with the task). */
struct task_track {
	__u64 group;         /* its group at the walk that last found it changed
	                      * (do_exit moves it; a change of group is a change) */
	__u64 walked;        /* a walk found it alive: a reader may hold it */
	__u64 spilled;       /* its waits are in `own`, not in wait_table */
	struct wait_track own;
};

/* What the walks keep per task, in an array by pid, not in task storage: a
 * walk passes every task in pid order, and finding task storage cost 230 ns
 * a task (three dependent loads, none in cache), the largest part of a walk;
 * neighbouring pids are neighbouring entries.  Two live tasks whose pids
 * share an entry each find the other's signature there, and are written at
 * every walk: more rows, never a row missed. */
struct mark {
	__u64 sig;    /* the task and its numbers as the last walk found them, hashed */
	__u64 change; /* counters.changes when a walk found them changed */
};

/* One snapshot in progress, found by the iterator session it runs in. */
struct walk {
	__u64 snapshot;
	__u64 start_ns;
	__u64 exits;   /* exits recorded before it started */
	__u64 rows;    /* live rows it wrote */
	__u64 dropped; /* live tasks it could not write */
	__u64 live;    /* live tasks it found */
	__u32 slot;    /* its reader's slot; READER_SLOTS: none */
	__u32 full;    /* write every task, not only the changed ones */
	__u64 since;   /* tasks whose change is above this changed since the
	                * reader's walk before */
	__u64 changes; /* counters.changes when it began */
	__u64 exits_from; /* the first exit it copied for its reader */
	__u64 copied;     /* exits it copied */
	__u64 listable;   /* exits of tasks no walk found alive it may copy */
	__u64 unwalked;   /* exits of tasks no walk found alive it met */
	__u64 passed;     /* of those, numbered before it began and summed */
	__u64 sums;       /* sum rows it wrote (one per group) */
	__u64 retired[4]; /* counters.retired_* as it read `exits` */
	__u64 retired_waits[WAIT_SLOTS];
	/* the task group of the task before, and its id: threads of a process
	 * come one after another, and share it */
	__u64 last_tg;
	__u64 last_group;
};

/* Exit rows, shared by all readers (each copies what it needs). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, EXIT_MAP_ENTRIES);
	__type(key, struct task_key);
	__type(value, struct task_stats);
} tasks SEC(".maps");

/* Each reader slot's own rows: what its last walk wrote. */
struct reader_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TASK_MAP_ENTRIES);
	__type(key, struct task_key);
	__type(value, struct task_stats);
};

struct reader_map rows_0 SEC(".maps"), rows_1 SEC(".maps"), rows_2 SEC(".maps"),
	rows_3 SEC(".maps"), rows_4 SEC(".maps"), rows_5 SEC(".maps"), rows_6 SEC(".maps"),
	rows_7 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, READER_SLOTS);
	__type(key, __u32);
	__array(values, struct reader_map);
} reader_rows SEC(".maps") = {
	.values = { &rows_0, &rows_1, &rows_2, &rows_3, &rows_4, &rows_5, &rows_6, &rows_7 },
};

/* Where each slot's reader is: its walk before began at change `since`; the
 * next exit to give it is `exits_from`; the walk before copied the exits
 * from `copied_from` to `copied_to` into its map, which holds `rows` rows. */
struct reader {
	__u64 since;
	__u64 exits_from;
	__u64 copied_from;
	__u64 copied_to;
	__u64 rows;
	__u64 start_ns; /* when its walk before began; 0: none yet */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, READER_SLOTS);
	__type(key, __u32);
	__type(value, struct reader);
} reader_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, GROUPS_CAPACITY);
	__type(key, __u64);
	__type(value, struct group);
} groups SEC(".maps");

/* exit_seq % EXIT_RING -> the key of that exit's row, so the rows of the
 * newest exits are found without a search: the exit row the ring pushes out,
 * the exit rows past their retention, the live rows of tasks that died. */
struct exit_slot {
	struct task_key key;
	__u64 seq; /* exit_seq + 1 of the exit it names; 0 when none yet */
	/* the exit's wait_track.longest: its longest wait since each reader
	 * slot's walk last wrote it, given to that slot's copy of the exit */
	__u64 longest[READER_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EXIT_RING);
	__type(key, __u32);
	__type(value, struct exit_slot);
} exit_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_track);
} waits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, WAIT_TABLE);
	__type(key, __u32);
	__type(value, struct wait_track);
} wait_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_waits);
} cpu_waits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MARK_SLOTS);
	__type(key, __u32);
	__type(value, struct mark);
} marks SEC(".maps");

/* LRU: a reader that stops in the middle of a walk leaves its entry behind. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, struct walk);
} walks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings);
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SNAPSHOT_SLOTS);
	__type(key, __u32);
	__type(value, struct snapshot_info);
} snapshots SEC(".maps");

/* What a group enters the map as, until its walk fills it in: read then, it
 * is an empty "gone" entry (no totals), never a second root.  In .rodata, not
 * on the stack: with whole names a struct group and a task's row together
 * pass the 512 bytes of BPF stack. */
static const struct group new_group = { .kind = GROUP_GONE };
static const struct task_stats no_stats;

static __always_inline void *only(void *map)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(map, &zero);
}

/* Insert a new entry, or find the one a racing insert of the same key
 * made first: that race is not a failure. */
static __always_inline void *insert(void *map, void *key, const void *fresh)
{
	long err = bpf_map_update_elem(map, key, fresh, BPF_NOEXIST);

	if (err && err != -EEXIST)
		return NULL;
	return bpf_map_lookup_elem(map, key);
}

static __always_inline __u64 group_id(struct task_group *tg)
{
	struct cgroup *cgrp;

	if (!tg->parent)
		return ROOT_GROUP;
	if (tg->autogroup)
		return GROUP_ID_AUTOGROUP | tg->autogroup->id;
	cgrp = tg->css.cgroup;
	return cgrp && cgrp->kn ? cgrp->kn->id : 0;
}

/* A kernel without CONFIG_CFS_BANDWIDTH has no cfs_bandwidth: its groups
 * read as unlimited.  RUNTIME_INF (no quota) is all ones. */
static __always_inline void read_bandwidth(struct group *g, struct task_group *tg)
{
	if (!bpf_core_field_exists(tg->cfs_bandwidth))
		return;
	g->quota_ns = tg->cfs_bandwidth.quota == ~0ULL ? 0 : tg->cfs_bandwidth.quota;
	g->period_ns = tg->cfs_bandwidth.period;
	g->periods = tg->cfs_bandwidth.nr_periods;
	g->throttled_periods = tg->cfs_bandwidth.nr_throttled;
	g->throttled_ns = tg->cfs_bandwidth.throttled_time;
}

/* Record the chain of task groups above a task, leaf first, and return the
 * leaf's id.  A snapshot refreshes each group once: where it finds one it
 * already refreshed, the rest of the chain is fresh too. */
static __always_inline __u64 file_groups(struct task_group *tg, __u64 snapshot)
{
	struct counters *cnt = only(&counters);
	__u64 leaf = 0;

	for (int level = 0; level < GROUP_DEPTH && tg; level++) {
		struct task_group *parent = tg->parent;
		__u64 id = group_id(tg);
		struct group *g;

		if (!id)
			break;
		if (level == 0)
			leaf = id;
		g = bpf_map_lookup_elem(&groups, &id);
		if (g && (!snapshot || g->snapshot == snapshot))
			break;
		if (!g) {
			g = insert(&groups, &id, &new_group);
			if (!g) {
				if (cnt)
					__sync_fetch_and_add(&cnt->groups_lost, 1);
				break;
			}
		}
		g->parent = parent ? group_id(parent) : 0;
		g->shares = tg->shares;
		g->idle = tg->idle;
		read_bandwidth(g, tg);
		g->snapshot = snapshot;
		g->seen_ns = bpf_ktime_get_ns();
		if (!parent) {
			g->kind = GROUP_ROOT;
		} else if (tg->autogroup) {
			g->kind = GROUP_AUTOGROUP;
			g->number = tg->autogroup->id;
		} else {
			g->kind = GROUP_CGROUP;
			g->number = id;
			bpf_probe_read_kernel_str(g->name, sizeof(g->name), tg->css.cgroup->kn->name);
		}
		tg = parent;
	}
	return leaf;
}

/* An entry is a task's while it names the task's struct and start time. */
static __always_inline bool owns(struct wait_track *e, struct task_struct *task)
{
	return e->task == (__u64)task && e->start_ns == task->start_time;
}

/* The entry of wait_table at a pid, if `task` owns it. */
static __always_inline struct wait_track *table_entry(struct task_struct *task, __u32 pid)
{
	__u32 at = pid & (WAIT_TABLE - 1);
	struct wait_track *e = bpf_map_lookup_elem(&wait_table, &at);

	return e && owns(e, task) ? e : NULL;
}

/* Where a task's waits are when the entry at its pid is not its own: a
 * thread's exec swaps its pid with its leader's (de_thread), and the leader
 * may make its last switch after that, so its entry is at its tgid; or in
 * its task storage, when another task held that entry. */
static __always_inline struct wait_track *waits_elsewhere(struct task_struct *task,
							  struct task_track *tr)
{
	struct wait_track *e;

	if (task->pid != task->tgid) {
		e = table_entry(task, task->tgid);
		if (e)
			return e;
	}
	return tr && tr->spilled ? &tr->own : NULL;
}

/* Where a task's waits are, or NULL when nothing has counted them yet. */
static __always_inline struct wait_track *waits_of(struct task_struct *task)
{
	struct wait_track *e = table_entry(task, task->pid);

	if (e)
		return e;
	return waits_elsewhere(task, bpf_task_storage_get(&waits, task, 0, 0));
}

/* wait_track.task while a claim fills the entry in: no task's, no one's. */
#define CLAIMING 1ULL

/* Take the entry for `task` if it is free, or if its owner is gone or is no
 * longer the task it was (its start time read back differs: the memory was
 * reused, or a thread's exec gave it its leader's).  The entry is marked as
 * being claimed while it is reset, and named the task's only then: no other
 * claim, walk or exit meets it half made. */
static __always_inline struct wait_track *claim(struct wait_track *e, struct task_struct *task)
{
	__u64 owner = e->task, start = 0;

	if (owner == CLAIMING)
		return NULL;
	if (owner) {
		struct task_struct *held = (struct task_struct *)owner;

		if (!bpf_core_read(&start, sizeof(start), &held->start_time) &&
		    start == e->start_ns)
			return NULL; /* two live tasks' pids share the entry */
	}
	if (__sync_val_compare_and_swap(&e->task, owner, CLAIMING) != owner)
		return NULL;
	e->start_ns = task->start_time;
	e->seen_delay_ns = 0;
	e->max_ns = 0;
	e->primed = 0;
	__builtin_memset(e->longest, 0, sizeof(e->longest));
	__builtin_memset(e->waits, 0, sizeof(e->waits));
	__sync_val_compare_and_swap(&e->task, CLAIMING, (__u64)task);
	return e;
}

/* The place to count a task's next wait: its entry, or on first sight a
 * free one, or else its task storage. */
static __always_inline struct wait_track *waits_home(struct task_struct *task)
{
	__u32 at = task->pid & (WAIT_TABLE - 1);
	struct wait_track *e = bpf_map_lookup_elem(&wait_table, &at), *w;
	struct task_track *tr;

	if (!e)
		return NULL;
	if (owns(e, task))
		return e;
	tr = bpf_task_storage_get(&waits, task, 0, 0);
	w = waits_elsewhere(task, tr);
	if (w)
		return w;
	e = claim(e, task);
	if (e)
		return e;
	/* made only now: most tasks never need it (a walk makes it for those
	 * it finds changed) */
	if (!tr)
		tr = bpf_task_storage_get(&waits, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!tr)
		return NULL;
	tr->spilled = 1;
	return &tr->own;
}

/* An exit's waits have gone into its row: its entry is free for the next.
 * Its start time stays: a claim that read the owner before this sees a
 * task that lives, and lets the entry be. */
static __always_inline void release_waits(struct wait_track *w, struct task_struct *task)
{
	__sync_val_compare_and_swap(&w->task, (__u64)task, 0);
}

/* The longest wait since reader slot `slot`'s walk last took it, which
 * starts again: taken only once the row it goes into is in the reader's map
 * (a row that does not fit leaves it for the next walk). */
static __always_inline __u64 take_longest(struct wait_track *w, __u32 slot)
{
	return w && slot < READER_SLOTS ? __sync_lock_test_and_set(&w->longest[slot], 0) : 0;
}

/* Returns where the task's waits are, which an exit frees. */
static __always_inline struct wait_track *fill_row(struct task_stats *row,
						   struct task_struct *task, __u64 now)
{
	struct wait_track *w = waits_of(task);

	row->runtime_ns = task->se.sum_exec_runtime;
	row->wait_ns = task->sched_info.run_delay;
	row->wait_max_ns = w ? w->max_ns : 0;
	row->runs = task->sched_info.pcount;
	row->voluntary_switches = task->nvcsw;
	row->involuntary_switches = task->nivcsw;
	row->sampled_ns = now;
	row->tgid = task->tgid;
	row->ppid = task->real_parent->tgid;
	row->nice = task->static_prio - 120; /* MAX_RT_PRIO + NICE_WIDTH / 2 */
	row->policy = task->policy;
	row->cpu = task->thread_info.cpu;
	row->cpus_allowed = task->nr_cpus_allowed;
	bpf_probe_read_kernel_str(row->comm, sizeof(row->comm), task->comm);
	if (w)
		__builtin_memcpy(row->waits, w->waits, sizeof(row->waits));
	else
		__builtin_memset(row->waits, 0, sizeof(row->waits));
	row->wait_longest_ns = 0;
	return w;
}

/* The slot of a wait of `ns` (WAIT_SLOTS): floor(log2(ns / 1000)), with no
 * division on the hot path.  With b = floor(log2(ns)), 1000 lies between
 * 2^9 and 2^10, so the slot is b - 10 or b - 9: one comparison says which. */
static __always_inline __u32 wait_slot(__u64 ns)
{
	__u64 v = ns;
	__u32 b = 0;
	__s32 k;

	if (v >> 32) { v >>= 32; b += 32; }
	if (v >> 16) { v >>= 16; b += 16; }
	if (v >> 8) { v >>= 8; b += 8; }
	if (v >> 4) { v >>= 4; b += 4; }
	if (v >> 2) { v >>= 2; b += 2; }
	if (v >> 1) b += 1;
	if (b < 9)
		return 0;
	k = (__s32)b - 10 + (ns >= (1000ULL << (b - 9)));
	if (k < 0)
		return 0;
	return k < WAIT_SLOTS ? k : WAIT_SLOTS - 1;
}

/* run_delay grows by exactly one wait per switch-in, so its growth between two
 * switch-outs of a task is the single wait that preceded the current run. */
static __always_inline void track_wait(struct task_struct *prev)
{
	struct wait_track *w;
	struct cpu_waits *cpu;
	__u64 delay, wait;
	__u32 zero = 0, slot;

	w = waits_home(prev);
	if (!w)
		return;
	delay = prev->sched_info.run_delay;
	/* A task first seen after several runs has no baseline yet; one on its
	 * first run has: all its delay is that one wait. */
	if (w->primed || prev->sched_info.pcount <= 1) {
		wait = delay - w->seen_delay_ns;
		if (wait > w->max_ns)
			w->max_ns = wait;
		slot = wait_slot(wait);
		w->waits[slot]++;
		for (int r = 0; r < READER_SLOTS; r++)
			if (wait > w->longest[r])
				w->longest[r] = wait;
		/* the CPU it waited on to run now (a migration aside) */
		cpu = bpf_map_lookup_elem(&cpu_waits, &zero);
		if (cpu) {
			cpu->waits[slot]++;
			cpu->sum_ns += wait;
		}
	}
	w->seen_delay_ns = delay;
	w->primed = 1;
}

/* Fold the dead task's totals into its group, which never forgets them.  A
 * group the map had no room for files them under the root, and the exit row
 * says so, so that readers subtract the exit where it was added. */
static __always_inline void retire(struct task_stats *final)
{
	__u64 root = ROOT_GROUP;
	struct group *g = bpf_map_lookup_elem(&groups, &final->group);

	if (!g) {
		final->group = ROOT_GROUP;
		g = bpf_map_lookup_elem(&groups, &root);
	}
	if (!g)
		return;
	g->seen_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&g->exits, 1);
	__sync_fetch_and_add(&g->exited_runtime_ns, final->runtime_ns);
	__sync_fetch_and_add(&g->exited_wait_ns, final->wait_ns);
	__sync_fetch_and_add(&g->exited_runs, final->runs);
	__sync_fetch_and_add(&g->exited_voluntary_switches, final->voluntary_switches);
	__sync_fetch_and_add(&g->exited_involuntary_switches, final->involuntary_switches);
	for (int i = 0; i < WAIT_SLOTS; i++)
		if (final->waits[i])
			__sync_fetch_and_add(&g->exited_waits[i], final->waits[i]);
}

/* The group of a dying task no snapshot saw.  do_exit() moves it out of its
 * autogroup into the root (sched_autogroup_exit_task), so sched_task_group
 * no longer says: take its session's. */
static __always_inline __u64 group_at_exit(struct task_struct *task)
{
	struct task_group *tg = task->sched_task_group;
	struct autogroup *ag = task->signal->autogroup;

	if (tg && !tg->parent && ag && ag->id && ag->tg)
		tg = ag->tg; /* as if autogroup were on; it is the default */
	return file_groups(tg, 0);
}

static __always_inline void record_exit(struct task_struct *prev)
{
	struct task_key key = { .pid = prev->pid, .exited = TASK_EXITED,
				.start_ns = prev->start_time };
	struct counters *cnt = only(&counters);
	struct task_stats final = {};
	__u64 longest[READER_SLOTS] = {};
	struct task_track *tr;
	struct wait_track *w;
	struct exit_slot *ring;
	__u32 slot;

	if (!cnt)
		return;
	track_wait(prev);
	w = fill_row(&final, prev, bpf_ktime_get_ns());
	if (w) {
		__builtin_memcpy(longest, w->longest, sizeof(longest));
		release_waits(w, prev);
	}
	tr = bpf_task_storage_get(&waits, prev, 0, 0);
	final.walked = tr && tr->walked;
	final.group = tr && tr->group ? tr->group : group_at_exit(prev);
	retire(&final);
	__sync_fetch_and_add(&cnt->retired_runtime_ns, final.runtime_ns);
	__sync_fetch_and_add(&cnt->retired_wait_ns, final.wait_ns);
	__sync_fetch_and_add(&cnt->retired_runs, final.runs);
	__sync_fetch_and_add(&cnt->retired_switches,
			     final.voluntary_switches + final.involuntary_switches);
	for (int i = 0; i < WAIT_SLOTS; i++)
		if (final.waits[i])
			__sync_fetch_and_add(&cnt->retired_waits[i], final.waits[i]);
	final.exit_seq = __sync_fetch_and_add(&cnt->exits, 1);
	slot = final.exit_seq % EXIT_RING;
	ring = bpf_map_lookup_elem(&exit_ring, &slot);
	if (!ring)
		return;
	/* the row may have left after its retention already */
	if (ring->seq && !bpf_map_delete_elem(&tasks, &ring->key))
		__sync_fetch_and_sub(&cnt->exit_rows, 1);
	/* it names no exit while it is written: a walk that read it across
	 * this finds another seq after (copy_exit) */
	__sync_lock_test_and_set(&ring->seq, 0);
	/* A thread that execs takes its leader's pid and start time, so the
	 * leader's exit row may hold this key already: the later exit replaces
	 * it, found alive if the leader was (a reader holds the key live). */
	if (!bpf_map_update_elem(&tasks, &key, &final, BPF_NOEXIST)) {
		__sync_fetch_and_add(&cnt->exit_rows, 1);
	} else {
		struct task_stats *leader = bpf_map_lookup_elem(&tasks, &key);

		if (leader && leader->walked)
			final.walked = 1;
		if (bpf_map_update_elem(&tasks, &key, &final, BPF_EXIST))
			__sync_fetch_and_add(&cnt->exits_lost, 1);
	}
	/* Named in the ring only once its row is in the map: a snapshot that
	 * finds no row for the exit a slot names takes it as gone. */
	ring->key = key;
	__builtin_memcpy(ring->longest, longest, sizeof(longest));
	ring->seq = final.exit_seq + 1;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	if (prev->pid == 0)
		return 0; /* the idle task; user space reads idle time from /proc/stat */
	if (prev_state & TASK_DEAD)
		record_exit(prev);
	else
		track_wait(prev);
	return 0;
}

/* What a snapshot does with the exit ring when it ends. */
struct sweep {
	__u64 oldest_exit_ns; /* exit rows sampled before this are dropped */
	__u64 from;           /* the first exit number to look at */
	__u64 stop;           /* where the walk through the ring stopped */
	__u64 snapshot;       /* the walk whose reader the exits are copied for */
	/* that walk (its counts are kept in the map value, not here: the
	 * verifier follows a count on the stack through every turn of the loop) */
	struct walk *walk;
	__u32 slot;           /* that reader's slot */
};

/* A row more or fewer in a reader's map. */
static __always_inline void count_rows(__u32 slot, __s64 change)
{
	struct reader *reader = bpf_map_lookup_elem(&reader_state, &slot);

	if (reader)
		reader->rows += change;
}

static __always_inline void drop(void *key, __u64 *count)
{
	if (!bpf_map_delete_elem(&tasks, key))
		__sync_fetch_and_sub(count, 1);
}

/* The ring slot of exit number seq, or NULL when it names another exit (one
 * still being recorded, or one the ring has already overwritten). */
static __always_inline struct exit_slot *exit_slot(__u64 seq)
{
	__u32 slot = seq % EXIT_RING;
	struct exit_slot *ring = bpf_map_lookup_elem(&exit_ring, &slot);

	return ring && ring->seq == seq + 1 ? ring : NULL;
}

/* A reader slot's maximum of the exit a ring slot names as exit number
 * seq, read before the ring slot is seen to name it still: record_exit
 * clears the name before it writes another exit's. */
static __always_inline __u64 exit_longest(struct exit_slot *ring, __u64 seq, __u32 slot)
{
	__u64 longest = ring->longest[slot & (READER_SLOTS - 1)];

	asm volatile("" ::: "memory");
	return *(volatile __u64 *)&ring->seq == seq + 1 ? longest : 0;
}

/* Exits are numbered in the order their rows were sampled, near enough:
 * expire from the oldest until one is young. */
static long expire_exit(__u32 i, struct sweep *ctx)
{
	struct counters *cnt = only(&counters);
	struct exit_slot *ring = exit_slot(ctx->from + i);
	struct task_stats *row;

	if (!cnt || !ring) {
		ctx->stop = ctx->from + i;
		return 1;
	}
	row = bpf_map_lookup_elem(&tasks, &ring->key);
	if (row && row->sampled_ns >= ctx->oldest_exit_ns) {
		ctx->stop = ctx->from + i;
		return 1;
	}
	if (row)
		drop(&ring->key, &cnt->exit_rows);
	return 0;
}

/* Add an exit passed over to its group's sum row in the reader's map.  A
 * sum row a walk before wrote starts again from zero. */
static __always_inline void sum_exit(void *out, struct task_stats *row, __u64 longest,
				     struct sweep *ctx)
{
	struct task_key key = { .exited = TASK_EXITS_SUMMED, .start_ns = row->group };
	struct task_stats *sum = bpf_map_lookup_elem(out, &key);

	if ((!sum || sum->snapshot != ctx->snapshot) && ctx->walk->sums >= EXIT_SUM_GROUPS) {
		key.start_ns = GROUP_ID_GONE;
		sum = bpf_map_lookup_elem(out, &key);
	}
	if (!sum) {
		if (bpf_map_update_elem(out, &key, &no_stats, BPF_NOEXIST))
			return; /* the map is full: the reader counts the exit missed */
		count_rows(ctx->slot, 1);
		sum = bpf_map_lookup_elem(out, &key);
		if (!sum)
			return;
	}
	if (sum->snapshot != ctx->snapshot) {
		sum->runtime_ns = sum->wait_ns = sum->wait_max_ns = sum->runs = 0;
		sum->wait_longest_ns = 0;
		sum->voluntary_switches = sum->involuntary_switches = sum->exit_seq = 0;
		__builtin_memset(sum->waits, 0, sizeof(sum->waits));
		sum->group = key.start_ns;
		sum->sampled_ns = row->sampled_ns;
		sum->snapshot = ctx->snapshot;
		ctx->walk->sums++;
	}
	sum->runtime_ns += row->runtime_ns;
	sum->wait_ns += row->wait_ns;
	if (row->wait_max_ns > sum->wait_max_ns)
		sum->wait_max_ns = row->wait_max_ns;
	if (longest > sum->wait_longest_ns)
		sum->wait_longest_ns = longest;
	sum->runs += row->runs;
	sum->voluntary_switches += row->voluntary_switches;
	sum->involuntary_switches += row->involuntary_switches;
	for (int i = 0; i < WAIT_SLOTS; i++)
		sum->waits[i] += row->waits[i];
	sum->exit_seq++;
	ctx->walk->passed++;
}

/* Give the reader the row of one exit it has not been given.  An exit
 * still being recorded is not in the ring yet: the reader's next walk
 * copies it, as it copies again every exit numbered after this walk began. */
static long copy_exit(__u32 i, struct sweep *ctx)
{
	__u64 seq = ctx->from + i;
	struct exit_slot *ring = exit_slot(seq);
	struct task_stats *row, *copy;
	struct task_key live;
	bool held;
	void *out;

	out = bpf_map_lookup_elem(&reader_rows, &ctx->slot);
	if (!ring || !out)
		return 0;
	/* the dead task's live row, if a walk before wrote one (one this walk
	 * wrote stays: the task exited after the walk passed it, and its
	 * reader has it live until the next walk gives its exit again) */
	live = ring->key;
	live.exited = TASK_LIVE;
	row = bpf_map_lookup_elem(out, &live);
	/* its reader holds it live: the exit is never summed, even where the
	 * mark came too late for the exit (it died as the walk passed it) */
	held = row != NULL;
	if (row && row->snapshot != ctx->snapshot && !bpf_map_delete_elem(out, &live))
		count_rows(ctx->slot, -1);
	row = bpf_map_lookup_elem(&tasks, &ring->key);
	if (!row || row->exit_seq != seq)
		return 0;
	if (!row->walked && !held && ctx->walk->unwalked++ >= ctx->walk->listable) {
		/* one numbered during the walk is given again by the next */
		if (seq < ctx->walk->exits)
			sum_exit(out, row, exit_longest(ring, seq, ctx->slot), ctx);
		return 0;
	}
	if (!bpf_map_update_elem(out, &ring->key, row, BPF_NOEXIST))
		count_rows(ctx->slot, 1);
	else if (bpf_map_update_elem(out, &ring->key, row, BPF_EXIST))
		return 0;
	/* stamped as this walk's, as its live rows are (on the reader's copy:
	 * the one in the exit map is every reader's) */
	copy = bpf_map_lookup_elem(out, &ring->key);
	if (copy) {
		copy->snapshot = ctx->snapshot;
		copy->wait_longest_ns = exit_longest(ring, seq, ctx->slot);
	}
	ctx->walk->copied++;
	return 0;
}

/* The exit rows the walk before copied leave the reader's map (an exit the
 * ring has gone past since is left: the walk's end sweeps it out). */
static long uncopy_exit(__u32 i, struct sweep *ctx)
{
	struct exit_slot *ring = exit_slot(ctx->from + i);
	void *out = bpf_map_lookup_elem(&reader_rows, &ctx->slot);

	if (ring && out && !bpf_map_delete_elem(out, &ring->key))
		count_rows(ctx->slot, -1);
	return 0;
}

/* Visit the exits from number `from` (no further back than the ring
 * reaches) to the newest; return where the callback stopped. */
static __always_inline __u64 walk_ring(void *callback, struct sweep *sweep, __u64 from,
				       __u64 exits)
{
	if (from >= exits)
		return from; /* another snapshot went further since this one read exits */
	if (exits - from > EXIT_RING)
		from = exits - EXIT_RING;
	sweep->from = from;
	sweep->stop = exits; /* unless the callback stops before */
	bpf_loop(exits - from, callback, sweep, 0);
	return sweep->stop;
}

/* A group idle for GROUP_IDLE_NS folds its totals into the "gone" entry and
 * leaves: the totals of all groups together never go down. */
struct group_sweep {
	__u64 now;
	__u64 idle_ns;
};

static long sweep_group(struct bpf_map *map, __u64 *id, struct group *g,
			struct group_sweep *ctx)
{
	__u64 gone_id = GROUP_ID_GONE;
	struct group *gone;

	if (g->kind == GROUP_ROOT || *id == GROUP_ID_GONE || g->seen_ns + ctx->idle_ns > ctx->now)
		return 0;
	gone = bpf_map_lookup_elem(map, &gone_id);
	if (!gone)
		return 0;
	__sync_fetch_and_add(&gone->exits, g->exits);
	__sync_fetch_and_add(&gone->exited_runtime_ns, g->exited_runtime_ns);
	__sync_fetch_and_add(&gone->exited_wait_ns, g->exited_wait_ns);
	__sync_fetch_and_add(&gone->exited_runs, g->exited_runs);
	__sync_fetch_and_add(&gone->exited_voluntary_switches, g->exited_voluntary_switches);
	__sync_fetch_and_add(&gone->exited_involuntary_switches, g->exited_involuntary_switches);
	for (int i = 0; i < WAIT_SLOTS; i++)
		if (g->exited_waits[i])
			__sync_fetch_and_add(&gone->exited_waits[i], g->exited_waits[i]);
	bpf_map_delete_elem(map, id);
	return 0;
}

static __always_inline void sweep_groups(__u64 now, struct settings *cfg)
{
	struct group_sweep ctx = { .now = now, .idle_ns = GROUP_IDLE_NS };
	__u64 gone_id = GROUP_ID_GONE;

	if (cfg && cfg->group_idle_ns)
		ctx.idle_ns = cfg->group_idle_ns;
	if (!bpf_map_lookup_elem(&groups, &gone_id))
		bpf_map_update_elem(&groups, &gone_id, &new_group, BPF_NOEXIST);
	bpf_for_each_map_elem(&groups, sweep_group, &ctx, 0);
}

/* Rows of another walk than `keep`'s leave (all, with keep 0); the ones
 * kept are counted. */
struct clearing {
	__u64 keep;
	__u64 kept;
};

static long clear_row(struct bpf_map *map, struct task_key *key, struct task_stats *row,
		      struct clearing *ctx)
{
	if (ctx->keep && row->snapshot == ctx->keep)
		ctx->kept++;
	else
		bpf_map_delete_elem(map, key);
	return 0;
}

/* The reader slot a walk serves, from the name of the pin its reader
 * opened: readers/<slot> for the tasks that changed, readers/<slot>-full
 * for all.  Any other pin (the plain `snapshot`) serves no slot. */
static __always_inline void read_slot(struct bpf_iter_meta *meta, struct walk *walk)
{
	const unsigned char *name = BPF_CORE_READ(meta->seq, file, f_path.dentry, d_name.name);
	char buf[8] = {};

	walk->slot = READER_SLOTS;
	if (!name || bpf_probe_read_kernel_str(buf, sizeof(buf), name) < 2)
		return;
	if (buf[0] < '0' || buf[0] >= '0' + READER_SLOTS || (buf[1] && buf[1] != '-'))
		return;
	walk->slot = buf[0] - '0';
	walk->full = buf[1] == '-';
}

/* After the walk: the exits the walk before copied leave the reader's map,
 * the reader gets the exits numbered since its walk before began (those
 * numbered while that walk ran may have come after it read the ring), and
 * exit rows past the retention leave (before the copy for a reader that
 * starts anew).  After the walk, not before it: a reader's
 * time slice spent on thousands of exits before the walk left the walk to
 * be preempted half way (20-70 ms gaps beside a fork storm), and a walk
 * that reads some tasks 50 ms after the others skews the conservation check
 * by percents; /proc/stat read a moment later costs only idle time, which a
 * busy machine has little of. */
static __always_inline void tidy(struct walk *walk, struct counters *cnt, __u64 now,
				 struct settings *cfg)
{
	__u64 retain = cfg && cfg->exit_retain_ns ? cfg->exit_retain_ns : EXIT_RETAIN_NS_DEFAULT;
	struct sweep sweep = { .slot = walk->slot, .snapshot = walk->snapshot, .walk = walk };
	struct reader *reader = bpf_map_lookup_elem(&reader_state, &walk->slot);
	__u64 exits = cnt->exits;
	__u64 from = walk->exits;

	if (retain < now)
		sweep.oldest_exit_ns = now - retain;
	/* a reader starting anew (a full walk) is given the exits kept now */
	if (walk->full)
		cnt->expired = walk_ring(expire_exit, &sweep, cnt->expired, exits);
	if (reader) {
		if (!walk->full)
			walk_ring(uncopy_exit, &sweep, reader->copied_from, reader->copied_to);
		if (reader->exits_from < from)
			from = reader->exits_from;
		if (exits - from > EXIT_RING)
			from = exits - EXIT_RING;
		walk_ring(copy_exit, &sweep, from, exits);
		reader->exits_from = walk->exits;
		reader->copied_from = from;
		reader->copied_to = exits;
	}
	walk->exits_from = from;
	/* after the copy for a reader going on: an exit it has not had yet
	 * reaches it, however late its walk (a second apart at a retention of
	 * 1 s, a reader lost some, and counted a task it held live whole among
	 * its unseen exits) */
	cnt->expired = walk_ring(expire_exit, &sweep, cnt->expired, exits);
}

/* How many exits of tasks no walk found alive a walk beginning at `now`
 * copies to its reader: the rate `load --listed-exits` set, times the time
 * since the reader's walk before (a second for its first). */
static __always_inline __u64 listable(struct reader *reader, __u64 now)
{
	struct settings *cfg = only(&settings);
	__u64 rate = cfg && cfg->exit_list_rate ? cfg->exit_list_rate : EXIT_LIST_RATE_DEFAULT;
	__u64 elapsed_ms = 1000;

	if (reader && reader->start_ns && reader->start_ns < now)
		elapsed_ms = (now - reader->start_ns) / 1000000;
	if (elapsed_ms > EXIT_RING * 1000ULL)
		return EXIT_RING; /* and no product that overflows */
	return rate * elapsed_ms / 1000;
}

static const struct walk no_walk;

static __always_inline struct walk *walk_for(struct bpf_iter_meta *meta, struct counters *cnt)
{
	__u64 session = meta->session_id;
	struct walk *walk = bpf_map_lookup_elem(&walks, &session);
	struct reader *reader;
	void *out;

	if (walk)
		return walk;
	/* Only a session's first object starts a walk: a call for a later one
	 * that finds none is a stray (seen under fork storms: a walk of the
	 * same session once more, after its end), and must not run a walk of
	 * its own over the reader's map. */
	if (meta->seq_num) {
		__sync_fetch_and_add(&cnt->stray_calls, 1);
		return NULL;
	}
	/* made in the map and filled there: too big for the stack beside a row */
	if (bpf_map_update_elem(&walks, &session, &no_walk, BPF_ANY))
		return NULL;
	walk = bpf_map_lookup_elem(&walks, &session);
	if (!walk)
		return NULL;
	read_slot(meta, walk);
	reader = bpf_map_lookup_elem(&reader_state, &walk->slot);
	out = bpf_map_lookup_elem(&reader_rows, &walk->slot);
	walk->snapshot = __sync_fetch_and_add(&cnt->snapshots, 1) + 1;
	if (!reader || !out) {
		walk->slot = READER_SLOTS;
	} else if (walk->full) {
		/* a new reader, or one that lost track: nothing of before stays */
		struct clearing none = {};

		bpf_for_each_map_elem(out, clear_row, &none, 0);
		reader->rows = 0;
	} else {
		/* Its reader has read what the walk before wrote.  Live rows stay,
		 * to be written over where their tasks changed and dropped where
		 * they did not (no allocation for a task that runs all the time);
		 * its end replaces the exits. */
		walk->since = reader->since;
	}
	walk->exits = cnt->exits;
	walk->retired[0] = cnt->retired_runtime_ns;
	walk->retired[1] = cnt->retired_wait_ns;
	walk->retired[2] = cnt->retired_runs;
	walk->retired[3] = cnt->retired_switches;
	__builtin_memcpy(walk->retired_waits, cnt->retired_waits, sizeof(walk->retired_waits));
	walk->start_ns = bpf_ktime_get_ns();
	walk->listable = listable(reader, walk->start_ns);
	walk->changes = cnt->changes;
	return walk;
}

static __always_inline void finish(struct bpf_iter__task *ctx, struct walk *walk,
				   struct counters *cnt, struct settings *cfg)
{
	__u64 session = ctx->meta->session_id;
	__u64 now = bpf_ktime_get_ns();
	__u32 slot = walk->slot < READER_SLOTS ? walk->slot : READER_SLOTS;
	struct snapshot_info *info = bpf_map_lookup_elem(&snapshots, &slot);
	void *out = bpf_map_lookup_elem(&reader_rows, &walk->slot);
	struct reader *reader;

	tidy(walk, cnt, now, cfg);
	reader = bpf_map_lookup_elem(&reader_state, &walk->slot);

	if (reader)
		reader->start_ns = walk->start_ns;
	/* tasks it could not write are written again next time */
	if (reader && !walk->dropped)
		reader->since = walk->changes;
	else if (reader && walk->full)
		reader->since = 0;
	/* The rows of walks before that this one did not write over (tasks
	 * that did not change, or are gone) leave now, after the walk: deleting
	 * them as it passed made it slower, and so more often preempted half
	 * way under load.  Only when there are some. */
	if (reader && out && reader->rows > walk->rows + walk->copied + walk->sums) {
		struct clearing keep = { .keep = walk->snapshot };

		bpf_for_each_map_elem(out, clear_row, &keep, 0);
		reader->rows = keep.kept;
	}
	sweep_groups(now, cfg);
	if (info) {
		info->snapshot = walk->snapshot;
		info->start_ns = walk->start_ns;
		info->end_ns = now;
		info->rows = walk->rows;
		info->dropped = walk->dropped;
		info->full = walk->full;
		info->exits = walk->exits;
		info->exits_from = walk->exits_from;
		info->exits_passed = walk->passed;
		info->exits_lost = cnt->exits_lost;
		info->groups_lost = cnt->groups_lost;
		info->live_rows = walk->live;
		info->exit_rows = cnt->exit_rows;
		info->retired_runtime_ns = walk->retired[0];
		info->retired_wait_ns = walk->retired[1];
		info->retired_runs = walk->retired[2];
		info->retired_switches = walk->retired[3];
		__builtin_memcpy(info->retired_waits, walk->retired_waits,
				 sizeof(info->retired_waits));
	}
	BPF_SEQ_PRINTF(ctx->meta->seq, "%llu\n", walk->snapshot);
	bpf_map_delete_elem(&walks, &session);
}

static __always_inline __u64 mix(__u64 h, __u64 v)
{
	return (h ^ v) * 0x100000001b3ULL; /* FNV-1a's prime, a word at a time */
}

/* The task (its key) and everything its row holds that can change while it
 * lives, hashed: a task whose hash is the same has the same row. */
static __always_inline __u64 signature(struct task_struct *task, __u64 group)
{
	__u64 comm[2] = {};
	__u64 h = 0xcbf29ce484222325ULL;

	bpf_probe_read_kernel(comm, sizeof(comm), task->comm);
	h = mix(h, task->pid);
	h = mix(h, task->start_time);
	h = mix(h, task->se.sum_exec_runtime);
	h = mix(h, task->sched_info.run_delay);
	h = mix(h, task->sched_info.pcount);
	h = mix(h, task->nvcsw);
	h = mix(h, task->nivcsw);
	h = mix(h, group);
	h = mix(h, ((__u64)task->static_prio << 32) | task->policy);
	h = mix(h, ((__u64)task->thread_info.cpu << 32) | task->nr_cpus_allowed);
	h = mix(h, ((__u64)task->tgid << 32) | task->real_parent->tgid);
	h = mix(h, comm[0]);
	return mix(h, comm[1]);
}

/* Reading a reader's pin takes a snapshot: every live task that changed
 * since that reader's walk before (every one, for readers/<slot>-full) is
 * copied into the reader's map, with the exits it has not been given.  The
 * reader gets the snapshot's number and finds what else the walk did in the
 * snapshots map, at its slot. */
SEC("iter/task")
int snapshot(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct counters *cnt = only(&counters);
	struct settings *cfg = only(&settings);
	struct task_key key = {};
	struct task_stats row = {}, *found;
	struct walk *walk;
	struct task_track *w;
	struct wait_track *wt;
	struct mark *mark;
	__u64 group, sig, limit, change = 0;
	bool taken;
	__u32 at;
	void *out;

	if (!cnt)
		return 0;
	walk = walk_for(ctx->meta, cnt);
	if (!walk)
		return 0;
	if (!task) {
		finish(ctx, walk, cnt, cfg);
		return 0;
	}
	/* a dying task's final numbers come from its last switch (record_exit) */
	if (task->exit_state || walk->slot >= READER_SLOTS)
		return 0;
	if ((__u64)task->sched_task_group != walk->last_tg || !walk->last_group) {
		walk->last_tg = (__u64)task->sched_task_group;
		walk->last_group = file_groups(task->sched_task_group, walk->snapshot);
	}
	group = walk->last_group;
	walk->live++;
	at = task->pid & (MARK_SLOTS - 1);
	mark = bpf_map_lookup_elem(&marks, &at);
	if (mark) {
		sig = signature(task, group);
		if (mark->sig != sig || !mark->change) {
			/* the number first: a walk of another reader that finds the
			 * new hash finds the new number with it */
			mark->change = __sync_fetch_and_add(&cnt->changes, 1) + 1;
			mark->sig = sig;
			/* made here for a task that has not switched out since the
			 * program was loaded (a thread parked before it) */
			w = bpf_task_storage_get(&waits, task, 0,
						 BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (w) {
				w->group = group;
				w->walked = 1;
			}
		}
		change = mark->change;
	}
	if (mark && change <= walk->since)
		return 0; /* unchanged: a row of it a walk before wrote leaves at the end */
	out = bpf_map_lookup_elem(&reader_rows, &walk->slot);
	if (!out)
		return 0;
	/* A live task whose own key has an exit numbered since this walk began
	 * is a thread that called exec as the walk ran, before it came here:
	 * it took its leader's pid and start time, and the leader's exit came
	 * after the walk read the exit count.  Its row is written marked: the
	 * reader keeps the key's row it had (the leader's) until the next walk,
	 * which writes the key again with the leader's exit, as for any exec
	 * from a thread; applied now, the key would go from the leader's
	 * numbers to the thread's in one sample (a negative delta).  (A task
	 * that exits after the walk passed it has no exit row yet when the walk
	 * writes it.) */
	key.pid = task->pid;
	key.exited = TASK_EXITED;
	key.start_ns = task->start_time;
	found = bpf_map_lookup_elem(&tasks, &key);
	taken = found && found->exit_seq >= walk->exits;
	key.exited = TASK_LIVE;
	found = bpf_map_lookup_elem(out, &key);
	limit = cfg && cfg->max_tasks ? cfg->max_tasks : TASKS_CAPACITY;
	if (walk->rows >= limit) {
		__sync_fetch_and_add(&walk->dropped, 1);
		return 0;
	}
	if (found) {
		/* written over in place: a task that runs all the time costs
		 * its reader's map no allocation */
		wt = fill_row(found, task, walk->start_ns);
		found->snapshot = walk->snapshot;
		found->group = group;
		found->walked = taken;
	} else {
		wt = fill_row(&row, task, walk->start_ns);
		row.snapshot = walk->snapshot;
		row.group = group;
		row.walked = taken;
		if (bpf_map_update_elem(out, &key, &row, BPF_NOEXIST)) {
			__sync_fetch_and_add(&walk->dropped, 1);
			return 0;
		}
		count_rows(walk->slot, 1);
		found = bpf_map_lookup_elem(out, &key);
	}
	/* a marked row is not applied (the reader keeps the one it had): its
	 * longest wait waits for the next walk */
	if (found && !taken)
		found->wait_longest_ns = take_longest(wt, walk->slot);
	__sync_fetch_and_add(&walk->rows, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
