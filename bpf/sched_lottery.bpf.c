// SPDX-License-Identifier: GPL-2.0
/* Per-task scheduler accounting for lottery.
 *
 * The kernel already keeps exact per-task runtime, run-queue delay and switch
 * counts; this program only adds what it does not keep (longest single wait,
 * final numbers of dying tasks) and copies the rest into the task map when
 * user space asks for a snapshot.  That keeps the sched_switch path to a
 * task-storage lookup and a few loads.
 *
 * Idle time is not counted here: switches to and from the idle task do not
 * add up on every machine (on a Firecracker guest, perf shows a CPU going
 * idle without a sched_switch event, for tasks the host hides from tracing),
 * so user space takes it from the kernel's NOHZ idle clock in /proc/stat.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "sched_lottery.h"

#define TASK_DEAD 0x80 /* include/linux/sched.h */

struct wait_track {
	__u64 seen_delay_ns; /* run_delay at the previous switch-out */
	__u64 max_ns;
	__u64 primed;        /* seen_delay_ns is a real baseline */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TASKS_CAPACITY);
	__type(key, struct task_key);
	__type(value, struct task_stats);
} tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct wait_track);
} waits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} counters SEC(".maps");

/* Written once by `lottery load` (bpftool map update); 0 means capacity. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} max_tasks SEC(".maps");

static __always_inline struct counters *get_counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

/* Lookup or insert, counting rows so the soft limit and drops are exact. */
static __always_inline struct task_stats *row_for(struct task_key *key)
{
	struct task_stats empty = {};
	struct counters *cnt = get_counters();
	struct task_stats *row;
	__u32 zero = 0;
	__u64 *limit;

	row = bpf_map_lookup_elem(&tasks, key);
	if (row || !cnt)
		return row;
	limit = bpf_map_lookup_elem(&max_tasks, &zero);
	if (limit && *limit && cnt->entries >= *limit) {
		__sync_fetch_and_add(&cnt->dropped, 1);
		return NULL;
	}
	if (bpf_map_update_elem(&tasks, key, &empty, BPF_NOEXIST)) {
		__sync_fetch_and_add(&cnt->dropped, 1);
		return NULL;
	}
	__sync_fetch_and_add(&cnt->entries, 1);
	return bpf_map_lookup_elem(&tasks, key);
}

static __always_inline void fill_row(struct task_stats *row, struct task_struct *task,
				     __u64 now_ns, __u64 snapshot, __u32 flags)
{
	struct wait_track *w = bpf_task_storage_get(&waits, task, 0, 0);

	row->runtime_ns = task->se.sum_exec_runtime;
	row->wait_ns = task->sched_info.run_delay;
	row->wait_max_ns = w ? w->max_ns : 0;
	row->runs = task->sched_info.pcount;
	row->voluntary_switches = task->nvcsw;
	row->involuntary_switches = task->nivcsw;
	row->sampled_ns = now_ns;
	row->snapshot = snapshot;
	row->tgid = task->tgid;
	row->nice = task->static_prio - 120; /* MAX_RT_PRIO + NICE_WIDTH / 2 */
	row->policy = task->policy;
	row->cpu = task->thread_info.cpu;
	row->cpus_allowed = task->nr_cpus_allowed;
	row->flags = flags;
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

static __always_inline void record_exit(struct task_struct *prev)
{
	struct task_key key = { .pid = prev->pid, .start_ns = prev->start_time };
	struct counters *cnt = get_counters();
	struct task_stats *row;

	track_wait(prev);
	row = row_for(&key);
	if (row)
		fill_row(row, prev, bpf_ktime_get_ns(), cnt ? cnt->snapshots : 0, ROW_EXITED);
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

struct sweep {
	struct counters *cnt;
};

/* After a snapshot: an exited row is shown by exactly one snapshot after the
 * exit, then freed.  A live row the snapshot did not refresh belongs to a task
 * that is gone although its last switch was not seen: it is shown once more
 * as exited, with its last numbers, like any other exit. */
static long sweep_row(struct bpf_map *map, struct task_key *key, struct task_stats *row,
		      struct sweep *ctx)
{
	struct counters *cnt = ctx->cnt;

	if (!(row->flags & ROW_EXITED)) {
		if (row->snapshot < cnt->snapshots) {
			row->flags |= ROW_EXITED;
			row->snapshot = cnt->snapshots - 1;
		}
		return 0;
	}
	if (row->snapshot + 2 <= cnt->snapshots && !bpf_map_delete_elem(map, key))
		__sync_fetch_and_sub(&cnt->entries, 1);
	return 0;
}

/* Reading the pinned iterator takes a snapshot: every live task is copied
 * into the task map, then the map is swept (see sweep_row).  The
 * reader gets one JSON line of counters, so a sample needs no second call. */
SEC("iter/task")
int snapshot(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct counters *cnt = get_counters();
	struct task_key key = {};
	struct task_stats *row;

	if (!cnt)
		return 0;
	if (ctx->meta->seq_num == 0) {
		cnt->snapshot_ns = bpf_ktime_get_ns();
		__sync_fetch_and_add(&cnt->snapshots, 1);
	}
	if (!task) {
		struct sweep sweep = { cnt };

		bpf_for_each_map_elem(&tasks, sweep_row, &sweep, 0);
		BPF_SEQ_PRINTF(ctx->meta->seq,
			       "{\"snapshot\":%llu,\"snapshot_ns\":%llu,\"entries\":%llu,\"dropped\":%llu}\n",
			       cnt->snapshots, cnt->snapshot_ns, cnt->entries, cnt->dropped);
		return 0;
	}
	/* zombies already have their final row from record_exit */
	if (task->exit_state)
		return 0;
	key.pid = task->pid;
	key.start_ns = task->start_time;
	row = row_for(&key);
	if (row)
		fill_row(row, task, cnt->snapshot_ns, cnt->snapshots, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
