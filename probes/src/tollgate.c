// SPDX-License-Identifier: Apache-2.0
/*
 * tollgate-runner: loads the kernel programs, attaches them, and every interval drains
 * the aggregation maps to stdout as versioned binary records (tollgate.h). The node
 * agent spawns it, decodes the stream (probes/records.ts) and steers it with text
 * commands on stdin:
 *
 *   filter GENERATION all                          trace every socket
 *   filter GENERATION [netns=INODE,...] [cgroup=ID,...]   trace only these
 *   proxy add PID | proxy del PID                  pair this process's reads and writes
 *   stats on | stats off                           count every BPF program's run time
 *                                                  (BPF_ENABLE_STATS) or stop counting
 *
 *   tollgate-runner [--interval-ms N] [--sockets N] [--edges N] [--histograms N]
 *                   [--tuples N] [--handoffs N] [--tuple-samples N] [--clients-per-listener N]
 *                   [--attach HOOK=MODE]... [--run-time-stats] [--no-http2-requests]
 *   tollgate-runner --layout      sizes and offsets of the records, as JSON
 *
 * Each hook (state, send, recv, retransmit, receive_reset, send_reset, drop) has
 * variants in order of preference; the first whose tracepoint or function the running
 * kernel's BTF has is loaded, the others are not (bpf_program__set_autoload).
 *
 * SIGTERM or SIGINT: one last drain, detach everything, exit 0. The runner also gets
 * SIGTERM when its parent dies, so an agent that crashes leaves no programs behind.
 */
#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "tollgate.h"
#include "tollgate.skel.h"

#define BATCH 1024
#define MAX_PRETEND 16

static volatile sig_atomic_t stopping;

/* One link per program; detached at exit (and by the kernel if we die first). */
static struct bpf_link *links[16];
static struct bpf_program *linked[16]; /* the program behind each link */
static int link_count;
/* The while_proxies hook's entry in links (its link NULL while no proxy is listed, or while
 * its attach fails), or -1. */
static int proxies_link = -1;
/* An attach of the while_proxies hook failed, or it stayed detached with a proxy listed,
 * since the last interval ended: the current interval's hand-offs ran from read to read. */
static int proxies_link_missed;

static struct {
	unsigned int interval_ms;
	unsigned int sockets;
	unsigned int edges;
	unsigned int histograms;
	unsigned int tuples;
	unsigned int tuple_samples;
	unsigned int clients_per_listener;
	unsigned int handoffs;
	const char *forced[16]; /* "hook=mode" */
	int forced_count;
	const char *missing[MAX_PRETEND]; /* targets to treat as absent (tests) */
	int missing_count;
	const char *unloadable[16]; /* programs the kernel refused to load */
	int unloadable_count;
	int run_time_stats; /* count each program's run time (bpf_stats) from the start */
	int http2_requests; /* follow HTTP/2 connections' frames for their requests */
	int http2_readable; /* ... which the kernel side can do here (http2_frames_readable) */
} config = {
	.interval_ms = 1000, .sockets = 65536, .edges = 16384, .histograms = 65536,
	.tuples = 8192, .tuple_samples = 4, .clients_per_listener = 128, .handoffs = 4096,
	.http2_requests = 1,
};

/*
 * Held while the programs' run time is counted. The kernel counts it while any such fd
 * is open, for every BPF program on the machine (a CNI's too), at two clock reads per
 * program run: so only while someone asks (the `stats` command, or --run-time-stats for
 * the whole run), not by default. Needs CAP_SYS_ADMIN; -1 when not held.
 */
static int stats_fd = -1;

static void set_run_time_stats(int on)
{
	if (on && stats_fd < 0) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0)
			fprintf(stderr, "tollgate-runner: cannot count run time: %s\n", strerror(errno));
	} else if (!on && stats_fd >= 0) {
		close(stats_fd);
		stats_fd = -1;
	}
}

/* A way to attach one hook: a program, its kind, and the kernel symbol it needs. */
struct variant {
	const char *program;
	const char *kind; /* tp_btf, fentry or fexit */
	const char *target;
	int args; /* tp_btf: how many tracepoint arguments the program reads */
};

struct hook {
	const char *name;
	int required;
	struct variant variants[3];
	const struct variant *chosen;
	int reported; /* its absence was said once */
	/* Attached only while `proxies` lists a process (follow_proxies): a hook that fires
	 * on every context switch of the node has nothing to do on a node without one. */
	int while_proxies;
};

static struct hook hooks[] = {
	{ "state", 1, { { "tg_set_state", "tp_btf", "inet_sock_set_state", 3 } } },
	{ "send", 1, { { "tg_send", "tp_btf", "sock_send_length", 3 },
		      { "tg_send_fexit", "fexit", "sock_sendmsg", 0 } } },
	{ "recv", 1, { { "tg_recv", "tp_btf", "sock_recv_length", 3 },
		      { "tg_recv_fexit", "fexit", "sock_recvmsg", 0 } } },
	{ "retransmit", 0, { { "tg_retransmit", "tp_btf", "tcp_retransmit_skb", 1 } } },
	{ "receive_reset", 0, { { "tg_receive_reset", "tp_btf", "tcp_receive_reset", 1 },
			       { "tg_receive_reset_fentry", "fentry", "tcp_reset", 0 } } },
	{ "send_reset", 0, { { "tg_send_reset", "tp_btf", "tcp_send_reset", 1 },
			    { "tg_send_reset_fentry", "fentry", "tcp_send_active_reset", 0 } } },
	{ "drop", 0, { { "tg_drop", "tp_btf", "kfree_skb", 4 },
		      { "tg_drop_skb_sk", "tp_btf", "kfree_skb", 1 } } },
	/* Without it, proxy hops are timed from the proxy's read (arrival_unknown counts them). */
	{ "arrival", 0, { { "tg_arrival", "tp_btf", "tcp_probe", 2 } } },
	/* Without these, a process is named only while /proc still has it. */
	{ "exec", 0, { { "tg_exec", "tp_btf", "sched_process_exec", 1 } } },
	{ "fork", 0, { { "tg_fork", "tp_btf", "sched_process_fork", 2 } } },
	{ "exit", 0, { { "tg_exit", "tp_btf", "sched_process_exit", 2 },
		      { "tg_exit_leader", "tp_btf", "sched_process_exit", 1 } } },
	/* Without it, proxies' hops carry no neighbour_wait_ns, and a handed-off hop runs from
	 * the proxy's read to the reader's, not from wake-up to wake-up (handoff.bpf.h). */
	{ "switch", 0, { { "tg_switch", "tp_btf", "sched_switch", 3 } }, NULL, 0, 1 },
};
#define HOOK_COUNT (sizeof(hooks) / sizeof(hooks[0]))

/* An aggregate map and its two buffers (see maps.bpf.h). */
struct swapped {
	struct bpf_map *outer;
	struct bpf_map *inner[2];
	int current;
	size_t key_size;
	size_t value_size;
	__u16 type;
};

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void emit(__u16 type, const void *payload, __u32 length)
{
	struct tg_record_header h = {
		.magic = TG_RECORD_MAGIC, .version = TG_FORMAT_VERSION, .type = type, .length = length,
	};

	if (fwrite(&h, sizeof(h), 1, stdout) != 1 || (length && fwrite(payload, length, 1, stdout) != 1)) {
		/* The reader is gone: nobody to report to. */
		exit(1);
	}
}

static __u64 clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * The next end of an interval after `realtime_ns`: the next whole multiple of the interval
 * on the wall clock. Agents on nodes whose clocks agree then end their intervals at the
 * same moments, so both ends of a connection are counted over the same span, and an
 * interval, which the store keys by the second it starts in, holds that second alone
 * (intervals counted from whenever the runner started put the start of every second in
 * the row before). The first interval is what is left of one after the runner starts.
 * The loop drains once the wall clock has reached the end, so an interval starts at its
 * multiple or a little after it, never before.
 */
static __u64 next_interval_end(__u64 realtime_ns, __u64 interval_ns)
{
	return (realtime_ns / interval_ns + 1) * interval_ns;
}

#define OFFSET(name, type, field) printf(",\"" name "\":%zu", offsetof(type, field))

static void print_layout(void)
{
	printf("{\"format_version\":%d,\"magic\":%u,\"header\":%zu,\"edge_key\":%zu,"
	       "\"edge_stats\":%zu,\"edge_record\":%zu,\"hist_record\":%zu,"
	       "\"tuple_record\":%zu,\"hop_record\":%zu,\"interval_record\":%zu,"
	       "\"process_record\":%zu,\"offsets\":{\"key.tgid\":0",
	       TG_FORMAT_VERSION, TG_RECORD_MAGIC, sizeof(struct tg_record_header),
	       sizeof(struct tg_edge_key), sizeof(struct tg_edge_stats), sizeof(struct tg_edge_record),
	       sizeof(struct tg_hist_record), sizeof(struct tg_tuple_record),
	       sizeof(struct tg_hop_record), sizeof(struct tg_interval_record),
	       sizeof(struct tg_process_record));
	OFFSET("key.family", struct tg_edge_key, family);
	OFFSET("key.side", struct tg_edge_key, side);
	OFFSET("key.local_addr", struct tg_edge_key, local_addr);
	OFFSET("key.remote_addr", struct tg_edge_key, remote_addr);
	OFFSET("key.service_port", struct tg_edge_key, service_port);
	OFFSET("key.netns_inode", struct tg_edge_key, netns_inode);
#define STATS_OFFSET(field) OFFSET("stats." #field, struct tg_edge_stats, field);
	TG_EDGE_STATS_FIELDS(STATS_OFFSET)
#undef STATS_OFFSET
	OFFSET("hist.metric", struct tg_hist_record, key.metric);
	OFFSET("hist.bucket", struct tg_hist_record, key.bucket);
	OFFSET("hist.count", struct tg_hist_record, count);
	OFFSET("tuple.local_port", struct tg_tuple_record, key.local_port);
	OFFSET("tuple.remote_port", struct tg_tuple_record, key.remote_port);
	OFFSET("tuple.client_isn", struct tg_tuple_record, key.client_isn);
	OFFSET("tuple.remote_addr", struct tg_tuple_record, key.remote_addr);
	OFFSET("tuple.first_seen_ns", struct tg_tuple_record, first_seen_ns);
	OFFSET("interval.realtime_ns", struct tg_interval_record, realtime_ns);
	OFFSET("interval.lost", struct tg_interval_record, lost);
	OFFSET("interval.edges", struct tg_interval_record, edges);
	OFFSET("interval.hists", struct tg_interval_record, hists);
	OFFSET("interval.tuples", struct tg_interval_record, tuples);
	OFFSET("interval.filter_generation", struct tg_interval_record, filter_generation);
	OFFSET("interval.hops", struct tg_interval_record, hops);
	OFFSET("interval.flags", struct tg_interval_record, flags);
	OFFSET("process.event", struct tg_process_record, event);
	OFFSET("process.start_boottime_ns", struct tg_process_record, start_boottime_ns);
	OFFSET("process.cgroup_id", struct tg_process_record, cgroup_id);
	OFFSET("process.netns_inode", struct tg_process_record, netns_inode);
	OFFSET("process.parent_tgid", struct tg_process_record, parent_tgid);
	OFFSET("process.comm", struct tg_process_record, comm);
#define HOP_OFFSET(field) OFFSET("hop." #field, struct tg_hop_record, stats.field);
	TG_HOP_STATS_FIELDS(HOP_OFFSET)
#undef HOP_OFFSET
#define LOST_OFFSET(field) OFFSET("lost." #field, struct tg_lost, field);
	TG_LOST_FIELDS(LOST_OFFSET)
#undef LOST_OFFSET
	printf("}}\n");
}

/*
 * Entries each of a drain's lookups asks for. The kernel's batch lookup of a hash map walks
 * its buckets, empty ones too, until it has taken that many entries (or the next bucket
 * that is not empty holds more than are left to take), in a loop with no point at which it
 * reschedules: on this VM's kernel, built without preemption and booted without
 * `preempt=`, the call holds its CPU until it returns. Asked for 1,024 at a time, a drain
 * of a sparse histograms' map walked most of its 65,536 buckets in one call: by bpftrace
 * beside `bench overhead`, the longest call of each second 0.88 ms on average, from entry
 * to exit. A few dozen entries at a time return to user space, where the thread can be
 * switched out, after each stretch of about as many entries' share of the buckets; the
 * walk in all, and what is drained, are the same.
 */
#ifndef DRAIN_STEP /* the AddressSanitizer build takes 1 (probes/Makefile) */
#define DRAIN_STEP 32
#endif
#if DRAIN_STEP < 1
#error "a lookup that asks for no entries returns at once, and a drain would never end"
#endif

/*
 * Looks up and deletes every entry of a hash map, emitting each as a record. Each lookup
 * asks for DRAIN_STEP entries, more once a bucket holds more, and never more than the
 * buffers hold at this map's key and value sizes (a hop's value is larger than a
 * histogram's), so the kernel never writes past them.
 */
static __u32 drain(int fd, size_t key_size, size_t value_size, __u16 type)
{
	static char keys[BATCH * 128], values[BATCH * 128], record[512];
	__u32 in = 0, out = 0, count, total = 0, i, fits = BATCH, step;
	void *in_batch = NULL;
	int err, failure;

	if (key_size + value_size > sizeof(record)) {
		fprintf(stderr, "tollgate-runner: a %zu-byte record does not fit\n", key_size + value_size);
		return 0;
	}
	if (sizeof(keys) / key_size < fits)
		fits = sizeof(keys) / key_size;
	if (sizeof(values) / value_size < fits)
		fits = sizeof(values) / value_size;
	step = DRAIN_STEP < fits ? DRAIN_STEP : fits;
	do {
		count = step;
		err = bpf_map_lookup_and_delete_batch(fd, in_batch, &out, keys, values, &count, NULL);
		failure = err ? errno : 0;
		/* The kernel reports what it took, and where it stopped, when it ran out of
		 * buckets (ENOENT), of room (ENOSPC: nothing taken) or of memory for a fuller
		 * bucket (ENOMEM: what it took before is gone from the map all the same); after
		 * other errors `count` may still be what was asked for. */
		if (failure && failure != ENOENT && failure != ENOSPC && failure != ENOMEM)
			count = 0;
		for (i = 0; i < count; i++) {
			memcpy(record, keys + i * key_size, key_size);
			memcpy(record + key_size, values + i * value_size, value_size);
			emit(type, record, key_size + value_size);
		}
		total += count;
		if (failure == ENOSPC && !count && step < fits) {
			/* The next bucket holds more entries than were asked for: ask again, from
			 * that bucket, for more. */
			step = step * 2 < fits ? step * 2 : fits;
			err = 0;
		} else if (failure && failure != ENOENT) {
			/* What is left stays in the retired buffer, which the next swap makes the
			 * current one: it is drained at the swap after, with that interval's. */
			fprintf(stderr, "tollgate-runner: draining map: %s\n", strerror(failure));
			break;
		}
		in = out;
		in_batch = &in;
	} while (!err);
	return total;
}

/*
 * Points the kernel side at the other buffer and returns the retired one's fd. The update
 * of a map-in-map slot returns only after every program that might still hold the old
 * buffer has finished, so nothing writes to the retired buffer afterwards.
 */
static int swap(struct swapped *m)
{
	int next = !m->current, retired = m->current, fd = bpf_map__fd(m->inner[next]);
	__u32 zero = 0;

	if (bpf_map_update_elem(bpf_map__fd(m->outer), &zero, &fd, BPF_ANY)) {
		fprintf(stderr, "tollgate-runner: swapping %s: %s\n", bpf_map__name(m->outer), strerror(errno));
		return -1;
	}
	m->current = next;
	return bpf_map__fd(m->inner[retired]);
}

static __u32 drain_retired(int fd, const struct swapped *m)
{
	return fd < 0 ? 0 : drain(fd, m->key_size, m->value_size, m->type);
}

/* The edge slots (see edge_slots in maps.bpf.h), both halves, mapped into this process. */
struct edge_slots {
	struct tg_edge_record *records;
	size_t length; /* of the mapping */
	int index_fd;
	int claims_fd;
};

_Static_assert(sizeof(struct tg_edge_record) % 8 == 0,
	       "an array's elements are 8-byte aligned: the mapping's stride is the record's size");

static int map_edge_slots(struct tollgate_bpf *skel, struct edge_slots *slots)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t bytes = (size_t)2 * config.edges * sizeof(struct tg_edge_record);

	slots->length = (bytes + page - 1) / page * page;
	slots->records = mmap(NULL, slots->length, PROT_READ | PROT_WRITE, MAP_SHARED,
			      bpf_map__fd(skel->maps.edge_slots), 0);
	if (slots->records == MAP_FAILED) {
		slots->records = NULL;
		fprintf(stderr, "tollgate-runner: cannot map the edge slots: %s\n", strerror(errno));
		return -1;
	}
	slots->index_fd = bpf_map__fd(skel->maps.edge_index);
	slots->claims_fd = bpf_map__fd(skel->maps.edge_claims);
	return 0;
}

/*
 * Deletes `count` keys, in batches. A key that is not there (the index entry of a slot
 * that lost the race to index its edge: the winner's slot took it) is skipped. A kernel
 * that refuses the batch for another reason gets the keys one by one.
 */
static void delete_keys(int fd, const void *keys, size_t key_size, __u32 count)
{
	__u32 done = 0, n;

	while (done < count) {
		n = count - done;
		if (!bpf_map_delete_batch(fd, (const char *)keys + done * key_size, &n, NULL))
			return;
		if (errno != ENOENT) {
			for (; done < count; done++)
				bpf_map_delete_elem(fd, (const char *)keys + done * key_size);
			return;
		}
		done += n + 1; /* n were deleted before the one that failed */
	}
}

/*
 * Emits the edges of a retired half of the slots, then zeroes it and frees its slots and
 * index for the interval that next uses it. Runs when no program can still write there:
 * the interval has turned, and the swaps since waited for every program running then.
 * Every slot is looked at (its first bytes: an empty one has no family), as the kernel
 * side's cursor is no exact bound (a CPU can set it back to a slot another has taken).
 * A taken slot with no counts (its CPU lost the race to index the edge) is not emitted.
 */
static __u32 drain_edges(struct tollgate_bpf *skel, const struct edge_slots *slots, __u32 parity)
{
	static struct tg_edge_index_key index_keys[BATCH];
	static __u32 claims[BATCH];
	static const struct tg_edge_stats no_counts;
	struct tg_edge_record *half = slots->records + (size_t)parity * config.edges;
	__u32 emitted = 0, pending = 0;

	for (__u32 i = 0; i < config.edges; i++) {
		struct tg_edge_record *record = &half[i];

		if (!record->key.family)
			continue;
		if (memcmp(&record->stats, &no_counts, sizeof(no_counts))) {
			emit(TG_RECORD_EDGE, record, sizeof(*record));
			emitted++;
		}
		index_keys[pending] = (struct tg_edge_index_key){ .parity = parity, .edge = record->key };
		claims[pending++] = parity * config.edges + i;
		memset(record, 0, sizeof(*record));
		if (pending == BATCH) {
			delete_keys(slots->index_fd, index_keys, sizeof(index_keys[0]), pending);
			delete_keys(slots->claims_fd, claims, sizeof(claims[0]), pending);
			pending = 0;
		}
	}
	delete_keys(slots->index_fd, index_keys, sizeof(index_keys[0]), pending);
	delete_keys(slots->claims_fd, claims, sizeof(claims[0]), pending);
	skel->bss->edge_cursor[parity] = 0;
	return emitted;
}

/*
 * The programs' own cost, as the kernel counts it once BPF_ENABLE_STATS is held: run
 * count and run time per program (each chosen one, attached or, while_proxies, waiting to
 * be), cumulative. A profiler must show what it costs.
 * They move only while the stats are held (set_run_time_stats); the hello says whether
 * they were from the start.
 */
static void emit_program_stats(void)
{
	char text[2048];
	size_t used = 0;

	used += snprintf(text, sizeof(text), "[");
	for (int i = 0; i < link_count && used < sizeof(text); i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(linked[i]);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		used += snprintf(text + used, sizeof(text) - used,
				 "%s{\"name\":\"%s\",\"run_cnt\":%llu,\"run_time_ns\":%llu}",
				 used > 1 ? "," : "", bpf_program__name(linked[i]),
				 (unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns);
	}
	if (used < sizeof(text))
		used += snprintf(text + used, sizeof(text) - used, "]");
	if (used < sizeof(text))
		emit(TG_RECORD_PROGRAMS, text, used);
}

/* A process event, passed on as it comes: the agent reads /proc while the process lives. */
static int on_process_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size >= sizeof(struct tg_process_record))
		emit(TG_RECORD_PROCESS, data, sizeof(struct tg_process_record));
	return 0;
}

/* Emits the process events waiting in the ring buffer. */
static void emit_process_events(struct ring_buffer *events)
{
	if (events && ring_buffer__consume(events) > 0)
		fflush(stdout);
}

/* Whether `proxies` lists any process. */
static int proxies_listed(struct tollgate_bpf *skel)
{
	__u32 key;

	return !bpf_map_get_next_key(bpf_map__fd(skel->maps.proxies), NULL, &key);
}

static void follow_proxies(struct tollgate_bpf *skel);

static void drain_all(struct tollgate_bpf *skel, const struct edge_slots *edges, struct swapped *hists,
		      struct swapped *tuples, struct swapped *hops, struct ring_buffer *events)
{
	struct tg_interval_record interval = {};
	int retired_hists, retired_tuples, retired_hops;
	__u32 zero = 0, retired_half = skel->bss->interval_seq & 1;

	/* A process's exit before its last records: the agent names them after it. */
	emit_process_events(events);
	emit_program_stats();
	/* An attach that failed is tried again each interval, not only at the next change. */
	follow_proxies(skel);

	/* The interval turns: events count in the other half of the edge slots from here, and
	 * every listener's clients are uncounted (before the swaps, so that the new buffers,
	 * written from the moment their slot changes while the update still waits for the
	 * kernel's grace period, never count clients from the old census). Released: the
	 * half a program chooses by it was zeroed before. Then the three other aggregates
	 * are swapped before any is drained: an event that lands between two swaps (its
	 * count in the next interval, its histogram bucket or tuple in this one) can only
	 * happen while the swaps wait for the kernel's grace periods (milliseconds), not
	 * while a map drains. The agent carries such strays into the next interval. Each
	 * swap waits for the programs that might still hold what it replaced, and so for
	 * those that saw the old interval. Hop counts go before the histograms, as the edges' interval does: a hop event
	 * split by the swaps then has its counts in the next interval and its buckets in
	 * this one, which the agent carries forward to them. (The other way round, a split
	 * hop's buckets came in the interval after its counts, where the agent took them for
	 * requests with no counts of their own and counted them twice.) */
	__atomic_store_n(&skel->bss->interval_seq, skel->bss->interval_seq + 1, __ATOMIC_RELEASE);
	retired_hops = swap(hops);
	retired_hists = swap(hists);
	retired_tuples = swap(tuples);
	/* The interval ends here, where events stopped counting in it: the next one's start,
	 * which its rows are keyed by, is not later than its first events by a drain. */
	interval.monotonic_ns = clock_ns(CLOCK_MONOTONIC);
	interval.realtime_ns = clock_ns(CLOCK_REALTIME);

	interval.edges = drain_edges(skel, edges, retired_half);
	interval.hists = drain_retired(retired_hists, hists);
	interval.tuples = drain_retired(retired_tuples, tuples);
	interval.hops = drain_retired(retired_hops, hops);
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.lost), &zero, &interval.lost);
	interval.filter_generation = skel->bss->filter_generation;
	if (proxies_link >= 0 && !proxies_link_missed)
		interval.flags |= TG_INTERVAL_HANDOFF_WAKE_UPS;
	/* Still detached with a proxy listed (its attach failed): the next interval too. */
	proxies_link_missed = proxies_link >= 0 && !links[proxies_link] && proxies_listed(skel);
	emit(TG_RECORD_INTERVAL, &interval, sizeof(interval));
	fflush(stdout);
}

static int pretend_missing(const char *target)
{
	for (int i = 0; i < config.missing_count; i++)
		if (!strcmp(config.missing[i], target))
			return 1;
	return 0;
}

static int refused_by_kernel(const struct variant *v)
{
	for (int i = 0; i < config.unloadable_count; i++)
		if (!strcmp(config.unloadable[i], v->program))
			return 1;
	return 0;
}

/* Does the running kernel offer what this variant attaches to? */
static int available(const struct btf *vmlinux, const struct variant *v)
{
	char name[128];
	const struct btf_type *t;
	int id;

	if (pretend_missing(v->target) || refused_by_kernel(v))
		return 0;
	if (strcmp(v->kind, "tp_btf"))
		return btf__find_by_name_kind(vmlinux, v->target, BTF_KIND_FUNC) > 0;
	/* btf_trace_X is a pointer to a function whose first argument is the context. */
	snprintf(name, sizeof(name), "btf_trace_%s", v->target);
	id = btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF);
	if (id <= 0)
		return 0;
	t = btf__type_by_id(vmlinux, btf__type_by_id(vmlinux, id)->type);
	if (!t || !btf_is_ptr(t) || !(t = btf__type_by_id(vmlinux, t->type)) || !btf_is_func_proto(t))
		return 0;
	return btf_vlen(t) - 1 >= v->args;
}

static const char *forced_mode(const char *hook)
{
	size_t len = strlen(hook);

	for (int i = 0; i < config.forced_count; i++)
		if (!strncmp(config.forced[i], hook, len) && config.forced[i][len] == '=')
			return config.forced[i] + len + 1;
	return NULL;
}

/* Picks a variant per hook and disables the autoload of all others. */
static int choose_variants(struct tollgate_bpf *skel, const struct btf *vmlinux)
{
	int err = 0;

	for (size_t h = 0; h < HOOK_COUNT; h++) {
		struct hook *hook = &hooks[h];
		const char *mode = forced_mode(hook->name);
		char missing[512] = "";
		size_t used = 0;

		hook->chosen = NULL;
		for (int i = 0; i < 3 && hook->variants[i].program; i++) {
			const struct variant *v = &hook->variants[i];
			struct bpf_program *prog = bpf_object__find_program_by_name(skel->obj, v->program);
			int usable = (!mode || !strcmp(mode, v->kind)) && !hook->chosen && available(vmlinux, v);

			if (usable)
				hook->chosen = v;
			else if (!hook->chosen)
				used += snprintf(missing + used, sizeof(missing) - used, "%s%s %s (%s",
						 used ? ", " : "", strcmp(v->kind, "tp_btf") ? "function" : "tracepoint",
						 v->target, v->kind);
			if (!usable && !hook->chosen && !strcmp(v->kind, "tp_btf"))
				used += snprintf(missing + used, sizeof(missing) - used, " with %d+ arguments", v->args);
			if (!usable && !hook->chosen)
				used += snprintf(missing + used, sizeof(missing) - used, "%s%s)",
						 mode && strcmp(mode, v->kind) ? ", not the forced mode" : "",
						 refused_by_kernel(v) ? ", refused by the kernel" : "");
			bpf_program__set_autoload(prog, hook->chosen == v);
		}
		if (!hook->chosen && !(hook->reported++ && !hook->required)) {
			fprintf(stderr, "tollgate-runner: %s %s: this kernel offers none of: %s\n",
				hook->required ? "cannot trace" : "not tracing", hook->name, missing);
		}
		if (!hook->chosen && hook->required)
			err = -1;
	}
	return err;
}

/* Attaches each chosen program on its own, so a failure names the hook and the mode. */
static int attach(struct tollgate_bpf *skel, char *hello, size_t size)
{
	size_t used = strlen(hello);

	for (size_t h = 0; h < HOOK_COUNT; h++) {
		const struct variant *v = hooks[h].chosen;
		struct bpf_program *prog;

		used += snprintf(hello + used, size - used, "%s{\"hook\":\"%s\"", h ? "," : "", hooks[h].name);
		if (!v) {
			used += snprintf(hello + used, size - used, ",\"attach\":\"none\"}");
			continue;
		}
		prog = bpf_object__find_program_by_name(skel->obj, v->program);
		if (hooks[h].while_proxies) {
			/* Loaded, so its stats are listed; attached by follow_proxies. */
			proxies_link = link_count;
			links[link_count] = NULL;
		} else if (!(links[link_count] = bpf_program__attach(prog))) {
			fprintf(stderr, "tollgate-runner: cannot attach %s via %s %s (program %s): %s\n",
				hooks[h].name, v->kind, v->target, v->program, strerror(errno));
			return -1;
		}
		linked[link_count++] = prog;
		used += snprintf(hello + used, size - used,
				 ",\"name\":\"%s\",\"attach\":\"%s\",\"target\":\"%s\"%s}", v->program, v->kind,
				 v->target, hooks[h].while_proxies ? ",\"while\":\"proxies\"" : "");
	}
	snprintf(hello + used, size - used, "]}");
	return 0;
}

/* Adds the listening ports of one /proc/<pid>/net/tcp or tcp6 table to the listeners map. */
static void seed_listener_table(int fd, const char *path, __u32 netns)
{
	char line[512];
	FILE *table = fopen(path, "r");

	if (!table)
		return;
	/* "  sl  local_address rem_address   st ...": the local port in hex after the ':', the
	 * state 0A is LISTEN. */
	while (fgets(line, sizeof(line), table)) {
		char local[64], remote[64];
		unsigned int state, port;
		struct tg_listener_key key = { .netns_inode = netns };
		__u32 one = 1;
		const char *colon;

		if (sscanf(line, " %*s %63s %63s %x", local, remote, &state) != 3 || state != 0x0A)
			continue;
		colon = strrchr(local, ':');
		if (!colon || sscanf(colon + 1, "%x", &port) != 1)
			continue;
		key.port = (__u16)port;
		/* Already there if the kernel side saw it start listening meanwhile. */
		bpf_map_update_elem(fd, &key, &one, BPF_NOEXIST);
	}
	fclose(table);
}

/*
 * The listening ports open before the runner started, in every network namespace (one
 * process's view of each), for the side of the sockets it adopts. Listeners that start
 * from now on are seen by the kernel side, which runs before this.
 */
static void seed_listeners(struct tollgate_bpf *skel)
{
	static __u32 seen[4096];
	int fd = bpf_map__fd(skel->maps.listeners), count = 0;
	struct dirent *entry;
	DIR *proc = opendir("/proc");
	char path[300];

	if (!proc)
		return;
	while ((entry = readdir(proc))) {
		struct stat st;
		int known = 0;

		if (entry->d_name[0] < '1' || entry->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", entry->d_name);
		if (stat(path, &st))
			continue;
		for (int i = 0; i < count && !known; i++)
			known = seen[i] == (__u32)st.st_ino;
		if (known || count == (int)(sizeof(seen) / sizeof(seen[0])))
			continue;
		seen[count++] = (__u32)st.st_ino;
		snprintf(path, sizeof(path), "/proc/%s/net/tcp", entry->d_name);
		seed_listener_table(fd, path, (__u32)st.st_ino);
		snprintf(path, sizeof(path), "/proc/%s/net/tcp6", entry->d_name);
		seed_listener_table(fd, path, (__u32)st.st_ino);
	}
	closedir(proc);
	skel->bss->listeners_known = 1;
}

/* Empties a small control map (the filter maps: thousands of entries at most). */
static void clear_map(int fd, size_t key_size)
{
	char key[16], next[16];

	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key))
			break;
	}
}

static int parse_u64_list(char *text, int fd, size_t key_size)
{
	__u8 one = 1;

	for (char *item = strtok(text, ","); item; item = strtok(NULL, ",")) {
		char *end;
		unsigned long long v = strtoull(item, &end, 10);
		__u32 v32 = (__u32)v;

		if (*end || end == item || (key_size == 4 && v > 0xffffffffULL))
			return -1;
		if (bpf_map_update_elem(fd, key_size == 4 ? (void *)&v32 : (void *)&v, &one, BPF_ANY))
			return -1;
	}
	return 0;
}

/* Zeroes every CPU's value of a one-entry per-CPU map. */
static void zero_percpu_map(const struct bpf_map *map)
{
	int cpus = libbpf_num_possible_cpus();
	size_t size = ((size_t)bpf_map__value_size(map) + 7) & ~(size_t)7;
	void *zeroes = cpus > 0 ? calloc(cpus, size) : NULL;
	__u32 zero = 0;

	if (!zeroes || bpf_map_update_elem(bpf_map__fd(map), &zero, zeroes, BPF_ANY))
		fprintf(stderr, "tollgate-runner: cannot zero %s\n", bpf_map__name(map));
	free(zeroes);
}

/* Attaches the while_proxies hook as `proxies` gains its first process, and detaches it
 * as it loses its last. A failure to attach is said once, and tried again at the next
 * change and at each interval's end (drain_all). */
static void follow_proxies(struct tollgate_bpf *skel)
{
	static int failure_said;
	int any = proxies_listed(skel);

	if (proxies_link < 0 || any == (links[proxies_link] != NULL))
		return;
	if (any) {
		/* Neither a run nor a switch-in (switch_ins) is taken to span a detached spell. */
		zero_percpu_map(skel->maps.proxy_runs);
		zero_percpu_map(skel->maps.switch_ins);
		links[proxies_link] = bpf_program__attach(linked[proxies_link]);
		proxies_link_missed |= !links[proxies_link];
		if (!links[proxies_link] && !failure_said)
			fprintf(stderr, "tollgate-runner: cannot attach %s: %s (tried again each interval)\n",
				bpf_program__name(linked[proxies_link]), strerror(errno));
		failure_said = !links[proxies_link];
	} else {
		bpf_link__destroy(links[proxies_link]);
		links[proxies_link] = NULL;
	}
}

/* One command line from the agent; a bad one is reported and changes nothing it names. */
static void run_command(struct tollgate_bpf *skel, char *line)
{
	char *words[8], *save = NULL;
	int n = 0;

	for (char *w = strtok_r(line, " \t", &save); w && n < 8; w = strtok_r(NULL, " \t", &save))
		words[n++] = w;
	if (n == 3 && !strcmp(words[0], "proxy")) {
		char *end;
		unsigned long pid = strtoul(words[2], &end, 10);
		__u8 one = 1;
		__u32 key = (__u32)pid;

		/* The programs keep each socket's answer until the generation moves (is_proxy). */
		if (!*end && pid && pid < 0x400000 && !strcmp(words[1], "add") &&
		    !bpf_map_update_elem(bpf_map__fd(skel->maps.proxies), &key, &one, BPF_ANY)) {
			skel->bss->proxies_generation++;
			follow_proxies(skel);
			return;
		}
		if (!*end && pid && !strcmp(words[1], "del")) {
			bpf_map_delete_elem(bpf_map__fd(skel->maps.proxies), &key);
			skel->bss->proxies_generation++;
			follow_proxies(skel);
			return;
		}
	} else if (n == 2 && !strcmp(words[0], "stats") &&
		   (!strcmp(words[1], "on") || !strcmp(words[1], "off"))) {
		set_run_time_stats(!strcmp(words[1], "on"));
		return;
	} else if (n >= 3 && !strcmp(words[0], "filter")) {
		char *end;
		unsigned long generation = strtoul(words[1], &end, 10);
		int netns_fd = bpf_map__fd(skel->maps.filter_netns);
		int cgroup_fd = bpf_map__fd(skel->maps.filter_cgroups);
		int ok = !*end && generation <= 0xffffffffUL, has_cgroups = 0;

		if (ok && n == 3 && !strcmp(words[2], "all")) {
			skel->bss->filter_mode = TG_FILTER_ALL;
			skel->bss->filter_generation = (__u32)generation;
			return;
		}
		clear_map(netns_fd, 4);
		clear_map(cgroup_fd, 8);
		for (int i = 2; ok && i < n; i++) {
			if (!strncmp(words[i], "netns=", 6))
				ok = !parse_u64_list(words[i] + 6, netns_fd, 4);
			else if (!strncmp(words[i], "cgroup=", 7))
				ok = !parse_u64_list(words[i] + 7, cgroup_fd, 8) && (has_cgroups = 1);
			else
				ok = 0;
		}
		if (ok) {
			skel->bss->filter_has_cgroups = has_cgroups;
			skel->bss->filter_mode = TG_FILTER_LISTED;
			skel->bss->filter_generation = (__u32)generation;
			return;
		}
		/* Half-applied lists must not stand: fall back to the previous mode's meaning
		 * by tracing everything, which loses no data, and say so. */
		skel->bss->filter_mode = TG_FILTER_ALL;
		fprintf(stderr, "tollgate-runner: bad filter (tracing everything): %s\n", words[2]);
		return;
	}
	fprintf(stderr, "tollgate-runner: bad command: %s\n", n ? words[0] : "");
}

/* Reads what stdin has and runs each complete line. Returns -1 at end of input. */
static int read_commands(struct tollgate_bpf *skel)
{
	static char buffer[65536];
	static size_t used;
	ssize_t got = read(STDIN_FILENO, buffer + used, sizeof(buffer) - 1 - used);
	char *start = buffer, *newline;

	if (got <= 0)
		return got == 0 || (errno != EINTR && errno != EAGAIN) ? -1 : 0;
	used += got;
	buffer[used] = '\0';
	while ((newline = strchr(start, '\n'))) {
		*newline = '\0';
		run_command(skel, start);
		start = newline + 1;
	}
	used -= start - buffer;
	memmove(buffer, start, used);
	if (used == sizeof(buffer) - 1) {
		fprintf(stderr, "tollgate-runner: command line too long, dropped\n");
		used = 0;
	}
	return 0;
}

static int parse_uint(const char *text, unsigned int *out, unsigned long min)
{
	char *end;
	unsigned long v = strtoul(text, &end, 10);

	if (*text == '\0' || *end != '\0' || v < min || v > 100000000UL)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/*
 * Whether the aggregates and the socket states may grow with use (BPF_F_NO_PREALLOC): the
 * kernel lets tracing programs use such hash maps from 6.1 (bpf_mem_alloc). Their memory
 * then follows the sockets, edges and buckets in use, up to the same bounds, where a
 * preallocated map locks its whole size from the start (62 MB of maps before, most of it
 * empty); a failed insert is counted like a full map. Older kernels keep preallocation.
 */
static int maps_grow_with_use(void)
{
	struct utsname uts;
	unsigned int major = 0, minor = 0;

	if (uname(&uts) || sscanf(uts.release, "%u.%u", &major, &minor) != 2)
		return 0;
	return major > 6 || (major == 6 && minor >= 1);
}

static void grow_with_use(struct bpf_map *map)
{
	if (map)
		bpf_map__set_map_flags(map, bpf_map__map_flags(map) | BPF_F_NO_PREALLOC);
}

/*
 * Whether the kernel side can follow HTTP/2 frames here at all: on x86-64 (syscall numbers
 * and registers), with the helpers its reads need, bpf_loop and bpf_task_pt_regs, found as
 * the programs find them (enumerators of enum bpf_func_id in the kernel's BTF). Where it
 * cannot, they count no HTTP/2 request whatever was asked, and the hello says so.
 */
static int http2_frames_readable(const struct btf *vmlinux)
{
#if defined(__x86_64__)
	const struct btf_type *t = NULL;
	const struct btf_enum *e;
	int id, found = 0;

	if ((id = btf__find_by_name_kind(vmlinux, "bpf_func_id", BTF_KIND_ENUM)) > 0)
		t = btf__type_by_id(vmlinux, id);
	for (int i = 0; t && i < btf_vlen(t); i++) {
		const char *name;

		e = btf_enum(t) + i;
		name = btf__name_by_offset(vmlinux, e->name_off);
		found += name && (!strcmp(name, "BPF_FUNC_loop") || !strcmp(name, "BPF_FUNC_task_pt_regs"));
	}
	return found == 2;
#else
	return 0;
#endif
}

static struct tollgate_bpf *open_configured(void)
{
	struct tollgate_bpf *skel = tollgate_bpf__open();

	if (!skel) {
		fprintf(stderr, "tollgate-runner: cannot open the BPF object: %s\n", strerror(errno));
		return NULL;
	}
	bpf_map__set_max_entries(skel->maps.sockets, config.sockets);
	/* Two halves of slots, the index and the claims: one entry per slot each. */
	bpf_map__set_max_entries(skel->maps.edge_slots, 2 * config.edges);
	bpf_map__set_max_entries(skel->maps.edge_index, 2 * config.edges);
	bpf_map__set_max_entries(skel->maps.edge_claims, 2 * config.edges);
	bpf_map__set_max_entries(skel->maps.histograms_0, config.histograms);
	bpf_map__set_max_entries(skel->maps.histograms_1, config.histograms);
	bpf_map__set_max_entries(skel->maps.tuples_0, config.tuples);
	bpf_map__set_max_entries(skel->maps.tuples_1, config.tuples);
	/* Hand-offs pending at once: one per reader socket a proxy has just written to. */
	bpf_map__set_max_entries(skel->maps.handoffs, config.handoffs);
	/* Hop aggregates are per (proxy, listener): far fewer than edges. */
	bpf_map__set_max_entries(skel->maps.hop_stats_0, config.edges / 4 ? config.edges / 4 : 1);
	bpf_map__set_max_entries(skel->maps.hop_stats_1, config.edges / 4 ? config.edges / 4 : 1);
	/* Off, or where frames cannot be read, no connection is followed: the map of followed
	 * ones keeps no room locked. */
	if (!config.http2_requests || !config.http2_readable)
		bpf_map__set_max_entries(skel->maps.http2_frames, 1);
	/* One census entry per listener with clients in an interval: no more than edges. */
	bpf_map__set_max_entries(skel->maps.listener_clients, config.edges / 4 ? config.edges / 4 : 1);
	if (maps_grow_with_use()) {
		struct bpf_map *grown[] = {
			skel->maps.sockets,      skel->maps.edge_index,   skel->maps.edge_claims,
			skel->maps.histograms_0, skel->maps.histograms_1, skel->maps.tuples_0,
			skel->maps.tuples_1,     skel->maps.hop_stats_0, skel->maps.hop_stats_1,
			/* The outer maps' templates: an inner map must match its flags. */
			bpf_map__inner_map(skel->maps.histograms),
			bpf_map__inner_map(skel->maps.tuples), bpf_map__inner_map(skel->maps.hop_stats),
		};

		for (size_t i = 0; i < sizeof(grown) / sizeof(grown[0]); i++)
			grow_with_use(grown[i]);
	}
	skel->rodata->tuple_samples = config.tuple_samples;
	skel->rodata->clients_per_listener = config.clients_per_listener;
	skel->rodata->edges_per_half = config.edges;
	skel->rodata->http2_requests_counted = config.http2_requests;
	return skel;
}

static int usage(void)
{
	fprintf(stderr, "usage: tollgate-runner [--interval-ms N] [--sockets N] [--edges N] "
			"[--histograms N] [--tuples N] [--handoffs N] [--tuple-samples N] "
			"[--clients-per-listener N] "
			"[--attach HOOK=MODE]... "
			"[--run-time-stats] [--no-http2-requests] "
			"| --layout\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "sockets", required_argument, NULL, 's' },
		{ "edges", required_argument, NULL, 'e' },
		{ "histograms", required_argument, NULL, 'h' },
		{ "tuples", required_argument, NULL, 't' },
		{ "handoffs", required_argument, NULL, 'H' },
		{ "tuple-samples", required_argument, NULL, 'T' },
		{ "clients-per-listener", required_argument, NULL, 'c' },
		{ "attach", required_argument, NULL, 'a' },
		{ "pretend-missing", required_argument, NULL, 'm' },
		{ "layout", no_argument, NULL, 'l' },
		{ "run-time-stats", no_argument, NULL, 'R' },
		{ "no-http2-requests", no_argument, NULL, 'n' },
		{},
	};
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	struct edge_slots edges = {};
	struct swapped hists, tuples, hops;
	struct ring_buffer *events = NULL;
	struct tollgate_bpf *skel = NULL;
	struct btf *vmlinux = NULL;
	/* SA_RESTART: a SIGTERM during a write to a full pipe must not fail the write; the
	 * wait for the next drain (poll) still returns early, as poll is never restarted. */
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	char hello[4096];
	struct utsname uts;
	int opt, err = 1, stdin_open = 1;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		unsigned int *target = opt == 'i' ? &config.interval_ms : opt == 's' ? &config.sockets :
				       opt == 'e' ? &config.edges : opt == 'h' ? &config.histograms :
				       opt == 't' ? &config.tuples : opt == 'H' ? &config.handoffs :
				       opt == 'T' ? &config.tuple_samples :
				       opt == 'c' ? &config.clients_per_listener : NULL;
		if (opt == 'l') {
			print_layout();
			return 0;
		}
		if (opt == 'R') {
			config.run_time_stats = 1;
			continue;
		}
		if (opt == 'n') {
			config.http2_requests = 0;
			continue;
		}
		if (opt == 'a' && strchr(optarg, '=') && config.forced_count < 16) {
			config.forced[config.forced_count++] = optarg;
			continue;
		}
		if (opt == 'm' && config.missing_count < MAX_PRETEND) {
			config.missing[config.missing_count++] = optarg;
			continue;
		}
		/* 0 clients per listener: every server end folded, no client kept apart. */
		if (!target || parse_uint(optarg, target, opt == 'c' ? 0 : 1))
			return usage();
	}
	if (optind < argc)
		return usage();

	libbpf_set_print(libbpf_print);
	setrlimit(RLIMIT_MEMLOCK, &unlimited);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);

	/* The kernel's BTF, read once: what each hook's variants attach to, and whether the
	 * helpers that HTTP/2 frames need are there. */
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		fprintf(stderr, "tollgate-runner: this kernel has no BTF (/sys/kernel/btf/vmlinux): "
				"CONFIG_DEBUG_INFO_BTF is needed\n");
		goto out;
	}
	config.http2_readable = http2_frames_readable(vmlinux);

	/* A variant the kernel refuses to load (fentry where it is not allowed) is dropped and
	 * the next one tried: the object is opened again, as a failed load cannot be retried. */
	for (;;) {
		const struct variant *refused = NULL;

		skel = open_configured();
		if (!skel || choose_variants(skel, vmlinux))
			goto out;
		if (!tollgate_bpf__load(skel))
			break;
		err = errno;
		for (size_t h = 0; h < HOOK_COUNT && !refused; h++)
			/* A failed load unloads every program, so the suspect is the first
			 * variant that is not a BTF tracepoint (libbpf has named it above). */
			if (hooks[h].chosen && strcmp(hooks[h].chosen->kind, "tp_btf"))
				refused = hooks[h].chosen;
		if (!refused || config.unloadable_count == 16) {
			fprintf(stderr, "tollgate-runner: cannot load the BPF programs (%s); "
					"needs root or CAP_BPF+CAP_PERFMON, and a kernel with BTF\n", strerror(err));
			err = 1;
			goto out;
		}
		fprintf(stderr, "tollgate-runner: the kernel refused %s (%s %s): %s; trying the next variant\n",
			refused->program, refused->kind, refused->target, strerror(err));
		config.unloadable[config.unloadable_count++] = refused->program;
		tollgate_bpf__destroy(skel);
	}
	err = 1;
	if (map_edge_slots(skel, &edges))
		goto out;
	hists = (struct swapped){ skel->maps.histograms, { skel->maps.histograms_0, skel->maps.histograms_1 },
				  0, sizeof(struct tg_hist_key), sizeof(__u64), TG_RECORD_HIST };
	tuples = (struct swapped){ skel->maps.tuples, { skel->maps.tuples_0, skel->maps.tuples_1 }, 0,
				   sizeof(struct tg_tuple_key), sizeof(__u64), TG_RECORD_TUPLE };
	hops = (struct swapped){ skel->maps.hop_stats, { skel->maps.hop_stats_0, skel->maps.hop_stats_1 }, 0,
				 sizeof(struct tg_edge_key), sizeof(struct tg_hop_stats), TG_RECORD_HOP };
	uname(&uts);
	set_run_time_stats(config.run_time_stats);
	snprintf(hello, sizeof(hello),
		 "{\"format_version\":%d,\"kernel\":\"%s\",\"interval_ms\":%u,\"maps\":{\"sockets\":%u,"
		 "\"edges\":%u,\"histograms\":%u,\"tuples\":%u,\"handoffs\":%u},"
		 "\"clients_per_listener\":%u,\"http2_requests\":%s,"
		 "\"run_time_stats\":%s,\"programs\":[",
		 TG_FORMAT_VERSION, uts.release, config.interval_ms, config.sockets, config.edges,
		 config.histograms, config.tuples, config.handoffs, config.clients_per_listener,
		 config.http2_requests && config.http2_readable ? "true" : "false",
		 stats_fd >= 0 ? "true" : "false");
	if (attach(skel, hello, sizeof(hello)))
		goto out;
	seed_listeners(skel);
	events = ring_buffer__new(bpf_map__fd(skel->maps.process_events), on_process_event, NULL, NULL);
	if (!events) {
		fprintf(stderr, "tollgate-runner: cannot read the process events: %s\n", strerror(errno));
		goto out;
	}
	emit(TG_RECORD_HELLO, hello, strlen(hello));
	fflush(stdout);

	const __u64 interval_ns = config.interval_ms * 1000000ULL;
	__u64 next_drain = next_interval_end(clock_ns(CLOCK_REALTIME), interval_ns);
	while (!stopping) {
		__u64 now = clock_ns(CLOCK_REALTIME);
		struct pollfd in[2] = {
			{ .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
			{ .fd = ring_buffer__epoll_fd(events), .events = POLLIN },
		};

		if (now >= next_drain) {
			drain_all(skel, &edges, &hists, &tuples, &hops, events);
			/* From the clock again: a drain that fell behind skips the ends it missed. */
			next_drain = next_interval_end(clock_ns(CLOCK_REALTIME), interval_ns);
			continue;
		}
		/* The wall clock was set back: wait no longer than one interval for the next end. */
		if (next_drain - now > interval_ns)
			next_drain = next_interval_end(now, interval_ns);
		/* A signal cuts the wait short; the final drain below still runs. */
		if (poll(in, 2, (int)((next_drain - now + 999999) / 1000000)) <= 0)
			continue;
		if (in[1].revents & POLLIN)
			emit_process_events(events);
		if ((in[0].revents & (POLLIN | POLLHUP | POLLERR)) && read_commands(skel) < 0)
			stdin_open = 0;
	}
	drain_all(skel, &edges, &hists, &tuples, &hops, events);
	err = 0;
out:
	if (edges.records)
		munmap(edges.records, edges.length);
	ring_buffer__free(events);
	while (link_count)
		bpf_link__destroy(links[--link_count]);
	set_run_time_stats(0);
	tollgate_bpf__destroy(skel);
	btf__free(vmlinux);
	return err;
}
