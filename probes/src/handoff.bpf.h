/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The hand-off: a request hop that runs on to the next reader's wake-up, and a reply's hop
 * that runs on to the client's.
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
 *     next reader's wake-up - proxy's wake-up
 *
 * the hop less the proxy's idle pickup, with the next reader's wait after the hand-off (and
 * the rest of the proxy's write, which that wait overlaps, counted once). A wake-up is the
 * thread's switch-in (woke_at), not its read: what each process runs of its own between the
 * two (an event loop's return from epoll_wait, its callbacks) is the reader's with or
 * without the proxy, and the proxy's is its cost. Until 2026-12-07 the hop ran from read to
 * read, and took the reader's such work for the proxy's and left the proxy's out
 * (test/probes/wakeup-tail: two ends that each spin 1 ms between wake-up and read,
 * 2.10 ms reported against +0.32 by A/B). When the proxy was busy at the arrival, its wait in
 * the queue is its own cost and the hop stays as it is; when the next reader was busy, its
 * wait is queueing it would have had anyway, and the hop stays as it is too. Measured on
 * this kernel (docs/added-latency.md, "Where the rest of the truth goes"): with the load
 * generator free to run anywhere the app's wake-up after a hand-off is longer than the
 * proxy's by some 20 us on average (bpftrace's own cost in both); pinned apart from them,
 * shorter by some 90 us, as the proxy's hand-off to the app stays on one CPU while the
 * sender's packet crossed to it.
 *
 * The reply's side is the same the other way: without the proxy the client would have been
 * woken by the app's reply, with it the proxy is, and the proxy's wake-up by the reply
 * stands in for the client's. So a reply the proxy waited for, written to a client on its
 * node that waits for it, has its hop run from the proxy's wake-up to the client's
 * (link_reply_handoff; test/probes/reply-handoff holds it to both processes' clocks at
 * their reads, which the wake-ups precede by each one's own work). Not to a client that is
 * a proxy (the next sidecar on the path, a node proxy's own upstream): its pickup of the
 * reply is in its own hop. Tried while hops ended at the write's return, this moved
 * nothing, as the rest of the write overlapped the client's wake-up; since hops end where
 * the write delivers the bytes, the client's wake-up after the last sidecar's write was
 * outside every hop (18 us a request more than after the app's write without the mesh, in
 * bench accuracy's (e)), and this puts it in (docs/added-latency.md, "Where the rest of the
 * truth goes").
 *
 * A message to a reader that does not wait for it is queueing the reader would have had
 * anyway, but for one kind: a proxy that was busy (its CPU limit throttled it, or it had
 * other work) lets the messages that came meanwhile go in one burst, and a reader with one
 * event loop (a client taking replies, an app taking requests) takes them one by one, each
 * waiting while the ones before it are handled. Without the proxy they would have come as
 * they were written, spread out. So a message the proxy was busy for (its pickup 0),
 * written to a reader that is no proxy and is busy, whose epoll this thread's write woke
 * last and which the thread has not slept since (the reader has had no chance to go back
 * to its wait on the thread's account), is carried on to the reader's read: from its
 * arrival at the proxy (its queueing is the proxy's cost), by at most what the proxy took
 * out of the spacing between it and the message that woke the reader (carry_bound).
 * Without the proxy the reader would have waited for it only as long as the ones before it
 * kept it busy past its arrival; messages that came to the proxy together (a client's own
 * fan-out, an app's burst) would have queued at the reader anyway, and are held to about
 * nothing. A reader busy for reasons of its own meanwhile (its timers, other peers) is
 * counted too: the probes cannot tell the two apart. test/probes/burst-carry holds the
 * added latency to A/B truth with a busy proxy in three loads: a client's own fan-out,
 * replies and requests the proxy bunched.
 *
 * "Idle" is read from the socket's wait queue at tcp:tcp_probe, before the bytes are queued
 * and anyone is woken: a thread sleeping on the socket itself (a blocking read, poll), or
 * one sleeping in epoll_wait on the epoll instance that watches it (the first entry of the
 * socket's wait queue is that epoll's, ep_poll_callback, and that epoll's own wait queue
 * holds its sleeping waiters). A thread that is running, runnable but throttled, or busy
 * with another connection is not on either queue: busy. Not timed from socket events: a
 * proxy busy 4 ms with no socket event would pass for idle. A message in parts whose first
 * part found the thread waiting is one it waited for, though its later parts come while it
 * is awake and not yet at its read (handle_arrival): its hop starts at the last part, the
 * pickup is that part's wait, and it is handed off as a message of one part would be.
 *
 * Linking without a socket lookup (tracing programs have none): on loopback the next
 * reader's arrival runs in the proxy's thread, inside its forward's write. The arrival
 * recognises a proxy's context (the current process is a proxy: proxy_slots), notes the
 * hand-off under the next reader's socket and tells the proxy's thread (its queues); the
 * forward, which runs after the write, links the note to its request's downstream socket
 * when the note's bytes came by the forward's connection (ports). The next reader's read
 * and that forward can come in either order: whichever is second settles the request
 * hop. Until then the hop is deferred, and a downstream whose request hop was deferred and
 * never settled (the reader never read, or the two missed each other) has it recorded as
 * it was at its reply, its next request or its close.
 */
#ifndef TOLLGATE_HANDOFF_BPF_H
#define TOLLGATE_HANDOFF_BPF_H

/* The function epoll hangs on the wait queue of each file it watches. */
extern const void ep_poll_callback __ksym __weak;

struct handoff {
	__u64 at;          /* the proxy's bytes queued on this (the next reader's) socket */
	__u64 cookie;      /* this socket's, as its address may be a later socket's */
	/* Where the hop ends, at this socket's first read after `at`: the reader's switch-in
	 * before it (woke_at), or for a carried message that read itself; 0: not read yet. */
	__u64 end_ns;
	__u64 from_ns;     /* the proxy's wake-up for the message (its arrival + idle_pickup) */
	__u64 down_cookie;
	/* The downstream socket of the request the bytes were, 0: not linked. Written last
	 * and read first: stores are not reordered with stores, nor loads with loads, on
	 * x86, so a reader that sees it sees the rest (a weaker machine would need barriers). */
	__u64 down;
	__u32 down_seq;    /* that downstream's request_seq */
	/* The connection's client port (this socket's peer's on a server's end, its own on a
	 * client's): the one both ends agree on where a REDIRECT rewrote the destination. */
	__u16 client_port;
	__u8 reply;        /* a client's end: for a reply's write, not a request's forward */
	/* To a reader busy with the thread's earlier messages (note_handoff): its hop runs to
	 * the reader's read though the proxy was busy when the message came, by at most
	 * carry_max_ns past `at` (carry_bound). */
	__u8 carried;
	__u32 carry_max_ns;
	/* A multiplexed downstream's request (link_mux_handoff): `down` and `down_cookie` are
	 * the upstream that carries it, `down_seq` the low half of its forwarded_ns. */
	__u8 mux;
};

/* Keeps the compiler from moving memory accesses across it. */
#define handoff_barrier() asm volatile("" ::: "memory")

/*
 * Hand-offs to idle readers, and messages carried to busy ones, by the reader's socket
 * address, from the arrival to the read and the forward (or the reply's write) that settle
 * them. Short-lived: made at the
 * arrival, freed when settled, at the proxy's event when not linked, at the reader's
 * second read or its close; a full map means no hand-off for that request or reply (its
 * hop stays to the write), counted (lost.handoff_map_full). Preallocated (4096 entries of
 * 64 bytes by default, the runner's --handoffs), unlike the maps that grow with use: an
 * entry is made and freed for every request or reply handed off, and allocating it each time cost more. A freed
 * entry can be another socket's at once: each side checks the socket's cookie and the
 * arrival's time before it trusts one.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct handoff);
} handoffs SEC(".maps");

/*
 * When the thread running on this CPU was last switched in, in bpf_ktime_get_ns's clock:
 * where a hand-off's hop begins and ends (the proxy's wake-up and the reader's, not their
 * reads). Each process runs some of its own code between its switch-in and its read (an
 * event loop returning from epoll_wait, its callbacks); a hop from read to read would
 * take the reader's such tail for the proxy's cost and leave the proxy's out, where
 * without the proxy the reader would have run the same tail before the same read. Written
 * at every switch of a user thread (sched_switch, attached while a proxy is listed); the
 * CPU's last switch-in is the running thread's own, as a thread switched out and in again
 * is written again. Per CPU: written and read only on its own CPU.
 */
struct switch_in {
	__u64 at;
	__u32 tid;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct switch_in);
} switch_ins SEC(".maps");

/* At sched_switch: `next` runs on this CPU from now. Not for kernel threads, whose reads
 * are never a hand-off's: a clock read saved on their many switches. */
static __always_inline void note_switch_in(const struct task_struct *next)
{
	__u32 zero = 0, tid = next->pid;
	struct switch_in *s;

	if (!tid || (next->flags & TG_PF_KTHREAD))
		return;
	s = bpf_map_lookup_elem(&switch_ins, &zero);
	if (!s)
		return;
	s->at = bpf_ktime_get_ns();
	s->tid = tid;
}

/*
 * When the current thread last came onto this CPU, but no earlier than `after` (the bytes'
 * arrival or delivery): a thread running already when they came had no wake-up of its own
 * for them (another thread of its process was the one waiting, or it woke for an earlier
 * part of the message), and its time from then on is its own work. `now` where no
 * switch-in of its is seen (the hook not attached, as on a kernel without it, or no proxy
 * listed yet): the read, as before the hook was used. The last switch-in, not the wake-up:
 * a thread preempted or put to sleep between its wake-up and its read has the later one.
 */
static __always_inline __u64 woke_at(__u64 after, __u64 now)
{
	__u32 zero = 0;
	struct switch_in *s = bpf_map_lookup_elem(&switch_ins, &zero);

	if (!s || s->tid != (__u32)bpf_get_current_pid_tgid() || s->at > now)
		return now;
	return s->at > after ? s->at : after;
}

/*
 * Whether a thread sleeps waiting for this socket's bytes: on the socket itself, or in
 * epoll_wait on the epoll that watches it. Read before the bytes are queued (tcp_probe).
 * `epp` (when given) gets that epoll, waited on or not, NULL when none watches the socket.
 */
static __always_inline int reader_waiting(const struct sock *sk, __u64 *epp)
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
	if (epp)
		*epp = (__u64)ep;
	first = BPF_CORE_READ(ep, wq.head.next);
	return first && first != (void *)&ep->wq.head;
}

/*
 * At an arrival in a proxy's thread: most likely the bytes of its write in progress, which
 * reached their socket within the write, as a write does on loopback or a veth: a node
 * proxy's tunnel between two pods of its node, a sidecar's forward to its app or its reply
 * to a client, a forward to the next sidecar on the node. The write's hop ends here, not
 * when the write returns: the rest of the write (the receiver's wake-up, the return up the
 * stack) is no delay to the bytes, and where the next hop starts at this arrival (another
 * proxy's socket, or the proxy's own) it would be counted in both (8 us a crossing each
 * way in bench accuracy's ambient condition as bpftrace timed it, its own cost included;
 * test/probes/tunnel-delivery). The write's event checks the ports (delivery_end), as
 * softirq work run in the thread can deliver another connection's bytes.
 */
static __always_inline void note_delivery(struct hop_queues *q, const struct sock *sk,
					  __u32 end_seq, __u64 now)
{
	q->delivery.at = now;
	q->delivery.local = sk->__sk_common.skc_num;
	q->delivery.remote = bpf_ntohs(sk->__sk_common.skc_dport);
	q->delivery.end_seq = end_seq;
}

/*
 * Where the hop from `from` that a write on `sk` ends: at its bytes' arrival at their socket
 * (the note taken from the queues at this event), else now. A note from before the hop
 * began is not this write's. The connection's client port identifies it: the one port
 * both ends agree on where the connection's destination was rewritten (an iptables
 * REDIRECT to a sidecar's port; the other end sees the port it asked for). Only the
 * arrival of the last byte written counts: a write larger than the peer's window leaves
 * the rest to go out later, at the peer's ACK, in another thread, and the message is
 * complete only then (the write's return is the end kept there, as before).
 */
static __always_inline __u64 delivery_end(const struct sock *sk, __u8 side, __u64 from,
					  const struct delivery *d, __u64 now)
{
	__u16 client_port = side == TG_SIDE_CLIENT ? sk->__sk_common.skc_num
						   : bpf_ntohs(sk->__sk_common.skc_dport);
	const struct tcp_sock *tp;

	if (d->at && d->at >= from && d->at <= now &&
	    client_port == (side == TG_SIDE_CLIENT ? d->remote : d->local) && (tp = tcp_of(sk)) &&
	    tp->write_seq == d->end_seq)
		return d->at;
	return now;
}

/*
 * At an arrival on a proxy's own server socket in its own thread's context: most likely
 * its own write (a node proxy serving both pods of a tunnel on its node: its outbound side
 * writes into the tunnel, its inbound side reads it), whose request is the one the
 * writing thread's queue pairs next (hop_head); its idle pickup at the outbound side stands for
 * this socket's. So the inbound side's forward hands the request off to its app as a
 * second proxy's would have: the request's path through the proxy, less the proxy's
 * wake-up by the client (which the app's own wake-up would have been without it), plus
 * the app's wake-up after the forward. This socket's own reader, the proxy itself, woken
 * or not by its own write, stands for nothing: its wake-up is the proxy's cost. A pickup
 * of 0 (the proxy was busy at the outbound side) keeps the hop as it is. The bytes must
 * have come by the upstream that request's downstream last forwarded on (this socket's
 * peer's port is that upstream's own), which the network's segments that softirq work
 * delivers in the proxy's thread (at an interrupt's exit) do not: those, and a
 * downstream's first request, before it has forwarded anything, keep the hop as it is too.
 */
static __always_inline void inherit_pickup(const struct sock *sk, struct sock_state *st,
					   struct hop_queues *q, __u64 now)
{
	const struct sock *up;
	struct sock_state *down;
	struct hop_entry *e;

	st->self_delivered = 1;
	st->inherited_pickup_ns = 0;
	/* Any namespace: the tunnel carries the request from the writer's pod's namespace into
	 * this socket's; the port check below says whether the head is the request written. */
	if (!q || !(down = hop_head(&q->request, now, 0, HOP_ANY_NETNS, &e)) || !down->peer_sk)
		return;
	up = (const struct sock *)down->peer_sk;
	if (BPF_CORE_READ(up, __sk_common.skc_num) == bpf_ntohs(sk->__sk_common.skc_dport))
		st->inherited_pickup_ns = down->request_pickup_ns;
}

/*
 * At an arrival on a server's socket, or a client's that is no proxy, in the context of a
 * proxy's thread q (not the socket's owner): when this socket's reader waits, or is no
 * proxy and is busy with the thread's burst (woken_epoll: carried), note it for the
 * proxy's next event, which links it when it is the forward of a request on the
 * connection these bytes came by (its local port is this socket's peer's) or the write of
 * the reply, and for this socket's read. Softirq work that a proxy's thread happens to run
 * (another socket's segments, at an interrupt's exit) is noted too, and left unlinked.
 */
static __always_inline void note_handoff(const struct sock *sk, struct sock_state *st, __u8 role,
					 struct hop_queues *q, __u64 now, int waiting, __u64 ep)
{
	__u64 skaddr = (__u64)sk;
	struct handoff h = { .at = now, .reply = !(role & ARRIVAL_SERVER_SIDE) };
	int err;

	if (waiting < 0)
		waiting = reader_waiting(sk, &ep);
	if (waiting) {
		/* This write wakes the reader: its event, once it finds the note its own
		 * message's, takes the reader's epoll as busy on the thread's account
		 * (note_woken). Not here: the thread may be running softirq work for another
		 * writer's segments. */
	} else if (ep && ep == q->woken_epoll[h.reply & 1] && !(role & ARRIVAL_READER_IDLE)) {
		/* Not to a proxy (the next sidecar): its wait from the arrival is in its own hop. */
		h.carried = 1;
	} else {
		return;
	}
	h.cookie = st->cookie;
	h.client_port = h.reply ? sk->__sk_common.skc_num : bpf_ntohs(sk->__sk_common.skc_dport);
	/* A carried note never replaces one pending on the socket (this write's earlier
	 * segment, an earlier write's of the same message): that one is the message's. */
	err = bpf_map_update_elem(&handoffs, &skaddr, &h, h.carried ? BPF_NOEXIST : BPF_ANY);
	if (err) {
		if (err != -17 /* EEXIST */)
			LOST(handoff_map_full);
		return;
	}
	st->handoff_pending = 1;
	q->handoff_sk = skaddr;
	q->handoff_at = now;
	q->handoff_ep = h.carried ? 0 : ep;
}

/*
 * What an arrival does in the context of a proxy's thread (any socket: see note_delivery):
 * notes the delivery for the write's hop, and on a server's end, the pickup its own write
 * carries (owner: the socket's process, that proxy) or the hand-off to another's reader.
 * Elsewhere (the sender no proxy, softirq in another task) nothing beyond the stamp.
 * `waiting` and `ep`: reader_waiting's answer and epoll when the arrival has read them
 * already (a proxy's socket), `waiting` -1 when it has not.
 */
static __always_inline void note_arrival_by_proxy(const struct sock *sk, struct sock_state *st,
						  __u8 role, __u32 owner, __u32 end_seq, __u64 now,
						  int waiting, __u64 ep)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct hop_queues *q;

	if ((role & ARRIVAL_SERVER_SIDE) && st->self_delivered)
		st->self_delivered = 0;
	if (!tgid || proxy_slots[tgid & (PROXY_SLOTS - 1)] != tgid)
		return;
	q = bpf_map_lookup_elem(&hop_queues, &tid);
	if (q)
		note_delivery(q, sk, end_seq, now);
	if (tgid == owner) {
		if (role & ARRIVAL_SERVER_SIDE)
			inherit_pickup(sk, st, q, now);
	} else if (q && (role & (ARRIVAL_SERVER_SIDE | ARRIVAL_READER_IDLE)) != ARRIVAL_READER_IDLE) {
		/* A server's end, or the end of a client that is no proxy (another proxy's
		 * upstream picks up the reply itself, in its own hop). */
		note_handoff(sk, st, role, q, now, waiting, ep);
	}
}

/* A proxy's wait from an arrival to its wake-up before the read that took it (woke_at; the
 * read itself where no switch-in is seen), when it was idle at the arrival; for bytes of
 * its own write, the pickup they carry (inherit_pickup). */
static __always_inline __u32 idle_pickup(const struct sock_state *st, __u64 arrived, __u64 now)
{
	__u64 wait;

	if (st->self_delivered)
		return st->inherited_pickup_ns;
	if (!st->arrival_idle || arrived >= now)
		return 0;
	/* To its wake-up (woke_at): what it ran of its own before the read is its cost. At
	 * least 1 ns, as it waited: a thread awake before the last part of a message came
	 * (woken by its first) has its hop from that part's arrival. */
	wait = woke_at(arrived, now) - arrived;
	return !wait ? 1 : wait < 0xffffffffULL ? (__u32)wait : 0;
}

/*
 * idle_pickup, at a read of the proxy's thread q. A wait there means the thread slept, and a
 * reader its write woke before has since had time to go back to sleep: it is no longer
 * busy on the thread's account (woken_epoll).
 */
static __always_inline __u32 thread_pickup(struct hop_queues *q, const struct sock_state *st,
					   __u64 arrived, __u64 now)
{
	__u32 pickup = idle_pickup(st, arrived, now);

	if (pickup && !st->self_delivered) {
		q->woken_epoll[0] = 0;
		q->woken_epoll[1] = 0;
	}
	return pickup;
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

/* A request hop's histogram and exact sum, on its listener's aggregate `hop`. */
static __always_inline void count_request_hop(const struct tg_edge_key *hop, __u64 delay,
					      int handed_off)
{
	struct tg_hop_stats *stats;

	/* No buckets without counts (the map full, counted): the agent takes a listener's
	 * buckets without counts for a hop the runner's swaps split. */
	if (!(stats = hop_stats_of(hop)))
		return;
	record_latency(hop, TG_METRIC_HOP_REQUEST, delay);
	__sync_fetch_and_add(&stats->request_ns_sum, delay);
	if (handed_off)
		__sync_fetch_and_add(&stats->handoffs, 1);
}

/* A request hop is recorded on its downstream, and counted. */
static __always_inline void record_request_hop(struct sock_state *down, __u64 delay, int handed_off)
{
	struct tg_edge_key hop = hop_key_of(down);

	/* 0 means "none" on the downstream socket: a zero delay is stored as 1 ns. */
	down->request_hop_ns = delay ? delay : 1;
	count_request_hop(&hop, delay, handed_off);
}

/*
 * A multiplexed downstream's request hop, held on the upstream `up` that carries it
 * (mux_forward) until its reply pairs with it, and counted on the downstream's listener,
 * the upstream's hop_port. Inlined: as a subprogram its frame (160 bytes) would not fit
 * beside the send program's (384 of 512).
 */
static __always_inline void record_mux_request_hop(struct sock_state *up, __u64 delay, int handed_off)
{
	struct tg_edge_key hop = { .tgid = up->tgid,
				   .family = up->key.family,
				   .side = TG_SIDE_SERVER,
				   .netns_inode = up->key.netns_inode,
				   .service_port = up->hop_port };

	up->request_deferred = 0;
	up->mux_request_hop_ns = delay ? delay : 1;
	count_request_hop(&hop, delay, handed_off);
}

/* A multiplexed downstream's request hop still waiting for its reader's read (the upstream's
 * request_deferred), counted as it is: its reply came first, or the upstream moved on. */
static __always_inline void settle_mux_request(struct sock_state *up)
{
	if (up->request_deferred)
		record_mux_request_hop(up, up->mux_request_hop_ns, 0);
}

/* A linked hand-off's hop: from from_ns to end_ns, a carried one's held to carry_max_ns
 * past the delivery. */
static __always_inline __u64 handoff_hop(const struct handoff *h)
{
	__u64 end = h->end_ns;

	if (h->carried && end > h->at + h->carry_max_ns)
		end = h->at + h->carry_max_ns;
	return end > h->from_ns ? end - h->from_ns : 0;
}

/*
 * At the event of the write that made hand-off h, found to be the message's own (its
 * connection's, its sequence's), the message having reached the proxy at `arrival` (a
 * reply: and come without it at `spaced`, reply_spacing_time; a request passes 0): a
 * reader the write woke is busy on this thread's account until the thread sleeps
 * (thread_pickup), and bounds what later messages of the burst carry (carry_bound). Only
 * here: a note made in the thread's context may be softirq work for another writer's
 * segments, whose reader this thread did not wake.
 */
static __always_inline void note_woken(struct hop_queues *q, const struct handoff *h, __u64 arrival,
				       __u64 spaced)
{
	__u32 dir = h->reply & 1; /* an index the verifier can bound */

	if (h->carried)
		return;
	q->woken_epoll[dir] = q->handoff_ep;
	q->woken_delivered[dir] = h->at;
	q->woken_arrival[dir] = arrival;
	if (dir)
		q->woken_reply_spaced = spaced;
}

/*
 * Whether a hand-off at the write of a message that reached the proxy at `arrival`, after a
 * pickup `pickup` (0: the proxy was busy), runs on to the reader: to a waiting reader's
 * wake-up when the proxy waited too; to a busy one's read (carried) when the proxy did not,
 * by at most what the proxy took out of the spacing between this message and the one that
 * woke the reader: their arrivals' gap at the proxy less their deliveries' gap. Without the
 * proxy the reader would have waited for this message only as long as the ones before it
 * kept it busy past its arrival; messages that came to the proxy together (a client's own
 * fan-out, an app's burst of replies) would have queued at the reader anyway, and are not
 * carried. A reply's gap is taken from when it and the first would have come without the
 * proxy (`spaced`, reply_spacing_time) when they would have come in this order; when this
 * one would have come first it would not have waited for the other at all, and the gap of
 * their arrivals here bounds it, as for a request.
 */
static __always_inline int carry_bound(struct handoff *h, const struct hop_queues *q,
				       __u64 arrival, __u64 spaced, __u32 pickup)
{
	__u32 dir = h->reply & 1; /* an index the verifier can bound */
	__u64 first_arrival = q->woken_arrival[dir], first_delivered = q->woken_delivered[dir];
	__s64 bound;

	if (!h->carried)
		return pickup != 0;
	if (dir && spaced && q->woken_reply_spaced && spaced >= q->woken_reply_spaced) {
		arrival = spaced;
		first_arrival = q->woken_reply_spaced;
	}
	if (pickup || arrival < first_arrival || h->at < first_delivered)
		return 0;
	bound = (__s64)(arrival - first_arrival) - (__s64)(h->at - first_delivered);
	if (bound <= 0)
		return 0;
	h->carry_max_ns = bound < 0xffffffffLL ? (__u32)bound : 0xffffffffU;
	return 1;
}

/*
 * The time by which a reply's spacing from the burst's first is judged (carry_bound): its
 * arrival less its request's hop through the proxy as recorded (a handed-off request's from
 * the proxy's pickup), where that is known. A proxy that held
 * requests and lets them go together (a throttled sidecar, once its quota is back) gets
 * their replies back from the app as close together as the app answers them, and forwards
 * them as they come: by the replies' own arrivals it took nothing out of their spacing,
 * though it took it out at their requests. Counted from here, what it took out is the
 * first exchange's two hops less this one's; an app's own burst of replies to requests the
 * proxy passed on as they came is still not carried (their request hops are no shorter
 * than the first's), and a client's fan-out gains nothing by it: its requests came
 * together, so its replies would have too.
 */
static __always_inline __u64 reply_spacing_time(const struct sock_state *down, __u64 arrived)
{
	__u64 request_hop = down->request_hop_ns;

	return request_hop < arrived ? arrived - request_hop : arrived;
}

/* A deferred request hop, settled: to the next reader (h's end_ns), or (h NULL) as it was. */
static __always_inline void settle_request_hop(struct sock_state *down, const struct handoff *h)
{
	down->request_deferred = 0;
	if (h)
		record_request_hop(down, handoff_hop(h), 1);
	else
		record_request_hop(down, down->request_hop_ns, 0);
}

/* A note the proxy's event does not link, freed unless it is already another's. */
static __always_inline void drop_handoff(__u64 skaddr, __u64 at)
{
	struct handoff *h;

	if (skaddr && (h = bpf_map_lookup_elem(&handoffs, &skaddr)) && h->at == at && !h->down)
		bpf_map_delete_elem(&handoffs, &skaddr);
}

/*
 * At a proxy's forward of a request from `down` (its entry e, already popped) on upstream
 * socket `up`: the hand-off its write made (skaddr, at: noted during it), if it came by
 * this connection and both ends were idle, or the request is carried to a busy reader
 * (carry_bound, with the thread's queues q). Returns 1 when the request hop is deferred or
 * settled here, 0 when the caller records it as it is.
 */
static __always_inline int link_handoff(__u64 skaddr, __u64 at, const struct sock *up,
					struct sock_state *down, const struct hop_entry *e,
					struct hop_queues *q, __u64 now)
{
	struct handoff *h;

	if (!skaddr)
		return 0;
	if (at < e->read_ns || at > now || !same_seq(down->request_seq, e->seq) ||
	    !(h = bpf_map_lookup_elem(&handoffs, &skaddr)) || h->at != at || h->down ||
	    h->reply || h->client_port != up->__sk_common.skc_num) {
		drop_handoff(skaddr, at);
		return 0;
	}
	note_woken(q, h, e->read_ns, 0);
	if (!carry_bound(h, q, e->read_ns, 0, down->request_pickup_ns)) {
		drop_handoff(skaddr, at);
		return 0;
	}
	h->from_ns = e->read_ns + down->request_pickup_ns;
	h->down_cookie = e->cookie;
	h->down_seq = down->request_seq;
	handoff_barrier();
	h->down = e->skaddr;
	handoff_barrier();
	if (h->end_ns && h->at == at) {
		/* The reader was quicker than this write's return. */
		settle_request_hop(down, h);
		bpf_map_delete_elem(&handoffs, &skaddr);
		return 1;
	}
	/* Settled at the reader's read; if that read and this forward each missed the other's
	 * mark (each writes, then reads the other's), at the reply, as it is. */
	down->request_deferred = 1;
	return 1;
}

/*
 * link_handoff for a request of a multiplexed downstream (mux_forward), which the upstream
 * `up` (at up_sk, socket sk) carries from `from`, the arrival of the downstream's bytes the
 * thread read last, after the thread's pickup of them `pickup` (0: it was busy). The hop,
 * as it is in up->mux_request_hop_ns, runs on to the app's wake-up as a request/response
 * downstream's does: settled on the upstream while it still carries this request (its
 * forwarded_ns), and kept as it is if its reply comes first. Returns 1 when the hop is
 * deferred or settled here, 0 when the caller records it as it is.
 */
static __always_inline int link_mux_handoff(__u64 skaddr, __u64 at, const struct sock *sk,
					    struct sock_state *up, __u64 up_sk, __u64 from,
					    __u32 pickup, struct hop_queues *q, __u64 now)
{
	struct handoff *h;

	if (!skaddr)
		return 0;
	if (at < from || at > now || !(h = bpf_map_lookup_elem(&handoffs, &skaddr)) ||
	    h->at != at || h->down || h->reply || h->client_port != sk->__sk_common.skc_num) {
		drop_handoff(skaddr, at);
		return 0;
	}
	note_woken(q, h, from, 0);
	if (!carry_bound(h, q, from, 0, pickup)) {
		drop_handoff(skaddr, at);
		return 0;
	}
	h->from_ns = from + pickup;
	h->down_cookie = up->cookie;
	h->down_seq = (__u32)from;
	h->mux = 1;
	handoff_barrier();
	h->down = up_sk;
	handoff_barrier();
	if (h->end_ns && h->at == at) {
		/* The app was quicker than this write's return. */
		record_mux_request_hop(up, handoff_hop(h), 1);
		bpf_map_delete_elem(&handoffs, &skaddr);
		return 1;
	}
	up->request_deferred = 1;
	return 1;
}

/*
 * A reply's hop, recorded on its downstream's listener (`hop`, its aggregate `stats`), and
 * with the request's hop (`total`, 0: none paired) the exchange's added latency; `handed`:
 * it ran on to the client (handoff_hop). No buckets without counts, as in
 * record_request_hop.
 */
static __always_inline void record_response_hop(const struct tg_edge_key *hop,
						struct tg_hop_stats *stats, __u64 total, __u64 delay,
						int handed)
{
	if (!stats)
		return;
	record_latency(hop, TG_METRIC_HOP_RESPONSE, delay);
	__sync_fetch_and_add(&stats->response_ns_sum, delay);
	if (handed)
		__sync_fetch_and_add(&stats->reply_handoffs, 1);
	if (!total) {
		__sync_fetch_and_add(&stats->unpaired, 1);
		return;
	}
	total += delay;
	record_latency(hop, TG_METRIC_HOP_ADDED, total);
	__sync_fetch_and_add(&stats->exchanges, 1);
	__sync_fetch_and_add(&stats->added_ns_sum, total);
}

/*
 * A reply's hop, settled: to the client by the hand-off h (its end_ns), or (h NULL) as
 * response_hop_ns holds it, which `handed` says runs to the client already
 * (link_reply_handoff). `hop` and `stats`: the downstream's listener and its aggregate, as
 * for record_response_hop.
 */
static __always_inline void settle_response_hop(struct sock_state *down, const struct handoff *h,
						int handed, const struct tg_edge_key *hop,
						struct tg_hop_stats *stats)
{
	__u64 total = down->request_hop_ns;

	down->response_deferred = 0;
	down->request_hop_ns = 0;
	record_response_hop(hop, stats, total,
			    !h ? down->response_hop_ns
			       : handoff_hop(h),
			    h || handed);
}

/*
 * At a proxy's write of a reply on its downstream `down` (socket sk at skaddr; its linked
 * upstream's state `up`, when linked_reply found it), whose
 * request's hop and reply's hop as it is (to the write's delivery) are in request_hop_ns
 * and response_hop_ns: the hand-off its write made (noted during it), if it came by this
 * connection, the reply is the one its linked upstream read (linked_reply) and the proxy
 * was idle when it arrived there (response_pickup_ns, its wait then), and the client
 * waits for it. Then the reply's hop runs from the proxy's wake-up by it to the client's
 * wake-up: the proxy's wake-up by the reply stands for the client's without it, as on the
 * request's side. A carried reply (the client busy with this thread's earlier replies:
 * carry_bound) is one the proxy was busy for, and runs from its arrival (a pickup of 0).
 * Returns 1 when the hop is deferred to the client's read; otherwise the
 * caller settles it now with response_hop_ns: 2 when that runs to the client already
 * (its read came before this write's return), 0 when there was no hand-off.
 */
static __always_inline int link_reply_handoff(__u64 handoff_sk, __u64 at, const struct sock *sk,
					      __u64 skaddr, struct sock_state *down, __u64 arrived,
					      struct sock_state *up, struct hop_queues *q, __u64 now)
{
	struct handoff *h;
	__u64 from, spaced;

	if (!handoff_sk)
		return 0;
	/* `up`: the upstream linked_reply found the reply on, or NULL when the reply came by
	 * the FIFO; then looked up here, only when there is a hand-off to link. */
	if (!up)
		up = bpf_map_lookup_elem(&sockets, &down->peer_sk);
	if (!up || up->cookie != down->peer_cookie ||
	    up->response_arrival_ns != arrived || at < arrived || at > now ||
	    !(h = bpf_map_lookup_elem(&handoffs, &handoff_sk)) || h->at != at || h->down ||
	    !h->reply || h->client_port != bpf_ntohs(sk->__sk_common.skc_dport)) {
		drop_handoff(handoff_sk, at);
		return 0;
	}
	spaced = reply_spacing_time(down, arrived);
	note_woken(q, h, arrived, spaced);
	if (!carry_bound(h, q, arrived, spaced, up->response_pickup_ns)) {
		drop_handoff(handoff_sk, at);
		return 0;
	}
	from = arrived + up->response_pickup_ns;
	h->from_ns = from;
	h->down_cookie = down->cookie;
	h->down_seq = down->request_seq;
	handoff_barrier();
	h->down = skaddr;
	handoff_barrier();
	if (h->end_ns && h->at == at) {
		/* The client was quicker than this write's return. */
		down->response_hop_ns = handoff_hop(h);
		bpf_map_delete_elem(&handoffs, &handoff_sk);
		return 2;
	}
	down->response_deferred = 1;
	return 1;
}

/*
 * A proxy's write that is no part of an exchange (HTTP/2 control frames alone, handle_io):
 * the hand-off and the delivery its bytes noted in the thread's queues are no message's,
 * and must not pass for those of the thread's next event, the write pair_hops ends.
 */
static __always_inline void forget_write(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct hop_queues *q = bpf_map_lookup_elem(&hop_queues, &tid);

	if (!q)
		return;
	drop_handoff(q->handoff_sk, q->handoff_at);
	q->handoff_sk = 0;
	q->delivery.at = 0;
}

/* A read of a socket with a hand-off pending: its time, and the request's or the reply's hop
 * settled. */
static __always_inline void read_after_handoff(__u64 skaddr, struct sock_state *st, __u64 now)
{
	struct handoff *h = bpf_map_lookup_elem(&handoffs, &skaddr);
	struct sock_state *down;

	if (!h || h->cookie != st->cookie) {
		st->handoff_pending = 0; /* gone, or another socket's */
		return;
	}
	if (now >= h->at && !h->end_ns) {
		/* A waiting reader's to its wake-up (woke_at); a carried message's to the read
		 * itself, as the reader is busy with the burst's earlier ones before it. */
		h->end_ns = h->carried ? now : woke_at(h->at, now);
		handoff_barrier();
		if (!h->down)
			return; /* the forward settles it */
	}
	/* Settled once: the deferred flag is cleared by whichever of this read and the
	 * downstream's next event (the upstream's, for a multiplexed downstream's request)
	 * comes first (on an HTTP/2 downstream another stream's reply can race this read, and
	 * then both may record it, a window of a few instructions). */
	if (!h->down || !h->end_ns || !(down = bpf_map_lookup_elem(&sockets, &h->down)) ||
	    down->cookie != h->down_cookie) {
		/* nothing to settle: not linked, or that socket is gone */
	} else if (h->mux) {
		/* `down` is the upstream carrying a multiplexed downstream's request. */
		if (down->request_deferred && (__u32)down->forwarded_ns == h->down_seq)
			record_mux_request_hop(down, handoff_hop(h), 1);
	} else if (down->request_seq == h->down_seq) {
		if (h->reply && down->response_deferred) {
			struct tg_edge_key hop = hop_key_of(down);

			settle_response_hop(down, h, 1, &hop, hop_stats_of(&hop));
		} else if (!h->reply && down->request_deferred)
			settle_request_hop(down, h);
	}
	st->handoff_pending = 0;
	bpf_map_delete_elem(&handoffs, &skaddr);
}

#endif /* TOLLGATE_HANDOFF_BPF_H */
