// SPDX-License-Identifier: GPL-2.0
/* The seed's design, for comparison only: a hash map keyed by pid, a clock
 * read and a lookup-or-insert for both prev and next on every switch. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct seed_stats {
	__u64 runtime_ns;
	__u64 last_in_ns;
	__u64 switches;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct seed_stats);
} seed_tasks SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(seed_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 pid = prev->pid;
	struct seed_stats *s = bpf_map_lookup_elem(&seed_tasks, &pid);

	if (s) {
		if (s->last_in_ns)
			s->runtime_ns += now - s->last_in_ns;
		s->switches++;
	}
	pid = next->pid;
	s = bpf_map_lookup_elem(&seed_tasks, &pid);
	if (s) {
		s->last_in_ns = now;
	} else {
		struct seed_stats fresh = { .last_in_ns = now };

		bpf_map_update_elem(&seed_tasks, &pid, &fresh, BPF_ANY);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
