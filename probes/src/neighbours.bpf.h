/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What a proxy takes from its neighbours' CPUs: the time other processes' threads wait in
 * a CPU's run queue while a proxy's thread runs on that CPU.
 *
 * A sidecar woken by its app's write is placed on the writer's CPU (a socket's wake-up is
 * a sync one) and preempts the writer there; the app, and a client on the same node, then
 * wait for the sidecar's turn to end. No hop holds that wait (the hops run from bytes to
 * bytes), and an A/B measurement sees part of it: at low load on this 2-core VM the load
 * generator and the app were each preempted so for 10-18 ms of every 2.3 s run
 * (docs/added-latency.md, "The neighbours' wait"). Each overlap of a wait with a proxy's
 * run is charged to the hop that run's thread last served (its last socket event's, as
 * charge_on_cpu charges its run time), as `neighbour_wait_ns`.
 *
 * Why sched_switch, and only it: the wait's start is the kernel's own, the scheduler's
 * `sched_info.last_queued` of the task switched in (set as it was woken or preempted,
 * cleared as it runs, after this tracepoint), so no wake-up hook and no per-task state are
 * needed; and the proxies' runs on this CPU are known from the switches themselves. The
 * times are the run queue's clock, the scheduler's own, which the stamps are in.
 *
 * Left out: proxies' own waits (a proxy holding a request has that wait in its hop),
 * kernel threads, tasks outside the run-time filter, a wait that moved to another CPU
 * (the queue stamp restarts there), overlaps with runs older than the last PROXY_RUNS on
 * the CPU, and runs of a proxy thread never seen at a socket (no hop to charge). Counted
 * though no proxy caused it: a wait of a task whose CPU quota ran out (throttled) while a
 * proxy ran. Counted twice: a reader woken by the proxy's hand-off that waits for the
 * proxy's turn to end has that wait in its handed-off request hop and here too.
 */
#ifndef TOLLGATE_NEIGHBOURS_BPF_H
#define TOLLGATE_NEIGHBOURS_BPF_H

/* A power of two: a wait overlaps one or two runs when proxies and the waiter take turns;
 * more only where a wait outlasts several short runs, whose oldest are then left out. */
#define PROXY_RUNS 8

/* A run of a proxy's thread on one CPU, in the run queue's clock. */
struct proxy_run {
	__u64 start_ns;
	__u64 end_ns;
	__u64 tid;
};

struct cpu_proxy_runs {
	struct proxy_run ended[PROXY_RUNS]; /* the latest runs that ended, a ring */
	__u64 running_since_ns;             /* of running_tid */
	__u32 running_tid;                  /* a proxy's thread running now, 0: none */
	__u32 next;                         /* where the next ended run goes in the ring */
};

/* Per CPU: the switch that reads and writes it runs on that CPU with its queue locked. The
 * runner zeroes it before each attach, so that no run is taken to span a detached spell. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_proxy_runs);
} proxy_runs SEC(".maps");

/*
 * This CPU's run-queue clock, which the scheduler's stamps are in: reached through the
 * task about to run here (its fair entity's queue is this CPU's), as the per-CPU variable
 * `runqueues` is no symbol a kernel without CONFIG_KALLSYMS_ALL resolves for a program.
 * Direct loads: the pointers come from the tracepoint's task.
 */
static __always_inline __u64 queue_clock(const struct task_struct *next)
{
	return next->se.cfs_rq->rq->clock;
}

/*
 * A proxy's thread: its process is in the slot is_proxy keeps for it (one load, on every
 * switch), or, where another proxy holds that slot, in `proxies` itself.
 */
static __always_inline int proxy_task(const struct task_struct *task)
{
	__u32 tgid = task->tgid, held;

	if (!tgid)
		return 0;
	held = proxy_slots[tgid & (PROXY_SLOTS - 1)];
	if (held == tgid)
		return 1;
	return held && bpf_map_lookup_elem(&proxies, &tgid) != NULL;
}

/* Does the run-time filter select the task, by its network namespace or its cgroup? */
static __always_inline int task_selected(struct task_struct *task)
{
	if (filter_mode == TG_FILTER_ALL)
		return 1;
	return listed_ids(BPF_CORE_READ(task, nsproxy, net_ns, ns.inum),
			  filter_has_cgroups ? BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id) : 0);
}

/* The wait adds to the hop the proxy's thread serves. */
static __always_inline void charge_neighbour_wait(__u32 proxy_tid, __u64 wait_ns)
{
	struct hop_queues *q = bpf_map_lookup_elem(&hop_queues, &proxy_tid);
	struct tg_hop_stats *stats;

	if (!q || !q->serving.tgid || !(stats = hop_stats_of(&q->serving)))
		return;
	__sync_fetch_and_add(&stats->neighbour_wait_ns, wait_ns);
}

static __always_inline int handle_switch(const struct task_struct *prev, struct task_struct *next)
{
	struct cpu_proxy_runs *c;
	__u64 now = 0, queued;
	__u32 zero = 0;

	/* A kernel without CONFIG_SCHED_INFO (no queue stamp) or CONFIG_FAIR_GROUP_SCHED (no
	 * way here to the queue's clock) loads this as a part that does nothing (the switch-in
	 * before it, note_switch_in, is kept all the same). */
	if (!bpf_core_field_exists(next->sched_info.last_queued) ||
	    !bpf_core_field_exists(next->se.cfs_rq) ||
	    !bpf_core_field_exists(((struct cfs_rq *)0)->rq))
		return 0;
	c = bpf_map_lookup_elem(&proxy_runs, &zero);
	if (!c)
		return 0;
	if (c->running_tid) {
		now = queue_clock(next);
		if (c->running_tid == prev->pid) {
			struct proxy_run *r = &c->ended[c->next & (PROXY_RUNS - 1)];

			r->start_ns = c->running_since_ns;
			r->end_ns = now;
			r->tid = c->running_tid;
			c->next++;
		}
		c->running_tid = 0;
	}
	if (proxy_task(next)) {
		c->running_tid = next->pid;
		c->running_since_ns = now ? now : queue_clock(next);
		return 0;
	}
	if (!next->pid || (next->flags & TG_PF_KTHREAD))
		return 0;
	queued = next->sched_info.last_queued;
	/* The latest run ended before the wait began: nothing of it was behind a proxy. */
	if (!queued || c->ended[(c->next - 1) & (PROXY_RUNS - 1)].end_ns <= queued)
		return 0;
	if (!now)
		now = queue_clock(next);
	if (queued >= now || !task_selected(next))
		return 0;
	/* Each overlap to its own thread's hop: runs of two proxies can share one wait. */
	for (int i = 0; i < PROXY_RUNS; i++) {
		const struct proxy_run *r = &c->ended[i];
		__u64 from = r->start_ns > queued ? r->start_ns : queued;
		__u64 to = r->end_ns < now ? r->end_ns : now;

		if (r->tid && to > from)
			charge_neighbour_wait(r->tid, to - from);
	}
	return 0;
}

#endif /* TOLLGATE_NEIGHBOURS_BPF_H */
