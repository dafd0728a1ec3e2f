/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The hand-off: a request hop that runs on to the next reader's read.
 *
 * A hop ends when the proxy's write has queued the request on the next socket (the app's,
 * on loopback). Without the proxy, the app would have been woken by the network's packet;
 * with it, the app is woken by the proxy's write, often on the other CPU, and the proxy
 * itself was woken by the network's packet. So what the proxy adds on the request path at
 * low load is: its own work, plus the app's wake-up after the hand-off, less the wake-up
 * the app would have had without it. The last one cannot be seen in a run with the proxy,
 * but the proxy's own wake-up from the same sender's packet stands in for it: the same
 * sender, the same kind of wait. So when both the proxy and the next reader were idle
 * when the bytes reached them, the request hop is
 *
 *     (proxy's forward - proxy's read) + (next reader's read - hand-off)
 *
 * the hop less the proxy's idle pickup, plus the next reader's idle pickup. When the
 * proxy was busy at the arrival, its wait in the queue is its own cost and the hop stays
 * as it is; when the next reader was busy, its wait is queueing it would have had anyway,
 * and the hop stays as it is too. Measured on this kernel (README, "What added latency
 * means"): with the load generator free to run anywhere the app's wake-up after a
 * hand-off is longer than the proxy's by 15-20 us on average; pinned apart from them, it
 * is shorter by 70-90 us, as the proxy's hand-off to the app stays on one CPU while the
 * network's packet crossed to it. The response path has no such stand-in: the reply's
 * next reader is the client, whose wake-up without the proxy comes from the app, on the
 * app's CPU, not from anything the proxy sees; and in a cluster it is on another machine.
 *
 * "Idle" is read from the socket's wait queue at tcp:tcp_probe, before the bytes are queued
 * and anyone is woken: a thread sleeping on the socket itself (a blocking read, poll), or
 * one sleeping in epoll_wait on the epoll instance that watches it (the first entry of the
 * socket's wait queue is that epoll's, ep_poll_callback, and that epoll's own wait queue
 * holds its sleeping waiters). A thread that is running, runnable but throttled, or busy
 * with another connection is not on either queue: busy. Not timed from socket events: a
 * proxy busy 4 ms with no socket event would pass for idle.
 *
 * Linking without a socket lookup (tracing programs have none): on loopback the next
 * reader's arrival runs in the proxy's thread, inside its forward's write. The arrival
 * recognises a proxy's context (the current process is a proxy: proxy_slots), notes the
 * hand-off under the next reader's socket and
 * tells the proxy's thread (its queues); the forward, which runs after the write, links
 * the note to its request's downstream socket. The next reader's read and that forward
 * can come in either order: whichever is second settles the request hop. Until then the
 * hop is deferred, and a downstream whose request hop was deferred and never settled (the
 * reader never read, or the note was lost) has it recorded as it was at its reply.
 */
#ifndef TOLLGATE_HANDOFF_BPF_H
#define TOLLGATE_HANDOFF_BPF_H

/* The function epoll hangs on the wait queue of each file it watches. */
extern const void ep_poll_callback __ksym __weak;

struct handoff {
	__u64 at;          /* the proxy's bytes queued on this (the next reader's) socket */
	__u64 cookie;      /* this socket's, as its address may be a later socket's */
	__u64 read_ns;     /* this socket's first read after `at`, 0: not yet */
	__u64 down;        /* the downstream socket of the request the bytes were, 0: not linked */
	__u64 down_cookie;
	__u32 down_seq;    /* that downstream's request_seq */
	__u32 pickup_ns;   /* the proxy's own wait from that request's arrival to its read */
};

/*
 * Hand-offs to idle readers, by the reader's socket address, from the arrival to the read
 * and the forward that settle them. Short-lived: one per socket with a hand-off pending;
 * a full map means no hand-off for that request (the hop stays to the forward).
 * Preallocated (4096 x 56 bytes), unlike the maps that grow with use: an entry is made
 * and freed for every request handed off, and allocating it each time cost more.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct handoff);
} handoffs SEC(".maps");

/*
 * Whether a thread sleeps waiting for this socket's bytes: on the socket itself, or in
 * epoll_wait on the epoll that watches it. Read before the bytes are queued (tcp_probe).
 */
static __always_inline int reader_waiting(const struct sock *sk)
{
	/* Direct loads as far as the socket's wait queue (a BTF pointer); from its first entry
	 * on, found by address arithmetic, probe reads. */
	struct socket_wq *wq = sk->sk_wq;
	struct wait_queue_entry *w;
	struct eppoll_entry *pwq;
	struct eventpoll *ep;
	void *first;

	if (!wq || !&ep_poll_callback)
		return 0;
	first = wq->wait.head.next;
	if (!first || first == (void *)&wq->wait.head)
		return 0;
	w = (void *)first - bpf_core_field_offset(struct wait_queue_entry, entry);
	if (BPF_CORE_READ(w, func) != (void *)&ep_poll_callback)
		return 1;
	pwq = (void *)w - bpf_core_field_offset(struct eppoll_entry, wait);
	ep = BPF_CORE_READ(pwq, base, ep);
	if (!ep)
		return 0;
	first = BPF_CORE_READ(ep, wq.head.next);
	return first && first != (void *)&ep->wq.head;
}

/*
 * At an arrival on a socket (owned by process `owner`) in the context of another process:
 * when that process is a
 * proxy (so this is its forward's write delivering on loopback) and this socket's reader
 * waits, note the hand-off for the forward and the read to settle.
 */
static __always_inline void note_handoff(const struct sock *sk, struct sock_state *st, __u32 owner,
					 __u64 now)
{
	__u64 id = bpf_get_current_pid_tgid(), skaddr = (__u64)sk;
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct handoff h = { .at = now };
	struct hop_queues *q;

	if (!tgid || tgid == owner || proxy_slots[tgid & (PROXY_SLOTS - 1)] != tgid ||
	    !reader_waiting(sk) || !(q = bpf_map_lookup_elem(&hop_queues, &tid)))
		return;
	h.cookie = st->cookie;
	if (bpf_map_update_elem(&handoffs, &skaddr, &h, BPF_ANY))
		return;
	st->handoff_pending = 1;
	q->handoff_sk = skaddr;
	q->handoff_at = now;
}

/* A proxy's wait from an arrival to the read that took it, when it was idle at the arrival. */
static __always_inline __u32 idle_pickup(const struct sock_state *st, __u64 arrived, __u64 now)
{
	__u64 wait = now - arrived;

	return st->arrival_idle && arrived < now && wait < 0xffffffffULL ? (__u32)wait : 0;
}

/* The hop aggregate key of a downstream socket's listener (as pair_hops keys it). */
static __always_inline struct tg_edge_key hop_key_of(const struct sock_state *down)
{
	struct tg_edge_key hop = { .tgid = down->tgid,
				   .family = down->key.family,
				   .side = TG_SIDE_SERVER,
				   .netns_inode = down->key.netns_inode,
				   .service_port = down->key.service_port };
	return hop;
}

/* A request hop is recorded: its histogram and its exact sum. */
static __always_inline void record_request_hop(struct sock_state *down, __u64 delay)
{
	struct tg_edge_key hop = hop_key_of(down);
	struct tg_hop_stats *stats;

	down->request_hop_ns = delay ? delay : 1;
	record_latency(&hop, TG_METRIC_HOP_REQUEST, delay);
	if ((stats = hop_stats_of(&hop)))
		__sync_fetch_and_add(&stats->request_ns_sum, delay);
}

/* A deferred request hop, settled: to the next reader's read, or (h NULL) as it was. */
static __always_inline void settle_request_hop(struct sock_state *down, const struct handoff *h)
{
	__u64 delay = down->request_hop_ns;
	struct tg_edge_key hop;
	struct tg_hop_stats *stats;

	down->request_deferred = 0;
	if (h) {
		delay = delay > h->pickup_ns ? delay - h->pickup_ns : 0;
		delay += h->read_ns - h->at;
		hop = hop_key_of(down);
		if ((stats = hop_stats_of(&hop)))
			__sync_fetch_and_add(&stats->handoffs, 1);
	}
	record_request_hop(down, delay);
}

/*
 * At a proxy's forward of a request from `down` (its entry e, already popped): the hand-off
 * its write made (skaddr, at: noted during it), if both ends were idle. Returns 1 when the
 * request hop is deferred or settled here, 0 when the caller records it as it is.
 */
static __always_inline int link_handoff(__u64 skaddr, __u64 at, struct sock_state *down,
					const struct hop_entry *e, __u64 now)
{
	struct handoff *h;

	if (!skaddr || at < e->read_ns || at > now || !down->request_pickup_ns ||
	    down->request_seq != e->seq || !(h = bpf_map_lookup_elem(&handoffs, &skaddr)) || h->at != at)
		return 0;
	h->down = e->skaddr;
	h->down_cookie = e->cookie;
	h->down_seq = e->seq;
	h->pickup_ns = down->request_pickup_ns;
	if (h->read_ns) {
		/* The reader was quicker than this write's return. */
		settle_request_hop(down, h);
		bpf_map_delete_elem(&handoffs, &skaddr);
		return 1;
	}
	down->request_deferred = 1;
	return 1;
}

/* A read of a socket with a hand-off pending: its time, and the request hop settled. */
static __always_inline void read_after_handoff(__u64 skaddr, struct sock_state *st, __u64 now)
{
	struct handoff *h = bpf_map_lookup_elem(&handoffs, &skaddr);
	struct sock_state *down;

	if (!h || h->cookie != st->cookie || now < h->at) {
		st->handoff_pending = 0;
		return;
	}
	if (!h->read_ns) {
		h->read_ns = now;
		if (!h->down)
			return; /* the forward settles it */
	}
	if (h->down && (down = bpf_map_lookup_elem(&sockets, &h->down)) &&
	    down->cookie == h->down_cookie && down->request_deferred && down->request_seq == h->down_seq)
		settle_request_hop(down, h);
	st->handoff_pending = 0;
	bpf_map_delete_elem(&handoffs, &skaddr);
}

#endif /* TOLLGATE_HANDOFF_BPF_H */
