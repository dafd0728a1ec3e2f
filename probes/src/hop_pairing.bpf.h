/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Proxy hop delay: pairs a proxy's read of a request (or response) on one socket with
 * its write of it on another, on the same thread.
 *
 * An event-loop proxy reads many sockets before it writes any, so "the last socket this
 * thread read" pairs wrongly under concurrency. Instead each thread keeps a FIFO of reads
 * awaiting forward, per path: the oldest pending read pairs with the next forward. Each
 * entry names its socket and a sequence number, and is skipped when that socket's read
 * is no longer pending (answered locally, closed, superseded), so one request that is
 * never forwarded does not shift every later pair.
 *
 * Error bound: the sum of the paired delays is exact whatever the order the proxy
 * forwards in (a sum of writes minus a sum of reads), so the mean is exact; each single
 * pair, and so each quantile, is exact when the thread forwards in arrival order, and
 * otherwise off by at most the reordering window. An upstream write that forwards no
 * downstream read (a health check) takes a pending entry: the proxy must not run such
 * traffic on the profiled threads, or its rate bounds the error.
 */
#ifndef TOLLGATE_HOP_PAIRING_BPF_H
#define TOLLGATE_HOP_PAIRING_BPF_H

#define HOP_QUEUE_LEN 64 /* a power of two: reads pending forward on one thread */
#define HOP_SKIP_MAX 8   /* stale entries skipped per pairing, to bound the loop */

struct hop_entry {
	__u64 read_ns;
	__u64 skaddr; /* the socket the read was on */
	__u32 seq;    /* its request_seq or response_seq at the read */
	__u16 port;   /* request path: the listener's port of the downstream */
	__u16 family;
};

struct hop_fifo {
	struct hop_entry entries[HOP_QUEUE_LEN];
	__u32 head; /* next to pair */
	__u32 tail; /* next free */
};

struct hop_queues {
	struct hop_fifo request;  /* downstream reads awaiting their upstream write */
	struct hop_fifo response; /* upstream reads awaiting their downstream write */
};

/* Keyed by thread id; LRU, as threads come and go without telling us. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct hop_queues);
} hop_queues SEC(".maps");

/* A zeroed value to create queues from: too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hop_queues);
} hop_queue_zero SEC(".maps");

/* Older reads than this are requests the proxy never forwarded. */
const volatile __u64 hop_max_age_ns = 2000000000ULL;

static __always_inline int is_proxy(__u32 tgid)
{
	return bpf_map_lookup_elem(&proxies, &tgid) != NULL;
}

static __always_inline struct hop_queues *thread_queues(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), zero = 0;
	struct hop_queues *q = bpf_map_lookup_elem(&hop_queues, &tid), *blank;

	if (q)
		return q;
	blank = bpf_map_lookup_elem(&hop_queue_zero, &zero);
	if (!blank)
		return NULL;
	bpf_map_update_elem(&hop_queues, &tid, blank, BPF_NOEXIST);
	return bpf_map_lookup_elem(&hop_queues, &tid);
}

static __always_inline void hop_push(struct hop_fifo *fifo, __u64 now, __u64 skaddr, __u32 seq,
				     __u16 port, __u16 family)
{
	struct hop_entry *e;

	if (fifo->tail - fifo->head >= HOP_QUEUE_LEN) {
		fifo->head++; /* overwrite the oldest */
		LOST(hop_queue_full);
	}
	e = &fifo->entries[fifo->tail & (HOP_QUEUE_LEN - 1)];
	e->read_ns = now;
	e->skaddr = skaddr;
	e->seq = seq;
	e->port = port;
	e->family = family;
	fifo->tail++;
}

/*
 * The oldest entry whose read is still pending; clears that pending flag. `response`
 * selects which of the socket's flags the entry refers to. Returns 0 when none.
 */
static __always_inline int hop_pop(struct hop_fifo *fifo, __u64 now, int response,
				   struct hop_entry *out)
{
	struct sock_state *owner;
	struct hop_entry *e;
	int i;

	for (i = 0; i < HOP_SKIP_MAX; i++) {
		if (fifo->head == fifo->tail)
			return 0;
		e = &fifo->entries[fifo->head & (HOP_QUEUE_LEN - 1)];
		fifo->head++;
		if (now - e->read_ns > hop_max_age_ns)
			continue;
		owner = bpf_map_lookup_elem(&sockets, &e->skaddr);
		if (!owner)
			continue;
		if (response) {
			if (!owner->response_pending || owner->response_seq != e->seq)
				continue;
			owner->response_pending = 0;
		} else {
			if (!owner->request_pending || owner->request_seq != e->seq)
				continue;
			owner->request_pending = 0;
		}
		*out = *e;
		return 1;
	}
	return 0;
}

#endif /* TOLLGATE_HOP_PAIRING_BPF_H */
