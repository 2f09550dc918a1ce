// SPDX-License-Identifier: GPL-2.0
/* The floor: what any program on sched_switch costs before it does anything. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sched_switch")
int BPF_PROG(empty_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
