// SPDX-License-Identifier: GPL-2.0
/* Per-task scheduler accounting for lottery.
 *
 * The kernel already keeps exact per-task runtime, run-queue delay and switch
 * counts; this program only adds what it does not keep (longest single wait,
 * final numbers of dying tasks, the task-group chain each task is funded
 * through) and copies the rest into the task map when a reader asks for a
 * snapshot.  That keeps the sched_switch path to a task-storage lookup and a
 * few loads.
 *
 * Any number of readers may share one instance, so no read consumes anything:
 * a snapshot owns the live rows it writes (user space checks that none was
 * overwritten before it used them), and exits are numbered and kept for a
 * retention time, so every reader finds each exit it has not seen yet.
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

struct wait_track {
	__u64 seen_delay_ns; /* run_delay at the previous switch-out */
	__u64 max_ns;
	__u64 primed;        /* seen_delay_ns is a real baseline */
};

/* One snapshot in progress, found by the iterator session it runs in. */
struct walk {
	__u64 snapshot;
	__u64 start_ns;
	__u64 exits;   /* exits recorded before it started */
	__u64 rows;    /* live rows it wrote */
	__u64 dropped; /* live tasks it could not write */
	/* the task group of the task before, and its id: threads of a process
	 * come one after another, and share it */
	__u64 last_tg;
	__u64 last_group;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TASK_MAP_ENTRIES);
	__type(key, struct task_key);
	__type(value, struct task_stats);
} tasks SEC(".maps");

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
	__type(value, struct wait_track);
} waits SEC(".maps");

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

static __always_inline void fill_row(struct task_stats *row, struct task_struct *task,
				     __u64 now)
{
	struct wait_track *w = bpf_task_storage_get(&waits, task, 0, 0);

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
}

/* run_delay grows by exactly one wait per switch-in, so its growth between two
 * switch-outs of a task is the single wait that preceded the current run. */
static __always_inline void track_wait(struct task_struct *prev)
{
	struct wait_track *w;
	__u64 delay, wait;

	w = bpf_task_storage_get(&waits, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!w)
		return;
	delay = prev->sched_info.run_delay;
	/* A task first seen after several runs has no baseline yet; one on its
	 * first run has: all its delay is that one wait. */
	if (w->primed || prev->sched_info.pcount <= 1) {
		wait = delay - w->seen_delay_ns;
		if (wait > w->max_ns)
			w->max_ns = wait;
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
}

/* The group a dying task belonged to.  do_exit() moves it out of its
 * autogroup into the root (sched_autogroup_exit_task), so sched_task_group
 * no longer says: take the group its last snapshot saw, or its session's. */
static __always_inline __u64 group_at_exit(struct task_struct *task)
{
	struct task_key live = { .pid = task->pid, .start_ns = task->start_time };
	struct task_stats *row = bpf_map_lookup_elem(&tasks, &live);
	struct task_group *tg = task->sched_task_group;
	struct autogroup *ag = task->signal->autogroup;

	if (row && row->group)
		return row->group;
	if (tg && !tg->parent && ag && ag->id && ag->tg)
		tg = ag->tg; /* as if autogroup were on; it is the default */
	return file_groups(tg, 0);
}

static __always_inline void record_exit(struct task_struct *prev)
{
	struct task_key key = { .pid = prev->pid, .exited = 1, .start_ns = prev->start_time };
	struct counters *cnt = only(&counters);
	struct task_stats final = {};
	struct exit_slot *ring;
	__u32 slot;

	if (!cnt)
		return;
	track_wait(prev);
	fill_row(&final, prev, bpf_ktime_get_ns());
	final.group = group_at_exit(prev);
	retire(&final);
	final.exit_seq = __sync_fetch_and_add(&cnt->exits, 1);
	slot = final.exit_seq % EXIT_RING;
	ring = bpf_map_lookup_elem(&exit_ring, &slot);
	if (!ring)
		return;
	/* the row may have left after its retention already */
	if (ring->seq && !bpf_map_delete_elem(&tasks, &ring->key))
		__sync_fetch_and_sub(&cnt->exit_rows, 1);
	/* A thread that execs takes its leader's pid and start time, so the
	 * leader's exit row may hold this key already: the later exit replaces it. */
	if (!bpf_map_update_elem(&tasks, &key, &final, BPF_NOEXIST))
		__sync_fetch_and_add(&cnt->exit_rows, 1);
	else if (bpf_map_update_elem(&tasks, &key, &final, BPF_EXIST))
		__sync_fetch_and_add(&cnt->exits_lost, 1);
	/* Named in the ring only once its row is in the map: a snapshot that
	 * finds no row for the exit a slot names takes it as gone. */
	ring->key = key;
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

/* What a snapshot drops when it ends (see tidy). */
struct sweep {
	__u64 snapshot;
	__u64 oldest_exit_ns; /* exit rows sampled before this are dropped */
	__u64 from;           /* the first exit number to look at */
	__u64 stop;           /* where the walk through the ring stopped */
};

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

/* A task that died leaves a live row behind, unless it is this snapshot's:
 * its reader counts that row, and the next snapshot drops it. */
static long clear_dead(__u32 i, struct sweep *ctx)
{
	struct counters *cnt = only(&counters);
	struct exit_slot *ring = exit_slot(ctx->from + i);
	struct task_key live;
	struct task_stats *row;

	if (!cnt || !ring) {
		ctx->stop = ctx->from + i;
		return 1;
	}
	live = ring->key;
	live.exited = 0;
	row = bpf_map_lookup_elem(&tasks, &live);
	if (row && row->snapshot != ctx->snapshot)
		drop(&live, &cnt->live_rows);
	return 0;
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

/* The whole map, when the counts say it holds live rows that are neither
 * this snapshot's nor found through the ring (a full map left tasks out, the
 * ring overflowed, another snapshot ran at the same time). */
static long sweep_row(struct bpf_map *map, struct task_key *key, struct task_stats *row,
		      struct sweep *ctx)
{
	struct counters *cnt = only(&counters);

	if (!cnt)
		return 1;
	if (key->exited) {
		if (row->sampled_ns < ctx->oldest_exit_ns)
			drop(key, &cnt->exit_rows);
	} else if (row->snapshot != ctx->snapshot) {
		drop(key, &cnt->live_rows);
	}
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

/* Scanning every bucket of the task map costs as much as the walk itself
 * at 10,000 tasks, so a snapshot finds what to drop through the exit ring,
 * and sweeps the whole map only when the counts show that it must. */
static __always_inline void tidy(struct walk *walk, struct counters *cnt, __u64 now,
				 struct settings *cfg)
{
	__u64 retain = cfg && cfg->exit_retain_ns ? cfg->exit_retain_ns : EXIT_RETAIN_NS_DEFAULT;
	struct sweep sweep = { .snapshot = walk->snapshot };
	__u64 exits = cnt->exits;
	__u64 stop;

	if (retain < now)
		sweep.oldest_exit_ns = now - retain;
	/* Exits numbered before the walk began were passed over by it; the
	 * ones after it may be this snapshot's, and are looked at again. */
	stop = walk_ring(clear_dead, &sweep, cnt->cleared, exits);
	cnt->cleared = stop < walk->exits ? stop : walk->exits;
	cnt->expired = walk_ring(expire_exit, &sweep, cnt->expired, exits);
	if (cnt->live_rows > walk->rows)
		bpf_for_each_map_elem(&tasks, sweep_row, &sweep, 0);
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

static __always_inline struct walk *walk_for(struct bpf_iter_meta *meta, struct counters *cnt)
{
	__u64 session = meta->session_id;
	struct walk *walk = bpf_map_lookup_elem(&walks, &session);
	struct walk fresh = {};

	if (walk)
		return walk;
	fresh.start_ns = bpf_ktime_get_ns();
	fresh.exits = cnt->exits;
	fresh.snapshot = __sync_fetch_and_add(&cnt->snapshots, 1) + 1;
	bpf_map_update_elem(&walks, &session, &fresh, BPF_ANY);
	return bpf_map_lookup_elem(&walks, &session);
}

static __always_inline void finish(struct bpf_iter__task *ctx, struct walk *walk,
				   struct counters *cnt, struct settings *cfg)
{
	__u64 session = ctx->meta->session_id;
	__u64 now = bpf_ktime_get_ns();
	__u32 slot = walk->snapshot % SNAPSHOT_SLOTS;
	struct snapshot_info *info = bpf_map_lookup_elem(&snapshots, &slot);

	tidy(walk, cnt, now, cfg);
	sweep_groups(now, cfg);
	if (info) {
		info->snapshot = walk->snapshot;
		info->start_ns = walk->start_ns;
		info->end_ns = now;
		info->rows = walk->rows;
		info->dropped = walk->dropped;
		info->exits = walk->exits;
		info->exits_lost = cnt->exits_lost;
		info->groups_lost = cnt->groups_lost;
		info->live_rows = cnt->live_rows;
		info->exit_rows = cnt->exit_rows;
	}
	BPF_SEQ_PRINTF(ctx->meta->seq, "%llu\n", walk->snapshot);
	bpf_map_delete_elem(&walks, &session);
}

/* Reading the pinned iterator takes a snapshot: every live task is copied
 * into the task map, then rows no reader needs are dropped (see tidy).  The
 * reader gets the snapshot's number, which its rows bear, and finds what
 * else the walk did in the snapshots map. */
SEC("iter/task")
int snapshot(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct counters *cnt = only(&counters);
	struct settings *cfg = only(&settings);
	struct task_key key = {};
	struct task_stats *row;
	struct task_stats zeroed = {};
	struct walk *walk;
	__u64 limit;

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
	if (task->exit_state)
		return 0;
	limit = cfg && cfg->max_tasks ? cfg->max_tasks : TASKS_CAPACITY;
	key.pid = task->pid;
	key.start_ns = task->start_time;
	row = NULL;
	if (walk->rows < limit) {
		/* most tasks have their row from the walk before: find it first,
		 * which takes no bucket lock */
		row = bpf_map_lookup_elem(&tasks, &key);
		if (!row && !bpf_map_update_elem(&tasks, &key, &zeroed, BPF_NOEXIST)) {
			__sync_fetch_and_add(&cnt->live_rows, 1);
			row = bpf_map_lookup_elem(&tasks, &key);
		} else if (!row) {
			row = bpf_map_lookup_elem(&tasks, &key); /* a racing insert's */
		}
	}
	if (!row) {
		__sync_fetch_and_add(&walk->dropped, 1);
		return 0;
	}
	fill_row(row, task, walk->start_ns);
	row->snapshot = walk->snapshot;
	if ((__u64)task->sched_task_group != walk->last_tg || !walk->last_group) {
		walk->last_tg = (__u64)task->sched_task_group;
		walk->last_group = file_groups(task->sched_task_group, walk->snapshot);
	}
	row->group = walk->last_group;
	__sync_fetch_and_add(&walk->rows, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
