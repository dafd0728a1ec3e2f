/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Proxy hop delay: the time a proxy holds a request (or a response) between the network
 * and the other side. Each hop runs from the arrival of the bytes at the proxy's socket
 * (the kernel queueing them: tcp:tcp_probe, before any thread is woken) to the proxy's
 * write of them on its other socket, whose loopback delivery to the app (or the send to
 * the peer) happens within that write. So a hop holds what a bypass would not have: the
 * wait in the receive queue, the wake-up and run-queue delay of the proxy's thread, CPU
 * throttling, the proxy's own work and the extra loopback hop. A request the proxy waited
 * for and handed to a reader that waited for it runs instead from the proxy's wake-up to
 * that reader's, and a reply likewise to a waiting client's wake-up; one the proxy was busy
 * for, let go in a burst to a reader that its earlier write keeps busy, runs on to that
 * reader's read by at most the spacing the burst took out (handoff.bpf.h).
 *
 * Pairing an arrival with its forward, with no protocol parsing: an event-loop proxy
 * reads many sockets before it writes any, so "the last socket this thread read" pairs
 * wrongly under concurrency. Instead each thread keeps a FIFO of requests read and
 * awaiting forward: the oldest pending one pairs with the next forward (a write that
 * follows a read on an upstream socket) in the same network namespace. Each entry names
 * its socket and a sequence number, and is skipped when that socket's read is no longer
 * pending (answered locally, closed, superseded), so one request that is never
 * forwarded does not shift every later pair. A read that is never forwarded and stays
 * pending (a peer's control frames after a reply, inside TLS) is found out when more
 * bytes come behind it; its connection's reads after a reply are then tentative, passed
 * over while another is pending (rearm_request, hop_search). A forward links the two
 * sockets both ways; the reply a downstream write forwards is the last arrival read on
 * the upstream its request went out on, when it came after that request left (see
 * linked_reply). Replies from upstreams that no forward linked (opened before tracing)
 * pair through a second FIFO. Where one connection carries many requests at once
 * (marked multiplexed: HTTP/2 between sidecars), the FIFO's one entry per downstream
 * does not hold: a multiplexed upstream's write takes every request of the downstreams
 * linked to it that the thread read before it (take_coalesced), and a multiplexed
 * downstream's requests pair by the upstreams they go out on, each holding its request
 * until its reply goes back (mux_forward, mux_replies).
 *
 * The request hop and the response hop of one downstream exchange are summed on the
 * downstream socket into one value (TG_METRIC_HOP_ADDED): the added latency of that
 * request, with no assumption that the two hops are independent.
 *
 * Error bound: the sum of the paired request delays is exact whatever the order the
 * proxy forwards in (a sum of writes minus a sum of arrivals), so their mean is exact;
 * each single request pair, and so each quantile, is exact when the thread forwards
 * requests in arrival order, and otherwise off by at most the reordering window. A reply
 * is exact when the proxy writes it before it reads its upstream again (an event loop
 * forwards what one read brought before it reads more); one it holds while it reads
 * further replies from the same upstream is dated by the later bytes, and comes out
 * short by the gap: never longer than the truth. What cannot be paired is counted, not
 * guessed: a downstream exchange that ends with a hop missing is `unpaired` (a reply the
 * proxy gives itself, an HTTP/2 SETTINGS or WINDOW_UPDATE answered on the connection, a
 * read aged out), and a forward that finds no pending arrival is an `unmatched_forward`
 * (health checks, the proxy's own frames, a second request forwarded from one read).
 */
#ifndef TOLLGATE_HOP_PAIRING_BPF_H
#define TOLLGATE_HOP_PAIRING_BPF_H

#define HOP_QUEUE_LEN 64 /* a power of two: reads pending forward on one thread */
#define HOP_ANY_NETNS 0  /* hop_head's namespace: any (a socket's inode is never 0) */
#define MUX_UPSTREAMS 4  /* a power of two: replies one write to a multiplexed downstream pairs */

/*
 * hop_entry.seq: the socket's request_seq or response_seq at the read in the low 31 bits,
 * and in the top one whether the entry is tentative (hop_search).
 */
#define HOP_TENTATIVE 0x80000000U
#define HOP_SEQ_MASK 0x7fffffffU

struct hop_entry {
	__u64 read_ns;
	__u64 skaddr; /* the socket the read was on */
	__u64 cookie; /* and its cookie */
	__u32 seq;    /* its request_seq or response_seq at the read, and HOP_TENTATIVE */
	__u32 netns;  /* its network namespace's inode, to pass other pods' entries unread */
};

/* Whether an entry was made at the socket's current request_seq (or response_seq). */
static __always_inline int same_seq(__u32 socket_seq, __u32 entry_seq)
{
	return !((socket_seq ^ entry_seq) & HOP_SEQ_MASK);
}

struct hop_fifo {
	struct hop_entry entries[HOP_QUEUE_LEN];
	__u32 head; /* next to pair */
	__u32 tail; /* next free */
	/* When a forward last took an entry (hop_pop): a tentative entry read before it was
	 * passed over by that forward or came before it, and is no part of the turn now
	 * forwarded (drop_passed, take_coalesced). */
	__u64 taken_ns;
};

/* When a proxy's write reached a socket on this node (of its own process or another's), that
 * socket's local and remote ports, and the sequence number past the bytes (at 0: none). */
struct delivery {
	__u64 at;
	__u16 local;
	__u16 remote;
	__u32 end_seq;
};

struct hop_queues {
	struct hop_fifo request;  /* downstream reads awaiting their upstream write */
	struct hop_fifo response; /* upstream reads awaiting their downstream write */
	__u64 last_read_sk;       /* the socket this thread read last */
	/* On-CPU time (charge_on_cpu): the hop this thread serves, its run time when last
	 * read, and the run time not yet added to the hop's on_cpu_ns. */
	struct tg_edge_key serving;
	__u64 serving_runtime_ns;
	__u64 serving_unflushed_ns;
	/* A hand-off the thread's write in progress made (note_handoff), for its forward. */
	__u64 handoff_sk;
	__u64 handoff_at;
	__u64 handoff_ep; /* the epoll of its reader, when that waited (note_woken) */
	/* Bytes of the thread's write in progress that reached their socket within the write
	 * (note_delivery), for the write's event to end its hop there. */
	struct delivery delivery;
	/* The last reader this thread's write woke (note_woken), [0] a server's (an app's,
	 * by a forward), [1] a client's (by a reply): its epoll, 0 once the thread has slept
	 * since (thread_pickup); the message's arrival there and its arrival at this proxy,
	 * from which carried messages are held (carry_bound). */
	__u64 woken_epoll[2];
	__u64 woken_delivered[2];
	__u64 woken_arrival[2];
	/* And of the reply that woke a client, when it would have come without this proxy
	 * (reply_spacing_time). */
	__u64 woken_reply_spaced;
	/* The upstreams carrying a multiplexed downstream's request this thread read a reply
	 * on last, newest at mux_upstream_next - 1: the replies its next write to that
	 * downstream may carry (mux_replies). */
	__u64 mux_upstreams[MUX_UPSTREAMS];
	__u32 mux_upstream_next;
	/* The multiplexed downstream this thread read last (mux_forward). */
	__u64 mux_down_sk;
};

/*
 * Keyed by thread id; LRU, as threads come and go without telling us. Only proxies'
 * threads have queues, 4,344 bytes each, locked whole (an LRU map is preallocated): 1,024
 * threads, against a node's sidecars at one or two workers each (a kubelet's default of
 * 110 pods gives 110-220), is room four times over; past it the longest idle thread's
 * queues go, and its pending pairings are counted unpaired.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
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

/* Older reads than this are requests the proxy never forwarded; older arrivals than this
 * at a read are not the read's (a stale stamp). */
const volatile __u64 hop_max_age_ns = 2000000000ULL;

/* Bumped by the runner after every change to `proxies` (mmapped .bss). At 0 the map is
 * empty, which is also what a fresh socket state's answer (0, at generation 0) says. */
volatile __u32 proxies_generation;

/*
 * Proxies' process ids by their low bits, as is_proxy has found them: a check for "this
 * is a proxy's context" that costs an arrival one load of memory no CPU writes often,
 * where the `proxies` lookup would cost a hash. A proxy whose slot another took is not
 * recognised there (its hand-offs are not noted); one no longer a proxy is cleared at its
 * sockets' next event.
 */
#define PROXY_SLOTS 1024
volatile __u32 proxy_slots[PROXY_SLOTS];

/* The arrival's role and the proxy's slot, after the answer is known or has changed.
 * Written only when they change: the arrival reads them from other CPUs. */
static __always_inline void settle_arrival_role(struct sock_state *st)
{
	__u32 slot = st->tgid & (PROXY_SLOTS - 1);
	__u8 role = 0;

	if (st->side == TG_SIDE_SERVER)
		role = ARRIVAL_SERVER_SIDE | (st->proxy ? ARRIVAL_READER_IDLE : 0);
	else if (st->proxy)
		role = ARRIVAL_READER_IDLE;

	if (st->arrival_role != role)
		st->arrival_role = role;
	if (st->proxy && proxy_slots[slot] != st->tgid)
		proxy_slots[slot] = st->tgid;
	else if (!st->proxy && st->tgid && proxy_slots[slot] == st->tgid)
		proxy_slots[slot] = 0;
}

/*
 * Whether the socket's process is a proxy, looked up in `proxies` once per change of the
 * map and kept in the socket's state: the hot path of every read and write would
 * otherwise pay a hash lookup for the answer "no".
 */
static __always_inline int is_proxy(struct sock_state *st)
{
	__u32 generation = proxies_generation;

	if (st->proxy_generation != generation) {
		st->proxy = bpf_map_lookup_elem(&proxies, &st->tgid) != NULL;
		st->proxy_generation = generation;
		settle_arrival_role(st);
	}
	return st->proxy;
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

static __always_inline void hop_push(struct hop_fifo *fifo, __u64 now, __u64 skaddr,
				     __u64 cookie, __u32 seq, __u32 netns)
{
	struct hop_entry *e;

	if (fifo->tail - fifo->head >= HOP_QUEUE_LEN) {
		fifo->head++; /* overwrite the oldest */
		LOST(hop_queue_full);
	}
	e = &fifo->entries[fifo->tail & (HOP_QUEUE_LEN - 1)];
	e->read_ns = now;
	e->skaddr = skaddr;
	e->cookie = cookie;
	e->seq = seq;
	e->netns = netns;
	fifo->tail++;
}

/* The state of an entry's socket while the entry's read is still pending, else NULL (the
 * socket gone, its read answered or superseded, the entry aged out). */
static __always_inline struct sock_state *pending_owner(const struct hop_entry *e, __u64 now,
							 int response)
{
	struct sock_state *owner;

	if (now - e->read_ns > hop_max_age_ns ||
	    !(owner = bpf_map_lookup_elem(&sockets, &e->skaddr)) || owner->cookie != e->cookie)
		return NULL;
	if (response ? owner->response_pending && same_seq(owner->response_seq, e->seq)
		     : owner->request_pending && same_seq(owner->request_seq, e->seq))
		return owner;
	return NULL;
}

/* One pass of hop_search: with `firm`, tentative entries are passed over (kept). */
static __always_inline int hop_search_pass(struct hop_fifo *fifo, __u64 now, __u32 netns,
					   int response, int firm)
{
	struct hop_entry *e;
	__u32 at;
	int i, ours;

	at = fifo->head;
	for (i = 0; i < HOP_QUEUE_LEN; i++, at++) {
		if (at == fifo->tail)
			return -1;
		e = &fifo->entries[at & (HOP_QUEUE_LEN - 1)];
		ours = netns == HOP_ANY_NETNS || e->netns == netns;
		if (!ours && at != fifo->head)
			continue;
		if (!pending_owner(e, now, response)) {
			if (at == fifo->head)
				fifo->head++;
		} else if (ours && !(firm && (e->seq & HOP_TENTATIVE))) {
			return at & (HOP_QUEUE_LEN - 1);
		}
	}
	return -1;
}

/*
 * A tentative entry read before the last forward took an entry: most often a read of an
 * earlier turn that the proxy forwarded nothing for (an idle connection's last control
 * frames), which a forward passes and drops (drop_passed, take_coalesced); a request that
 * came in one read with such frames is dropped too, and queued again by its next bytes
 * (rearm_request), if any come. One read since may be a request of the turn being
 * forwarded, and is kept.
 */
static __always_inline int passed_tentative(const struct hop_fifo *fifo,
					    const struct hop_entry *e)
{
	return (e->seq & HOP_TENTATIVE) && e->read_ns < fifo->taken_ns;
}

/*
 * After a pass found a firm entry at `slot`: the entries before it at the head that are
 * stale, or passed tentative ones in `netns` (passed_tentative), dropped. A tentative one
 * left there would keep the head from moving for a hop's age, 2 s, every stale entry behind
 * it searched again at each forward and the queue full past 32 entries a second (two a
 * request where each comes behind such a read; test/probes/unforwarded-reads). A dropped
 * one's socket still has its request pending: more bytes there queue it again
 * (rearm_request). Not for HOP_ANY_NETNS (a look at the head, inherit_pickup).
 */
static __always_inline void drop_passed(struct hop_fifo *fifo, __u64 now, __u32 netns,
					int response, int slot)
{
	struct hop_entry *e;
	int i;

	for (i = 0; i < HOP_QUEUE_LEN; i++) {
		if (fifo->head == fifo->tail || (fifo->head & (HOP_QUEUE_LEN - 1)) == slot)
			return;
		e = &fifo->entries[fifo->head & (HOP_QUEUE_LEN - 1)];
		if (pending_owner(e, now, response) &&
		    !(e->netns == netns && passed_tentative(fifo, e)))
			return;
		fifo->head++;
	}
}

/*
 * hop_head's search: the slot of the oldest entry whose read is still pending in
 * `netns` and is not tentative, else of the oldest tentative one, or -1; stale entries
 * at the head dropped on the way (and the tentative ones passed over: drop_passed). A
 * tentative entry is a read after a reply on a downstream whose peer has sent bytes
 * there that the proxy forwarded nothing for (rearm_request): most often another of
 * those, and the one this forward is for (a request read since, queued again behind it)
 * must not be passed over for it. Past the head another namespace's entries are passed
 * by the namespace they carry, without a look at their socket. A global function, which
 * the verifier checks once, on its own (a pointer argument is memory of its type's
 * size, here a map value's; kernels from 5.12): the programs loaded in 0.7-0.8 s, where
 * the same loop inlined in every caller took 1.2 s and the search of eight entries
 * before it 0.4 (0.9 s by 2026-12-07, and 0.5 since each program is followed down only
 * its own paths: pair_hops). bpf_loop would load in 0.33 s, but kernels before 5.17 lack it.
 * `which`: the namespace in its low 32 bits, `response` above them, in one argument, so
 * that the function keeps no more than 32 bytes on the stack: a send's program was at
 * the limit of 512 with it while new_state built a socket's state on the stack (384
 * since).
 */
__noinline int hop_search(struct hop_fifo *fifo, __u64 now, __u64 which)
{
	__u32 netns = (__u32)which;
	int response = which >> 32, slot;

	if (!fifo)
		return -1;
	/* Two passes, not one that keeps the first tentative slot: a value carried through the
	 * loop's iterations keeps the verifier from pruning them (tg_recv then passed its
	 * million instructions). */
	slot = hop_search_pass(fifo, now, netns, response, 1);
	if (slot < 0)
		return hop_search_pass(fifo, now, netns, response, 0);
	if (netns != HOP_ANY_NETNS)
		drop_passed(fifo, now, netns, response, slot);
	return slot;
}

/*
 * The oldest entry whose read is still pending in namespace `netns`; stale entries (socket
 * gone, read no longer pending, aged out) at the head are dropped. A proxy forwards within
 * one namespace (a sidecar's own; a node proxy's in each pod's, where it opens its
 * upstream connections), so another namespace's pending reads are passed over and kept
 * for their own forwards: one thread of a node proxy serving two pods' connections in turn
 * cannot pair one pod's forward with the other's request. The whole queue is searched:
 * while one pod's request waits (its upstream slow to take it), every request of another
 * pod forwarded meanwhile leaves its entry behind it, and a search that gave up after
 * eight entries left the next pod's requests unpaired until the waiting one went (59 of
 * 120 in test/probes/node-proxy-netns). The head is looked at first, here: most often it
 * is the one. Of the pending ones, the oldest firm entry, else the oldest tentative one
 * (hop_search). `response` selects which of the socket's flags the entry refers to.
 * HOP_ANY_NETNS takes the same in any namespace. Returns the state of the entry's socket
 * and the entry in *out, or NULL when none is pending there.
 */
static __always_inline struct sock_state *hop_head(struct hop_fifo *fifo, __u64 now, int response,
						   __u32 netns, struct hop_entry **out)
{
	struct sock_state *owner;
	struct hop_entry *e;
	int slot;

	if (fifo->head == fifo->tail)
		return NULL;
	/* Most often the head itself: a proxy forwards in the order it reads. */
	e = &fifo->entries[fifo->head & (HOP_QUEUE_LEN - 1)];
	if ((netns == HOP_ANY_NETNS || e->netns == netns) && !(e->seq & HOP_TENTATIVE) &&
	    (owner = pending_owner(e, now, response))) {
		*out = e;
		return owner;
	}
	slot = hop_search(fifo, now, netns | (__u64)!!response << 32);
	/* The compiler knows the range the function returns and drops the check of the upper
	 * bound, which the verifier, not looking into a global function's result, needs. */
	barrier_var(slot);
	if (slot < 0 || slot >= HOP_QUEUE_LEN)
		return NULL;
	e = &fifo->entries[slot];
	if (!(owner = pending_owner(e, now, response)))
		return NULL;
	*out = e;
	return owner;
}

/*
 * The entry hop_head finds in `netns`, taken: its pending flag cleared, which makes it
 * stale where it stays (behind another namespace's), to be dropped when it is at the head.
 */
static __always_inline struct sock_state *hop_pop(struct hop_fifo *fifo, __u64 now, int response,
						  __u32 netns, struct hop_entry *out)
{
	struct sock_state *owner;
	struct hop_entry *e;

	if (!(owner = hop_head(fifo, now, response, netns, &e)))
		return NULL;
	*out = *e;
	if (e == &fifo->entries[fifo->head & (HOP_QUEUE_LEN - 1)])
		fifo->head++;
	fifo->taken_ns = now;
	if (response)
		owner->response_pending = 0;
	else
		owner->request_pending = 0;
	return owner;
}

/* The upstream's last reply, if it arrived after `sent` (the request's arrival) and is fresh. */
static __always_inline __u64 fresh_reply(const struct sock_state *up, __u64 sent, __u64 now)
{
	__u64 arrived = up->response_arrival_ns;

	return arrived >= sent && arrived <= now && now - arrived <= hop_max_age_ns ? arrived : 0;
}

/*
 * When a downstream's linked upstream has read no reply since its forward, yet the proxy
 * writes one to it: a proxy that forwards the requests of several downstreams in another
 * order than it read them (one waiting for its upstream connection while the next has
 * one) had each forward take the oldest request read, so the links crossed, this
 * downstream's to the upstream of a later request. Its reply is then the one the thread
 * has just read, on an upstream of the same process (the write that forwards a reply
 * follows its read), if that reply arrived after this request did: paired with it, and
 * the crossed links swapped (the upstream's downstream takes this one's old upstream), so
 * that the other downstream's reply pairs by its link too. A proxy that answers a request
 * itself forwarded nothing for it (no `forwarded_ns`): not taken for one. Not inlined:
 * inlined, its locals took the send program's stack past the verifier's 512 bytes (with
 * hop_search's frame, while new_state built a socket's state on that stack); in a frame
 * of its own they count only on this call's path.
 */
static __noinline __u64 crossed_reply(struct hop_queues *q, struct sock_state *down, __u64 down_sk,
				      __u64 now, struct sock_state **upp)
{
	struct sock_state *up, *other, *old;
	__u64 arrived;

	/* Keys read where they lie (the queues', the states'), not copied to the stack. An
	 * upstream holding a multiplexed downstream's request (mux_forward) has its reply. */
	if (!q->last_read_sk || q->last_read_sk == down->peer_sk ||
	    !(up = bpf_map_lookup_elem(&sockets, &q->last_read_sk)) || up->side != TG_SIDE_CLIENT ||
	    up->tgid != down->tgid || up->forwarded_ns ||
	    !(arrived = fresh_reply(up, down->forwarded_ns, now)))
		return 0;
	if (up->peer_sk && up->peer_sk != down_sk &&
	    (other = bpf_map_lookup_elem(&sockets, &up->peer_sk)) &&
	    other->cookie == up->peer_cookie && other->peer_sk == q->last_read_sk) {
		if (down->peer_sk && (old = bpf_map_lookup_elem(&sockets, &down->peer_sk)) &&
		    old->cookie == down->peer_cookie) {
			old->peer_sk = up->peer_sk;
			old->peer_cookie = other->cookie;
		}
		other->peer_sk = down->peer_sk;
		other->peer_cookie = down->peer_cookie;
	}
	up->peer_sk = down_sk;
	up->peer_cookie = down->cookie;
	down->peer_sk = q->last_read_sk;
	down->peer_cookie = up->cookie;
	*upp = up;
	return arrived;
}

/*
 * The reply a downstream socket's write forwards: the last bytes read on the upstream its
 * request went out on, when they arrived after that request arrived (not after the
 * forward's write returned: on loopback the reply may come within that write). A reply
 * cannot arrive before its request, and the write that forwards it follows its last
 * bytes' read; so
 * this holds for an upstream of its own, a pooled one, a pipelined one and one that
 * multiplexes many downstreams' streams (HTTP/2), whatever order the replies are
 * forwarded in. One arrival may carry several replies, and then is the arrival of each.
 * Off only where the proxy reads the upstream again, for another reply, before it writes
 * this one: then the hop runs from the later bytes and is short by the gap between them.
 * Returns the reply's arrival, with its upstream's state in *upp, or 0 when the link says
 * nothing (no forward, or none read since) and crossed_reply finds none: then the FIFO of
 * replies from unlinked upstreams decides.
 */
static __always_inline __u64 linked_reply(struct hop_queues *q, struct sock_state *down,
					  __u64 down_sk, __u64 now, struct sock_state **upp)
{
	struct sock_state *up;
	__u64 arrived;

	/* `forwarded_ns` (the request's arrival) is cleared only at the end: crossed_reply reads
	 * it there too, as a call takes five arguments at most. */
	if (!down->forwarded_ns)
		return 0;
	if (down->peer_sk && (up = bpf_map_lookup_elem(&sockets, &down->peer_sk)) &&
	    up->cookie == down->peer_cookie && (arrived = fresh_reply(up, down->forwarded_ns, now)))
		*upp = up;
	else
		arrived = crossed_reply(q, down, down_sk, now, upp);
	down->forwarded_ns = 0;
	return arrived;
}

/* The hop aggregate of a proxy's listener in the current interval, created on demand. */
static __always_inline struct tg_hop_stats *hop_stats_of(const struct tg_edge_key *key)
{
	struct tg_hop_stats zero = {}, *stats;
	int full;

	stats = current_value(&hop_stats, key, &zero, &full);
	if (full)
		LOST(hop_map_full);
	return stats;
}

static __always_inline int same_hop(const struct tg_edge_key *a, const struct tg_edge_key *b)
{
	return a->tgid == b->tgid && a->family == b->family && a->service_port == b->service_port &&
	       a->netns_inode == b->netns_inode;
}

/* Run time added to a hop at least this often while its thread keeps serving it. */
#define ON_CPU_FLUSH_NS 1000000ULL

/*
 * A proxy thread's on-CPU time, charged to the hop (a listener, in a namespace) it
 * serves: the run time the scheduler accounted to the thread between one of its socket
 * events and the next goes to the hop of the earlier one. A node proxy's threads serve
 * many pods' sockets in turn, and this is how its CPU is split among them (on-cpu), which
 * bytes cannot do (a handshake costs more than its bytes, a large body less).
 *
 * Read from the thread's own sum_exec_runtime at the proxy's own socket events rather than
 * timed at sched_switch, whose program (neighbours.bpf.h) runs on every context switch
 * only while a proxy is listed and keeps no per-thread time. The scheduler brings the figure up to
 * date when the thread sleeps, at its ticks, and when it wakes a thread on its own CPU;
 * a wake-up on another CPU leaves it as it was, so a reading can lag by up to a tick
 * (4 ms at HZ=250), which then lands on the next hop: the split is exact over many turns,
 * not for each. Added to the hop when the thread turns to another,
 * or per millisecond of run time, so that a hop keeping its thread busy shows its time
 * in the interval it was spent. What a thread ran before its first socket event, and
 * after its last, is no hop's.
 */
static __always_inline void charge_on_cpu(struct hop_queues *q, const struct tg_edge_key *hop)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 runtime = task->se.sum_exec_runtime;
	struct tg_hop_stats *stats;

	/* Queues are keyed by thread id, which the kernel reuses: a thread of another process
	 * starts afresh rather than charge its run time to a gone thread's hop. */
	if (q->serving.tgid && q->serving.tgid != hop->tgid) {
		q->serving_runtime_ns = 0;
		q->serving_unflushed_ns = 0;
		q->serving.tgid = 0;
	}
	if (q->serving_runtime_ns && runtime > q->serving_runtime_ns)
		q->serving_unflushed_ns += runtime - q->serving_runtime_ns;
	q->serving_runtime_ns = runtime;
	if (same_hop(&q->serving, hop) && q->serving_unflushed_ns < ON_CPU_FLUSH_NS)
		return;
	if (q->serving_unflushed_ns && q->serving.tgid && (stats = hop_stats_of(&q->serving)))
		__sync_fetch_and_add(&stats->on_cpu_ns, q->serving_unflushed_ns);
	q->serving_unflushed_ns = 0;
	q->serving = *hop;
}

/* The stamp tcp_probe left on the socket, consumed; 0 when there is none, or a stale one. */
static __always_inline __u64 take_arrival(struct sock_state *st, __u64 now)
{
	__u64 at = st->arrival_ns;

	st->arrival_ns = 0;
	return at && at <= now && now - at <= hop_max_age_ns ? at : 0;
}

/*
 * When the bytes a proxy reads now arrived: the stamp tcp_probe left when they were
 * queued behind an empty receive queue, else (the hook missing, a socket adopted
 * mid-life, a stale stamp) the read itself, counted in `arrival_unknown` of `hop`. Its
 * aggregate is looked up only then: a lookup by a 48-byte key that most reads, whose
 * arrival is known, need not pay.
 */
static __always_inline __u64 arrival_of(struct sock_state *st, __u64 now, const struct tg_edge_key *hop)
{
	__u64 at = take_arrival(st, now);
	struct tg_hop_stats *stats;

	if (at)
		return at;
	if ((stats = hop_stats_of(hop)))
		__sync_fetch_and_add(&stats->arrival_unknown, 1);
	return now;
}

#endif /* TOLLGATE_HOP_PAIRING_BPF_H */
