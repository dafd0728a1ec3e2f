// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-process TCP metrics, aggregated in the kernel by (process, side, peer service
 * endpoint), and proxy hop delays. Tracepoints (tp_btf) are the complete path: the
 * machines this must run on may have neither kprobes nor fentry. fentry/fexit variants
 * stand in where a kernel lacks a tracepoint; the runner chooses per program at start
 * (bpf_program__set_autoload), so only one variant of each hook is ever loaded.
 *
 * Hooks, and why each:
 *  - sock:inet_sock_set_state: every TCP state change, with the socket; gives active
 *    opens (SYN_SENT -> ESTABLISHED, with the connect latency), passive opens
 *    (SYN_RECV -> ESTABLISHED) and closes, without a probe on any kernel function.
 *  - sock:sock_send_length / sock:sock_recv_length: the return of sock_sendmsg and
 *    sock_recvmsg with the socket and the byte count, in the calling process's context,
 *    so bytes, operations and the process are known at once; the direction changes
 *    pair requests with replies for the exchange latency, and a proxy's reads with its
 *    writes for the hop delay. Fallback: fexit on sock_sendmsg / sock_recvmsg.
 *  - tcp:tcp_retransmit_skb: when a socket retransmits; the count is the socket's own
 *    total_retrans, so it agrees with the kernel's counters on every version.
 *  - tcp:tcp_receive_reset / tcp:tcp_send_reset: RSTs, each with the full socket when
 *    there is one. Fallback: fentry on tcp_reset / tcp_send_active_reset.
 *  - skb:kfree_skb: a packet dropped; its socket is rx_sk (6.11+) or skb->sk, which is
 *    the sending socket for drops on the way out (e.g. by netfilter).
 *  - tcp:tcp_probe: the start of tcp_rcv_established, for every segment an established
 *    socket receives, before its data is queued and any reader is woken: the arrival
 *    time of a request at a proxy, which its read cannot give (the wait in the receive
 *    queue is most of a proxy's cost under load). Chosen over sched_wakeup/sched_switch
 *    (per context switch of every thread, and no byte to tie it to) and over reading
 *    tcp_sock's tcp_mstamp at the read (it moves on every send and ACK too). It is the
 *    hottest hook (ACKs included), so it does one socket lookup and leaves; at a proxy's
 *    downstream, and where a proxy's write delivers on loopback, it also reads whether a
 *    reader waits for the bytes (handoff.bpf.h).
 *  - no hook of its own: the syscall's buffer, through the task's saved user registers
 *    (bpf_task_pt_regs) at sock_send_length / sock_recv_length, on connections that began
 *    with HTTP/2's client preface in the clear, to count their requests from the frames
 *    (http2_frames.bpf.h). Syscall tracepoints would fire for every process's every read
 *    and write; the socket buffers' payload sits in page fragments a program cannot map.
 *  - sched:sched_process_exec / sched_process_fork / sched_process_exit: a process's
 *    start and end with its comm, cgroup and network namespace, sent at once through a
 *    ring buffer, so records outlive /proc's view of short-lived processes.
 *  - sched:sched_switch (tp_btf, only while a proxy is listed): the run-queue wait a
 *    proxy's run puts on its neighbours (neighbours.bpf.h), and each CPU's last switch-in,
 *    where a handed-off hop begins and ends (handoff.bpf.h, woke_at). The scheduler's own
 *    stamp of a switch-in (sched_info.last_arrival) is in the run queue's clock, which a
 *    program at a read cannot set against bpf_ktime_get_ns: the queue's clock there is
 *    as old as its CPU's last scheduler event.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define MSG_PEEK 2
#define E2BIG 7
#define EEXIST 17

#include "histogram.h"
#include "tollgate.h"
#include "maps.bpf.h"
#include "hop_pairing.bpf.h"
#include "http2_frames.bpf.h"


enum direction { DIR_NONE = 0, DIR_SEND = 1, DIR_RECV = 2 };

/* Connection tuples sampled per edge per interval, for joining the two ends. */
const volatile __u32 tuple_samples = 4;
/* Clients of one listener that keep an edge of their own per interval (see tg_edge_key). */
const volatile __u32 clients_per_listener = 128;
/* Slots per interval in edge_slots (the runner's --edges): half of the array. */
const volatile __u32 edges_per_half = 16384;
/* Slots a new edge tries before its half counts as full: a try fails only when another
 * CPU took the same slot a moment before. */
#define EDGE_CLAIM_TRIES 8

/* Written by the runner at run time (mmapped .bss): enum tg_filter_mode, and the
 * generation of the filter maps' contents. */
volatile __u32 filter_mode;
volatile __u32 filter_generation;
volatile __u32 filter_has_cgroups; /* filter_cgroups is not empty */
/* Bumped by the runner as an interval ends: its parity chooses the half of edge_slots
 * events count in, and listener censuses restart. */
volatile __u32 interval_seq;
/* The next slot to try in each half of edge_slots; the runner sets a half's back to 0
 * once it has drained and cleared it. */
volatile __u32 edge_cursor[2];
/* The runner has listed the listening ports open before it started (see `listeners`). */
volatile __u32 listeners_known;

/*
 * Kernel reads. The hooks' sockets and packets are BTF pointers (tp_btf and fentry/fexit
 * arguments, and what they point to), which programs may load from directly: a plain load
 * the JIT guards against faults, where BPF_CORE_READ calls bpf_probe_read_kernel, a helper
 * call and a copy per field. Both are relocated by CO-RE (vmlinux.h's types carry
 * preserve_access_index). BPF_CORE_READ stays where a read runs once per socket, or
 * copies a field that is no scalar (addresses).
 */

/* The socket as a tcp_sock, which the verifier then lets us read; NULL if it is none. */
static __always_inline const struct tcp_sock *tcp_of(const struct sock *sk)
{
	return bpf_skc_to_tcp_sock((void *)sk);
}

static __always_inline int is_tcp(const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;

	if (family != AF_INET && family != AF_INET6)
		return 0;
	return sk->sk_protocol == IPPROTO_TCP;
}

/* Is this network namespace, or this cgroup (0: not known), listed? */
static __always_inline int listed_ids(__u32 netns, __u64 cgroup)
{
	if (bpf_map_lookup_elem(&filter_netns, &netns))
		return 1;
	return cgroup && bpf_map_lookup_elem(&filter_cgroups, &cgroup) != NULL;
}

/* Is this network namespace, or (in process context) the current cgroup, listed? */
static __always_inline int listed(__u32 netns, int process_context)
{
	return listed_ids(netns, process_context ? bpf_get_current_cgroup_id() : 0);
}

/* Does the run-time filter select this socket? The cgroup is only known in process
 * context (the caller's), so softirq callers pass 0 and leave the decision open. */
static __always_inline int filter_selects(const struct sock *sk, int process_context)
{
	if (filter_mode == TG_FILTER_ALL)
		return 1;
	return listed(sk->__sk_common.skc_net.net->ns.inum, process_context);
}

/* Re-decides `traced` when the filter changed since; final only in process context. */
static __always_inline int traced(struct sock_state *st, const struct sock *sk, int process_context)
{
	__u32 generation = filter_generation;

	if (st->filter_generation != generation || (!st->decided && process_context)) {
		st->traced = filter_selects(sk, process_context);
		st->decided = process_context || filter_mode == TG_FILTER_ALL;
		st->filter_generation = generation;
	}
	return st->traced;
}

/* Fills the aggregation key from the socket's addresses and the owning process. */
static __always_inline void fill_key(struct sock_state *st, const struct sock *sk)
{
	struct tg_edge_key *k = &st->key;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	__builtin_memset(k, 0, sizeof(*k));
	k->tgid = st->tgid;
	k->family = family;
	k->side = st->side;
	/* Typed destinations: BPF_CORE_READ_INTO copies sizeof(*dst) bytes. */
	if (family == AF_INET) {
		BPF_CORE_READ_INTO((__be32 *)k->local_addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__be32 *)k->remote_addr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO((struct in6_addr *)k->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)k->remote_addr, sk, __sk_common.skc_v6_daddr);
	}
	k->netns_inode = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (st->side == TG_SIDE_SERVER)
		k->service_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	else
		k->service_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	st->has_key = 1;
}

/* The socket's key, filled now if its process is known; NULL when it cannot be. */
static __always_inline struct tg_edge_key *key_of(struct sock_state *st, const struct sock *sk)
{
	if (!st->has_key && st->tgid)
		fill_key(st, sk);
	return st->has_key ? &st->key : NULL;
}

/* A folded key (see tg_edge_key): the peer's address is unspecified. */
static __always_inline int is_folded(const struct tg_edge_key *key)
{
	const __u32 *a = (const __u32 *)key->remote_addr;

	return !(a[0] | a[1] | a[2] | a[3]);
}

/* Whether one more client of this listener gets an edge of its own this interval. */
static __always_inline int admit_client(const struct tg_edge_key *listener)
{
	struct listener_census first = { .interval = interval_seq, .clients = 1 }, *census;

	census = bpf_map_lookup_elem(&listener_clients, listener);
	if (!census || census->interval != first.interval) {
		/* Its first client this interval (two CPUs at once may both count 1: one more
		 * client, never an unbounded number). */
		bpf_map_update_elem(&listener_clients, listener, &first, BPF_ANY);
		return clients_per_listener > 0;
	}
	if (census->clients >= clients_per_listener)
		return 0;
	__sync_fetch_and_add(&census->clients, 1);
	return 1;
}

/* The folded key of `key` (see tg_edge_key), built in `spare`. */
static __always_inline struct tg_edge_key *fold_into(struct tg_edge_key *spare,
						     const struct tg_edge_key *key)
{
	__builtin_memcpy(spare, key, sizeof(*spare));
	__builtin_memset(spare->remote_addr, 0, sizeof(spare->remote_addr));
	return spare;
}

/* The slot `key` has in the current interval (of this parity), or -1. */
static __always_inline __s64 indexed_edge(const struct tg_edge_key *key, __u32 parity)
{
	struct tg_edge_index_key index_key = { .parity = parity, .edge = *key };
	__u32 *slot = bpf_map_lookup_elem(&edge_index, &index_key);

	return slot ? (__s64)*slot : -1;
}

/*
 * A slot for `key` in the current interval: the next free one of its half (a slot is
 * taken by its insert into edge_claims, so two CPUs that read the same cursor cannot both
 * have it; the loser tries the next), its key written, then indexed. -1 when the half is
 * full. A CPU that loses the race to index the same key uses the winner's slot; its own
 * stays taken, with no counts, and the runner emits nothing for it.
 */
static __always_inline __s64 new_edge(const struct tg_edge_key *key, __u32 parity)
{
	struct tg_edge_index_key index_key = { .parity = parity, .edge = *key };
	__u32 per_half = edges_per_half, cursor, slot = 0, *won;
	struct tg_edge_record *record;
	__u8 taken = 1;
	long err = -EEXIST;
	int i;

	for (i = 0; i < EDGE_CLAIM_TRIES && err; i++) {
		cursor = edge_cursor[parity & 1];
		if (cursor >= per_half)
			return -1;
		/* Not atomic: a CPU that read the same cursor fails its claim and reads again. */
		edge_cursor[parity & 1] = cursor + 1;
		slot = (parity & 1) * per_half + cursor;
		err = bpf_map_update_elem(&edge_claims, &slot, &taken, BPF_NOEXIST);
		if (err && err != -EEXIST)
			return -1; /* no room for the claim (maps that grow with use: no memory) */
	}
	if (err || !(record = bpf_map_lookup_elem(&edge_slots, &slot)))
		return -1;
	record->key = *key;
	if (!bpf_map_update_elem(&edge_index, &index_key, &slot, BPF_NOEXIST))
		return slot;
	won = bpf_map_lookup_elem(&edge_index, &index_key);
	return won ? (__s64)*won : -1;
}

/*
 * The record an event counts in: the socket's slot when it has one this interval (an
 * index into an array: the path of nearly every event), else its edge's slot, or its
 * folded edge's (built in `spare`) when it is a server end past its listener's
 * clients_per_listener this interval, or when the interval's slots are all taken. Folding
 * keeps every count, only not per client; NULL (counted in edge_map_full) only when the
 * folded edge has no slot either. The socket (when there is one: a reset after its close
 * has none) keeps the slot for the rest of the interval. The record's key is the key the
 * counts are kept under.
 */
static __always_inline struct tg_edge_record *edge_of(struct sock_state *st,
						      const struct tg_edge_key *key,
						      struct tg_edge_key *spare)
{
	__u32 interval = interval_seq, parity = interval & 1, slot;
	__s64 found;

	if (st && st->edge_slot && st->edge_epoch == interval) {
		slot = st->edge_slot - 1;
		return bpf_map_lookup_elem(&edge_slots, &slot);
	}
	found = indexed_edge(key, parity);
	if (found < 0) {
		fold_into(spare, key);
		if (key->side != TG_SIDE_SERVER || is_folded(key) || admit_client(spare))
			found = new_edge(key, parity);
		if (found < 0 && (found = indexed_edge(spare, parity)) < 0 &&
		    (found = new_edge(spare, parity)) < 0) {
			LOST(edge_map_full);
			return NULL;
		}
	}
	slot = found;
	if (st) {
		st->edge_epoch = interval;
		st->edge_slot = slot + 1;
	}
	return bpf_map_lookup_elem(&edge_slots, &slot);
}

/* edge_of's stats, and in *counted the key they are kept under (the end's own, or folded). */
static __always_inline struct tg_edge_stats *edge_stats(struct sock_state *st,
							const struct tg_edge_key *key,
							struct tg_edge_key *spare,
							const struct tg_edge_key **counted)
{
	struct tg_edge_record *record = edge_of(st, key, spare);

	if (!record)
		return NULL;
	*counted = &record->key;
	return &record->stats;
}

static __always_inline void record_latency(const struct tg_edge_key *edge, __u32 metric, __u64 ns)
{
	struct tg_hist_key key = { .edge = *edge, .metric = metric, .bucket = tg_hist_index(ns) };
	void *map = current_map(&histograms);
	__u64 one = 1, *count;

	if (!map)
		return;
	count = bpf_map_lookup_elem(map, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return;
	}
	if (bpf_map_update_elem(map, &key, &one, BPF_NOEXIST)) {
		/* Lost the race to create it, or the map is full. */
		count = bpf_map_lookup_elem(map, &key);
		if (count)
			__sync_fetch_and_add(count, 1);
		else
			LOST(hist_map_full);
	}
}

/* The hand-off to the next reader: needs record_latency and the hop pairing's queues. */
#include "handoff.bpf.h"

/* What proxies' runs take from their neighbours' CPUs: needs the hops' queues and stats. */
#include "neighbours.bpf.h"

static __always_inline void record_srtt(const struct sock *sk, const struct tg_edge_key *key,
					struct tg_edge_stats *stats)
{
	const struct tcp_sock *tp = tcp_of(sk);
	__u64 srtt_ns = tp ? (__u64)(tp->srtt_us >> 3) * 1000 : 0;

	if (!srtt_ns)
		return;
	__sync_fetch_and_add(&stats->srtt_ns_sum, srtt_ns);
	record_latency(key, TG_METRIC_SRTT, srtt_ns);
}

/*
 * Retransmitted segments, as the kernel counts them for TcpRetransSegs and ss's
 * "retrans": the socket's own total_retrans, by difference since we last looked. The
 * tracepoint says when to look; what it fires for (failed attempts or not) varies by
 * kernel version, the counter does not.
 */
static __always_inline void count_retransmits(struct sock_state *st, const struct sock *sk,
					      struct tg_edge_stats *stats)
{
	const struct tcp_sock *tp = tcp_of(sk);
	__u32 total;

	if (!tp)
		return;
	total = tp->total_retrans;
	if (total != st->retrans_seen) {
		__sync_fetch_and_add(&stats->retransmits, total - st->retrans_seen);
		st->retrans_seen = total;
	}
}

/*
 * The client's initial sequence number, from either end at any point in the connection's
 * life: the kernel adds every advance of snd_una to bytes_acked (the SYN's one included)
 * and every advance of rcv_nxt past the SYN to bytes_received, so the differences stay at
 * the ISN. No state is kept for it, and adopted sockets get it too.
 */
static __always_inline __u32 client_isn(const struct sock *sk, __u8 side)
{
	const struct tcp_sock *tp = tcp_of(sk);

	if (!tp)
		return 0;
	if (side == TG_SIDE_CLIENT)
		return tp->snd_una - (__u32)tp->bytes_acked;
	return tp->rcv_nxt - (__u32)tp->bytes_received - 1;
}

/*
 * A sample of the connection's full tuple, the first few per edge per interval: under the
 * edge its counts went to (`edge`, perhaps folded), with the peer's address from the
 * socket's own key.
 */
static __always_inline void sample_tuple(const struct sock *sk, const struct tg_edge_key *edge,
					 const struct tg_edge_key *own,
					 const struct tg_edge_stats *stats, __u64 now)
{
	struct tg_tuple_key key = { .edge = *edge };
	void *map;
	int err;

	if (stats->connects + stats->accepts + stats->adopted > tuple_samples)
		return;
	map = current_map(&tuples);
	if (!map)
		return;
	key.local_port = sk->__sk_common.skc_num;
	key.remote_port = bpf_ntohs(sk->__sk_common.skc_dport);
	key.client_isn = client_isn(sk, edge->side);
	__builtin_memcpy(key.remote_addr, own->remote_addr, sizeof(key.remote_addr));
	err = bpf_map_update_elem(map, &key, &now, BPF_NOEXIST);
	if (err && err != -EEXIST)
		LOST(tuple_map_full);
}

static __always_inline struct tg_listener_key listener_of(const struct sock *sk)
{
	struct tg_listener_key key = {
		.netns_inode = sk->__sk_common.skc_net.net->ns.inum,
		.port = sk->__sk_common.skc_num,
	};

	return key;
}

/* A socket starts or stops listening: counted per (network namespace, port). */
static __always_inline void note_listener(const struct sock *sk, int listening)
{
	struct tg_listener_key key = listener_of(sk);
	__u32 one = 1, *count = bpf_map_lookup_elem(&listeners, &key);

	if (listening && count) {
		__sync_fetch_and_add(count, 1);
	} else if (listening) {
		if (bpf_map_update_elem(&listeners, &key, &one, BPF_NOEXIST) == -E2BIG)
			LOST(listener_map_full);
	} else if (count) {
		/* (The fetched value is out of reach on the instruction set the probes build
		 * for; two closes at once can leave an entry at 0, which still says "a server's".) */
		__sync_fetch_and_add(count, -1);
		if (!*count)
			bpf_map_delete_elem(&listeners, &key);
	}
}

/*
 * The side of a socket first seen established: a server's when a socket of its network
 * namespace listens on its local port. Until the runner has listed the listeners open
 * before it started, the ports guess (an ephemeral port is usually the higher).
 */
static __always_inline __u8 adopted_side(const struct sock *sk)
{
	struct tg_listener_key key = listener_of(sk);

	if (bpf_map_lookup_elem(&listeners, &key))
		return TG_SIDE_SERVER;
	if (listeners_known)
		return TG_SIDE_CLIENT;
	return key.port > bpf_ntohs(sk->__sk_common.skc_dport) ? TG_SIDE_CLIENT : TG_SIDE_SERVER;
}

/* A socket's identity for as long as the kernel runs (its address is reused once freed). */
static __always_inline __u64 cookie_of(const struct sock *sk)
{
	return bpf_get_socket_cookie((void *)sk);
}

/*
 * The cookie as the socket holds it, 0 if none was ever asked for: what state_of checks on
 * every event, read without the helper's call. Every socket with a state has one (its
 * state was made with cookie_of), so a socket without one cannot be the state's.
 */
static __always_inline __u64 cookie_held(const struct sock *sk)
{
	return sk->__sk_common.skc_cookie.counter;
}

static __always_inline struct sock_state *new_state(const struct sock *sk, __u8 side)
{
	__u64 skaddr = (__u64)sk;
	__u32 zero = 0;
	struct sock_state *st = bpf_map_lookup_elem(&sock_state_scratch, &zero);

	if (!st)
		return NULL;
	__builtin_memset(st, 0, sizeof(*st));
	st->side = side;
	st->cookie = cookie_of(sk);
	/* A passive open's process is known at its first read; until then its arrivals are
	 * taken as a proxy's (is_proxy settles the role). */
	st->arrival_role = side == TG_SIDE_SERVER ? ARRIVAL_SERVER_SIDE | ARRIVAL_READER_IDLE : 0;
	/* BPF_ANY: over a state a freed socket left at this address (see state_of). */
	if (bpf_map_update_elem(&sockets, &skaddr, st, BPF_ANY))
		LOST(sock_map_full);
	return bpf_map_lookup_elem(&sockets, &skaddr);
}

/*
 * The state of this socket, if it has one: not one a freed socket left at the same
 * address (its close missed), which is dropped and counted.
 */
static __always_inline struct sock_state *state_of(const struct sock *sk)
{
	__u64 skaddr = (__u64)sk;
	struct sock_state *st = bpf_map_lookup_elem(&sockets, &skaddr);

	if (!st || st->cookie == cookie_held(sk))
		return st;
	if (st->http2 == H2_FRAMED)
		bpf_map_delete_elem(&http2_frames, &skaddr);
	bpf_map_delete_elem(&sockets, &skaddr);
	LOST(sock_state_stale);
	return NULL;
}

/* The state of a socket we trace, or NULL. For hooks outside process context. */
static __always_inline struct sock_state *traced_state(const struct sock *sk)
{
	struct sock_state *st;

	if (!sk)
		return NULL;
	st = state_of(sk);
	if (!st || !traced(st, sk, 0))
		return NULL;
	return st;
}

/* The current stats of a traced socket's edge, for the hooks that only count. */
static __always_inline struct tg_edge_stats *traced_stats(const struct sock *sk,
							  struct sock_state **state)
{
	const struct tg_edge_key *counted;
	struct tg_edge_key *key, spare;

	if (!(*state = traced_state(sk)) || !(key = key_of(*state, sk)))
		return NULL;
	return edge_stats(*state, key, &spare, &counted);
}

/*
 * A proxy's multiplexed upstream (a client's end) whose requests are counted from its
 * forwards (forwarded_requests), not from its frames (http2_count).
 */
static __always_inline int counts_forwards(const struct sock_state *st)
{
	return st->side == TG_SIDE_CLIENT && st->multiplexed && st->proxy &&
	       st->http2 != H2_FRAMED;
}

static __always_inline int handle_set_state(const struct sock *sk, int oldstate, int newstate)
{
	__u64 skaddr = (__u64)sk, now = bpf_ktime_get_ns();
	const struct tg_edge_key *counted;
	struct tg_edge_key *key, spare;
	struct tg_edge_stats *stats;
	struct sock_state *st;

	if (!is_tcp(sk))
		return 0;
	/* (A connection's socket starts as a clone of its listener: LISTEN -> SYN_RECV is a
	 * connection, not the listener stopping.) */
	if (newstate == TCP_LISTEN || (oldstate == TCP_LISTEN && newstate == TCP_CLOSE)) {
		note_listener(sk, newstate == TCP_LISTEN);
		return 0;
	}
	if (newstate == TCP_SYN_SENT) {
		/* connect(): process context, the caller is known, and so is its cgroup. */
		if (!filter_selects(sk, 1))
			return 0;
		st = new_state(sk, TG_SIDE_CLIENT);
		if (st) {
			st->syn_sent_ns = now;
			st->tgid = bpf_get_current_pid_tgid() >> 32;
			traced(st, sk, 1);
		}
		return 0;
	}
	if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED) {
		/* Passive open, in softirq: the process (and its cgroup) is learnt at the
		 * first read or write, so the filter decides then unless the netns is listed. */
		if (filter_has_cgroups || filter_selects(sk, 0)) {
			st = new_state(sk, TG_SIDE_SERVER);
			if (st)
				traced(st, sk, 0);
		}
		return 0;
	}
	st = traced_state(sk);
	if (!st) {
		/* A socket the filter turned down after its state was made (a passive open,
		 * decided at its first read) goes at close like the others, not by eviction. */
		if (newstate == TCP_CLOSE) {
			bpf_map_delete_elem(&handoffs, &skaddr);
			bpf_map_delete_elem(&http2_frames, &skaddr);
			bpf_map_delete_elem(&sockets, &skaddr);
		}
		return 0;
	}
	if (oldstate == TCP_SYN_SENT && newstate == TCP_ESTABLISHED) {
		/* Runs in softirq when the SYN-ACK arrives: the key takes the tgid that
		 * connect() left, not whoever the CPU was running. */
		key = key_of(st, sk);
		if (!key || !(stats = edge_stats(st, key, &spare, &counted)))
			return 0;
		__sync_fetch_and_add(&stats->connects, 1);
		__sync_fetch_and_add(&stats->connect_ns_sum, now - st->syn_sent_ns);
		sample_tuple(sk, counted, key, stats, now);
		record_latency(counted, TG_METRIC_CONNECT_LATENCY, now - st->syn_sent_ns);
		return 0;
	}
	if (newstate == TCP_CLOSE) {
		/* A refused connect never reached ESTABLISHED: key it now, to count the error. */
		key = key_of(st, sk);
		if (key && (stats = edge_stats(st, key, &spare, &counted))) {
			if (oldstate == TCP_SYN_SENT) {
				__sync_fetch_and_add(&stats->connect_errors, 1);
			} else {
				__sync_fetch_and_add(&stats->closes, 1);
				count_retransmits(st, sk, stats); /* in case the last one came after */
				/* A proxy's upstream closed (or reset) under requests it forwarded
				 * since its last reply was read or its run's last flush
				 * (FORWARDS_RUN_FLUSH): no reply will count them (a long poll given
				 * up, a peer gone). After a read the run was counted. */
				if (st->last_dir == DIR_SEND && st->forwards_run && counts_forwards(st))
					__sync_fetch_and_add(&stats->forwarded_requests, st->forwards_run);
				if (!st->exchange_start_ns)
					record_srtt(sk, counted, stats); /* no exchange ever sampled it */
			}
		}
		if (key) {
			struct closed_socket closed = { .key = *key, .cookie = st->cookie };

			bpf_map_update_elem(&closed_sockets, &skaddr, &closed, BPF_ANY);
		}
		if (st->side == TG_SIDE_CLIENT)
			settle_mux_request(st); /* closed before its app read */
		else if (st->request_deferred)
			settle_request_hop(st, NULL); /* closed before its reader read */
		if (st->response_deferred) {
			struct tg_edge_key hop = hop_key_of(st);

			settle_response_hop(st, NULL, 0, &hop, hop_stats_of(&hop)); /* closed before its client read */
		}
		if (st->handoff_pending)
			bpf_map_delete_elem(&handoffs, &skaddr);
		if (st->http2 == H2_FRAMED)
			bpf_map_delete_elem(&http2_frames, &skaddr);
		bpf_map_delete_elem(&sockets, &skaddr);
	}
	return 0;
}

/*
 * Reads of bytes the peer sent before it had received everything this end had written
 * (the ACK of the segment that began the unread bytes, kept by handle_arrival, is short
 * of tcp_sock.write_seq) before a connection is taken for several requests at once. On a
 * request/response connection a peer answers only a request it has whole, and a client
 * writes its next request only after it has read the reply, so such reads mean requests
 * in flight at once (pipelining, HTTP/2 and gRPC streams, a stream pushed either way).
 * By sequence numbers, not by time: a reply that arrives while its request's write is
 * still returning acknowledges that request, so loopback's fast replies never count.
 * Against write_seq at the read, not at the arrival: a client that writes another request
 * before it reads a reply already come is multiplexing too (compared at the arrival, an
 * app's gRPC client with 16 calls in flight went unmarked: its server answers only what
 * it has read whole).
 * A proxy's second forward on an upstream that awaits a reply is a sign too (pair_hops),
 * one that marks at once past the connection's first replies.
 *
 * Unasked bytes before a connection's third exchange has ended are no sign: a TLS 1.3
 * server's session tickets and an HTTP/2 server's SETTINGS come so, once per connection.
 * Later signs are scored, each OVERLAP_SIGN, less one per exchange ended since, and the
 * connection is marked at OVERLAP_MARK: one sign is no proof (an HTTP/2 peer's control
 * frames come now and then on a connection used one call at a time: one of four such
 * gRPC runs was marked when three signs sufficed), while requests really in flight
 * together give a sign in most exchanges. A server that reads all its pending requests
 * before it writes any reply (HTTP/2 servers flush after reading) may never see one: its
 * client does, and the collector marks an edge when either end is marked.
 */
#define OVERLAP_SIGN 4
#define OVERLAP_MARK 12

static __always_inline void overlap_sign(struct sock_state *st, __u8 weight)
{
	st->overlap_score += weight;
	if (st->overlap_score >= OVERLAP_MARK)
		st->multiplexed = 1;
}

static __always_inline void note_overlap(const struct sock *sk, struct sock_state *st)
{
	const struct tcp_sock *tp;
	struct http2_framing *f;
	__u64 skaddr = (__u64)sk;
	__u32 written;

	/* Established only: a half-closed end's FIN takes a sequence number of write_seq the
	 * peer may not have had when it answered. */
	if (st->multiplexed || !st->ack_known || st->exchanges_seen < 3 ||
	    sk->__sk_common.skc_state != TCP_ESTABLISHED || !(tp = tcp_of(sk)))
		return;
	written = tp->write_seq;
	/* An HTTP/2 client's end whose writes are followed: up to its last write that carried
	 * a request, not the control frames after it (a WINDOW_UPDATE after each reply), which
	 * ask for nothing: bytes the peer sent before it had them are no overlap. */
	if (st->http2 == H2_FRAMED && st->side == TG_SIDE_CLIENT &&
	    (f = bpf_map_lookup_elem(&http2_frames, &skaddr)) && f->cookie == st->cookie)
		written = f->content_seq;
	if ((__s32)(st->arrival_ack - written) < 0)
		overlap_sign(st, OVERLAP_SIGN);
}

/* What a proxy's read or write is to its exchange on that socket. */
enum hop_event {
	HOP_OPEN,      /* the opening direction after the other one */
	HOP_CLOSE,     /* the other direction after the opening one */
	HOP_MORE_SEND, /* a write after a write */
	HOP_MORE_RECV, /* a read after a read */
	HOP_NONE,      /* a direction change that ends no exchange (a client's read first) */
};

/* Whether a downstream's last request went out on the upstream `up_sk` (its link). */
static __always_inline int linked_to(const struct sock_state *down, const struct sock_state *up,
				     __u64 up_sk)
{
	return down->peer_sk == up_sk && down->peer_cookie == up->cookie;
}

#define COALESCED_MAX 8 /* requests a multiplexed write takes besides its first */

/*
 * Whether a downstream's last request went out on `up` or on another connection of its
 * pool: a connection of the same process's to the same address and port, marked
 * multiplexed as `up` is. A multiplexer keeps more than one connection to a peer where it
 * opened a second while the first's handshake was under way (TLS: ALPN says it may
 * multiplex only when the handshake ends), and hands each turn's requests to either; its
 * writes to them in one turn come microseconds apart, so a request taken by the write of
 * the other connection than its own has its hop end within that turn, where one left to
 * its own connection's next write waited a turn or more (two or three TLS connections
 * between sidecars at 2,000 requests/s: 80-88% of the outbound sidecar's requests paired
 * and the request hop's mean doubled; with this, 99.5-99.6% with two and with fifteen).
 */
static __always_inline int linked_to_pool(const struct sock_state *down,
					  const struct sock_state *up, __u64 up_sk)
{
	const struct sock_state *other;
	const __u64 *a, *b;

	if (linked_to(down, up, up_sk))
		return 1;
	if (!down->peer_sk || !(other = bpf_map_lookup_elem(&sockets, &down->peer_sk)) ||
	    other->cookie != down->peer_cookie || !other->multiplexed ||
	    other->side != TG_SIDE_CLIENT || other->tgid != up->tgid ||
	    other->key.netns_inode != up->key.netns_inode || other->key.family != up->key.family ||
	    other->key.service_port != up->key.service_port)
		return 0;
	a = (const __u64 *)other->key.remote_addr;
	b = (const __u64 *)up->key.remote_addr;
	return a[0] == b[0] && a[1] == b[1];
}

/*
 * One more request forwarded on a proxy's upstream since its last reply was read, for
 * the exchange that reply ends (forwarded_requests). A count in the socket's state, not a
 * value returned up the forward's paths: the verifier would follow each path's value apart
 * (the send program then passed its million instructions). On an upstream whose count is
 * used it stays under its byte's 255: a write that finds FORWARDS_RUN_FLUSH or more moves
 * them into the edge's counter first (handle_io), and one write adds at most
 * 1 + COALESCED_MAX. Not where the edge's counters found no room (counted lost).
 */
static __always_inline void count_forward(struct sock_state *up)
{
	if (up->forwards_run < 255)
		up->forwards_run++;
}

/* Where a run of forwards goes into forwarded_requests before its reply (handle_io). */
#define FORWARDS_RUN_FLUSH 128

/*
 * The requests a write on a multiplexed upstream (HTTP/2 between sidecars) carries besides
 * the one it was paired with: a proxy's multiplexer gathers the streams of every request
 * it read in one turn of its event loop and sends them in one write, where the FIFO pairs
 * one forward with one request, and the rest were left pending (their replies then
 * unpaired: half of a sidecar's requests at 2,000 requests/s over HTTP/2). Taken in read
 * order from the head while the head's downstream last went out on this upstream or
 * another of its pool (linked_to_pool; a downstream that went elsewhere, or never out
 * yet, stops it: it may wait for another upstream), up to COALESCED_MAX; each hop ends
 * where this write's bytes arrived. A request read but not yet handed to the multiplexer
 * when it wrote is taken too, its hop short by the wait for the next write: never longer
 * than the truth.
 */
static __always_inline void take_coalesced(struct hop_fifo *fifo, struct sock_state *up,
					   __u64 up_sk, __u64 now, __u64 end)
{
	struct sock_state *owner;
	struct hop_entry *e;
	__u64 from;
	int i;

	for (i = 0; i < COALESCED_MAX; i++) {
		if (fifo->head == fifo->tail)
			return;
		e = &fifo->entries[fifo->head & (HOP_QUEUE_LEN - 1)];
		if (e->netns != up->key.netns_inode || e->read_ns > end)
			return;
		if (!(owner = pending_owner(e, now, 0))) {
			fifo->head++; /* stale: answered, closed or aged out */
			continue;
		}
		/* Most often a read the proxy forwards nothing for (hop_search): not taken. One
		 * of an earlier turn is passed and dropped (passed_tentative); one since stops the
		 * run as a downstream gone elsewhere does. */
		if (e->seq & HOP_TENTATIVE) {
			if (!passed_tentative(fifo, e))
				return;
			fifo->head++;
			continue;
		}
		if (!linked_to(owner, up, up_sk)) {
			if (!linked_to_pool(owner, up, up_sk))
				return;
			owner->pool_taken = 1; /* for sign_second_request */
		}
		fifo->head++;
		count_forward(up);
		owner->request_pending = 0;
		from = e->read_ns;
		if (owner->latest_arrival_ns > from && owner->latest_arrival_ns <= end)
			from = owner->latest_arrival_ns;
		owner->forwarded_ns = from ? from : 1;
		record_request_hop(owner, end - from, 0);
	}
}

/*
 * A reply written to a downstream whose request no forward took, right after the thread
 * read an upstream of the same process: most likely that request went out on that
 * upstream with another's, in one write (a multiplexer gathering the streams of a turn of
 * its loop, whose server answers each write whole, so that the wire shows no overlap to
 * note_overlap). A sign that the upstream carries several requests at once (three mark
 * it: a proxy that answers a request itself just after reading an upstream gives one
 * now and then; an upstream holding a multiplexed downstream's request is that one's),
 * and the downstream is linked to it, if not linked elsewhere: a marked upstream's writes
 * take the requests of the downstreams linked to it (take_coalesced). This exchange
 * itself is not paired by it: counted unpaired, unless the FIFO of unlinked upstreams'
 * replies pairs it.
 */
static __noinline void mark_carrier(struct hop_queues *q, struct sock_state *down)
{
	struct sock_state *up = bpf_map_lookup_elem(&sockets, &q->last_read_sk);

	if (!up || up->side != TG_SIDE_CLIENT || up->tgid != down->tgid || up->forwarded_ns ||
	    up->key.netns_inode != down->key.netns_inode ||
	    (down->peer_sk && (down->peer_sk != q->last_read_sk || down->peer_cookie != up->cookie)))
		return;
	down->peer_sk = q->last_read_sk;
	down->peer_cookie = up->cookie;
	overlap_sign(up, OVERLAP_SIGN);
}

/*
 * A forward on an idle upstream that the FIFO has no request for, right after the thread
 * read a downstream whose request is out and not yet answered: a second request of that
 * downstream's while the first is in flight (HTTP/2 streams, pipelining), which the FIFO
 * keeps one of. A sign that the downstream carries several at once (three mark it, a
 * health check sent right after such a read gives one), whose requests then pair by the
 * upstreams they go out on (mux_forward).
 */
static __noinline void sign_second_request(struct hop_queues *q, const struct sock_state *up,
					   __u64 up_sk)
{
	struct sock_state *down = bpf_map_lookup_elem(&sockets, &q->last_read_sk);

	if (!down || down->side != TG_SIDE_SERVER || down->tgid != up->tgid || !down->forwarded_ns ||
	    down->request_pending || down->multiplexed)
		return;
	/* Its request went out with a write on another connection of this one's pool, which
	 * took this turn's requests (take_coalesced; or, paired there, it is linked there):
	 * this write's having none is no sign of a second one. */
	if (down->pool_taken ||
	    (up->multiplexed && !linked_to(down, up, up_sk) && linked_to_pool(down, up, up_sk)))
		return;
	overlap_sign(down, OVERLAP_SIGN);
}

/*
 * A downstream that carries many requests at once (HTTP/2 from another sidecar: marked
 * multiplexed) has one request pending at most in the FIFO's terms, so its requests after
 * the first of each burst were not paired, and its "requests" were its direction changes:
 * under load half of what it carried. Such a downstream's requests are paired instead by
 * the upstream each goes out on, where a pool of request/response connections (HTTP/1.1
 * to the app) holds one at a time: a forward on an idle upstream right after the thread
 * read the multiplexed downstream (`down_sk` the thread's last read), or, with no request
 * of the FIFO's pending, after it read that one last of the multiplexed downstreams and
 * replies since (`down_sk` that one), is that downstream's request, from the arrival of
 * the bytes read there last (one read may bring several requests, each forwarded by its
 * own write); the upstream keeps the request's arrival and hop until its reply is written
 * back. A request forwarded after the thread read another downstream is not paired so
 * (its forward goes by the FIFO, or counts unmatched). Returns 1 when the forward was
 * paired so.
 */
static __always_inline int mux_forward(struct hop_queues *q, const __u64 *down_sk,
				       const struct sock *sk, struct sock_state *up, __u64 up_sk,
				       __u64 now, const struct delivery *delivered,
				       struct tg_edge_key *hop, __u64 handoff_sk, __u64 handoff_at)
{
	struct sock_state *down;
	struct tg_hop_stats *stats;
	__u64 from, end;

	if (!*down_sk || !(down = bpf_map_lookup_elem(&sockets, down_sk)) ||
	    down->side != TG_SIDE_SERVER || !down->multiplexed || down->tgid != up->tgid ||
	    down->key.netns_inode != up->key.netns_inode)
		return 0;
	from = down->latest_arrival_ns;
	if (!from || from > now || now - from > hop_max_age_ns)
		return 0;
	/* The downstream's listener (hop_key_of), in the caller's key, whose process and
	 * namespace are the upstream's: 48 bytes of the send program's stack spared. */
	hop->family = down->key.family;
	hop->service_port = down->key.service_port;
	if (!(stats = hop_stats_of(hop))) {
		drop_handoff(handoff_sk, handoff_at);
		return 1;
	}
	end = delivery_end(sk, TG_SIDE_CLIENT, from, delivered, now);
	if (up->multiplexed) {
		/* Both sides carry many requests at once (HTTP/2 or gRPC end to end through the
		 * proxy): which reply on the upstream answers which request cannot be known
		 * without parsing, and the upstream has room for one. The request's hop is
		 * timed on its own; its exchange is counted unpaired at its reply's write
		 * (mux_reply_alone), never paired by guess. */
		drop_handoff(handoff_sk, handoff_at);
		up->hop_port = down->key.service_port; /* the listener it serves now */
	} else {
		/* The request this upstream carried before went back unseen (its reply written
		 * with another's, past what mux_replies looks at): counted, not guessed. */
		if (up->forwarded_ns) {
			settle_mux_request(up);
			__sync_fetch_and_add(&stats->unpaired, 1);
		}
		up->forwarded_ns = from;
		up->mux_request_hop_ns = end - from ? end - from : 1;
		up->peer_sk = *down_sk;
		up->peer_cookie = down->cookie;
		up->hop_port = down->key.service_port;
		up->awaiting_reply = 1;
		/* Run on to the app's wake-up when this write handed the request to an idle one
		 * (the upstream holds the hop as it is meanwhile). */
		if (link_mux_handoff(handoff_sk, handoff_at, sk, up, up_sk, from,
				     down->request_pickup_ns, q, now))
			return 1;
	}
	/* Counted now, by the aggregate already at hand (count_request_hop would look it up
	 * again). */
	record_latency(hop, TG_METRIC_HOP_REQUEST, end - from);
	__sync_fetch_and_add(&stats->request_ns_sum, end - from);
	return 1;
}

/*
 * A write on a multiplexed downstream: the replies it carries are those the thread read
 * on the upstreams carrying this downstream's requests (mux_forward) since they went out,
 * the last MUX_UPSTREAMS such reads looked at (a multiplexer may send several streams'
 * replies in one write). Each pairs with its request's hop, counted in `stats`, the
 * aggregate of `hop`. Returns how many paired: the caller counts a write that pairs none
 * unpaired where it forwards a reply alone (mux_reply_alone) or ends a direction (not the
 * proxy's own frames after a reply).
 */
static __always_inline int mux_replies(struct hop_queues *q, const struct sock *sk,
				       struct sock_state *down, __u64 down_sk, __u64 now,
				       const struct delivery *delivered, const struct tg_edge_key *hop,
				       struct tg_hop_stats *stats)
{
	struct sock_state *up;
	__u64 arrived, end;
	int i, paired = 0;

	for (i = 0; i < MUX_UPSTREAMS; i++) {
		if (!q->mux_upstreams[i] ||
		    !(up = bpf_map_lookup_elem(&sockets, &q->mux_upstreams[i])) ||
		    up->peer_sk != down_sk || up->peer_cookie != down->cookie || !up->forwarded_ns ||
		    !(arrived = fresh_reply(up, up->forwarded_ns, now)))
			continue;
		q->mux_upstreams[i] = 0;
		settle_mux_request(up); /* its app's read unseen */
		end = delivery_end(sk, TG_SIDE_SERVER, arrived, delivered, now);
		record_response_hop(hop, stats, up->mux_request_hop_ns, end - arrived, 0);
		up->forwarded_ns = 0;
		up->mux_request_hop_ns = 0;
		paired++;
	}
	return paired;
}

/*
 * A write on a multiplexed downstream that pairs no reply, right after the thread read a
 * multiplexed upstream of the same process: a reply forwarded where both sides carry
 * many requests at once (mux_forward times their requests on their own). Its hop is
 * timed from the arrival of the upstream's bytes read last to this write's delivery, and
 * its exchange counted unpaired: one per such write (a reply forwarded in several writes
 * counts as several, several in one write as one). Returns 1 when it was one.
 */
static __always_inline int mux_reply_alone(struct hop_queues *q, const struct sock *sk,
					   const struct sock_state *down, __u64 now,
					   const struct delivery *delivered,
					   const struct tg_edge_key *hop, struct tg_hop_stats *stats)
{
	struct sock_state *up;
	__u64 arrived;

	if (!q->last_read_sk || !(up = bpf_map_lookup_elem(&sockets, &q->last_read_sk)) ||
	    up->side != TG_SIDE_CLIENT || !up->multiplexed || up->tgid != down->tgid ||
	    up->key.netns_inode != down->key.netns_inode ||
	    !(arrived = fresh_reply(up, 0, now)))
		return 0;
	record_response_hop(hop, stats, 0,
			    delivery_end(sk, TG_SIDE_SERVER, arrived, delivered, now) - arrived, 0);
	return 1;
}

/* A reply read on an upstream that carries a multiplexed downstream's request. */
static __always_inline void note_mux_reply(struct hop_queues *q, __u64 up_sk)
{
	__u32 newest = q->mux_upstream_next - 1;

	if (q->mux_upstreams[newest & (MUX_UPSTREAMS - 1)] == up_sk)
		return;
	q->mux_upstreams[q->mux_upstream_next & (MUX_UPSTREAMS - 1)] = up_sk;
	q->mux_upstream_next++;
}

/*
 * More bytes on a proxy's downstream, arrived after the earlier ones were read, while its
 * request is pending, or after a forward took it whose upstream has had a reply since
 * that never came back here. Inside TLS that is what an HTTP/2 peer's control frames
 * after a reply look like (a WINDOW_UPDATE, a PING: the probes cannot read the frames,
 * and the proxy forwards nothing for them): the read after the reply made an entry, and
 * these bytes are the next request. Left as it was, that entry kept its place in the
 * FIFO, so with several such connections and requests that do not come round in turn a
 * forward took another connection's older entry, each request the one before it, and
 * every hop of the inbound sidecar ran about a connection's request spacing long (rounds
 * whose added latency came out 4.7-9.7 ms against 0.3-0.4 at 311 requests/s over two or
 * three TLS connections, bench accuracy's (k); test/probes/unforwarded-reads). So: while
 * the entry is still the FIFO's newest (a request that came in parts), it is made firm
 * with these bytes' arrival; else the request is queued again at the tail (the old entry
 * stale: request_seq moves on), and the downstream is marked (unforwarded_reads), so that
 * its reads after a reply are queued tentative from then on, which a forward takes only
 * when no firm entry is pending (hop_search). A read after a reply taken by another's
 * forward (before its connection was marked) leaves this one's request with no entry; the
 * reply that forward's request/response upstream has had since, none written here, says
 * so, and the request is queued again too. Returns 1 when the bytes were taken for the
 * request. A global function, verified once on its own, which spared the receive
 * program's count when it came (881,643 instructions processed of the verifier's million
 * with it; 50,165 since, for another reason: pair_hops says the socket's side); the
 * socket's address is last_read_sk, the caller's read (a pointer's value may not be
 * passed to one).
 */
__noinline int rearm_request(struct hop_queues *q, struct sock_state *st, __u64 arrived)
{
	struct sock_state *up;
	struct hop_entry *e;

	if (!q || !st)
		return 0;
	if (st->request_pending) {
		e = &q->request.entries[(q->request.tail - 1) & (HOP_QUEUE_LEN - 1)];
		if (q->request.tail != q->request.head && e->skaddr == q->last_read_sk &&
		    e->cookie == st->cookie && same_seq(st->request_seq, e->seq)) {
			e->seq &= ~HOP_TENTATIVE;
			e->read_ns = arrived; /* aged from these bytes: the request's */
			st->latest_arrival_ns = arrived;
			return 1;
		}
	} else {
		/* forwarded_ns: the request's arrival, until its reply is written here; with
		 * request_hop_ns, the forward's delivery. A reply on a request/response upstream
		 * after that, none written here since: the upstream answered what it was sent,
		 * and this end, still sending, is no part of it. Not on a multiplexed upstream,
		 * whose replies are other streams' too. */
		if (!st->forwarded_ns || !st->peer_sk ||
		    !(up = bpf_map_lookup_elem(&sockets, &st->peer_sk)) ||
		    up->cookie != st->peer_cookie || up->multiplexed || up->awaiting_reply ||
		    !fresh_reply(up, st->forwarded_ns + st->request_hop_ns, arrived))
			return 0;
		/* A hop that forward left waiting for the app's read is dropped, not recorded: it
		 * was timed from a read that was not its request (and settling it here would take
		 * this function's stack past the verifier's 512 bytes with the caller's). */
		if (st->request_deferred)
			st->request_deferred = 0;
		st->request_hop_ns = 0;
		st->request_pending = 1;
	}
	if (!st->unforwarded_reads)
		st->unforwarded_reads = 1;
	st->request_seq++;
	st->latest_arrival_ns = 0; /* and forwarded_ns, its union's: nothing forwarded yet */
	hop_push(&q->request, arrived, q->last_read_sk, st->cookie, st->request_seq & HOP_SEQ_MASK,
		 st->key.netns_inode);
	return 1;
}

/*
 * Proxy hops: the four direction changes of a proxy's two sockets, and the writes that
 * follow a write on an upstream. Such a write is another request, pipelined or
 * multiplexed on a shared upstream, when the oldest request awaiting forward is the one
 * the thread read last; otherwise it continues the request before it (a body streamed
 * in chunks as they are read).
 */
static __always_inline void pair_hops(const struct sock *sk, struct sock_state *st, __u64 skaddr,
				      enum hop_event event, __u64 now, __u8 dir)
{
	int opening = event == HOP_OPEN || event == HOP_MORE_SEND;
	/* Keyed in the socket's namespace: a node proxy's hops in each pod's stay apart. A
	 * proxy forwards within one namespace (a sidecar's own, or the pod's for a node proxy,
	 * which opens its upstream connections there), so both hops of an exchange agree. */
	struct tg_edge_key hop = { .tgid = st->tgid,
				   .family = st->key.family,
				   .side = TG_SIDE_SERVER,
				   .netns_inode = st->key.netns_inode };
	struct tg_hop_stats *stats;
	struct sock_state *owner, *up;
	struct hop_queues *q;
	struct hop_entry e;
	__u64 arrived, delay, handoff_sk, handoff_at, end;
	int linked;
	struct delivery delivered;

	/* The socket's side as the event says it: a read opens only a downstream's exchange
	 * and closes only an upstream's, a write the other way round (handle_io derives the
	 * event from the side). The verifier, which knows nothing of a value loaded from the
	 * state, followed each program down the other's paths too: the receive program
	 * processed 883,885 instructions so, of its million, and 50,165 with the side said
	 * here (the send program 704,688 and 677,753). */
	__u8 side = st->side;

	if (event == HOP_OPEN || event == HOP_CLOSE) {
		side = (event == HOP_OPEN) == (dir == DIR_RECV) ? TG_SIDE_SERVER : TG_SIDE_CLIENT;
		if (st->side != side)
			return; /* never: a state's side is CLIENT or SERVER */
	}
	if (!is_proxy(st) || !(q = thread_queues()))
		return;
	/* A hand-off noted during the write this event ends is this event's: linked if it is a
	 * request's forward or a reply's, else dropped. */
	handoff_sk = q->handoff_sk;
	handoff_at = q->handoff_at;
	q->handoff_sk = 0;
	/* Likewise this event's write's arrival at its socket (note_delivery). */
	delivered = q->delivery;
	q->delivery.at = 0;
	if (handoff_sk && !(side == TG_SIDE_CLIENT ? event == HOP_OPEN || event == HOP_MORE_SEND
						      : event == HOP_CLOSE)) {
		drop_handoff(handoff_sk, handoff_at);
		handoff_sk = 0;
	}
	/* The listener this event serves: an upstream's is that of the last request it
	 * forwarded. Before its first forward (connecting, a TLS handshake) it has none, and
	 * the thread still serves what it served: the request that made it open. */
	hop.service_port = side == TG_SIDE_SERVER ? st->key.service_port : st->hop_port;
	if (hop.service_port)
		charge_on_cpu(q, &hop);
	hop.service_port = 0;
	if (event == HOP_MORE_RECV || (event == HOP_OPEN && side == TG_SIDE_SERVER) ||
	    (event == HOP_CLOSE && side == TG_SIDE_CLIENT))
		q->last_read_sk = skaddr;
	if (event == HOP_MORE_RECV) {
		/*
		 * More bytes read before the forward (or the reply's). The hop is timed from the
		 * last of them: a message is complete when its last byte arrives, and bytes
		 * read before it that the proxy forwards nothing for (an HTTP/2 WINDOW_UPDATE,
		 * a ping) must not count as the message's wait. On an upstream the last arrival
		 * is kept whatever is pending: replies multiplexed on it are paired by time. On
		 * a downstream, bytes after a pending read, or after a forward that took another
		 * request for this one's, may be a request of their own (rearm_request).
		 */
		if (side == TG_SIDE_CLIENT) {
			st->awaiting_reply = 0;
			if ((arrived = take_arrival(st, now))) {
				st->response_arrival_ns = arrived;
				st->response_pickup_ns = thread_pickup(q, st, arrived, now);
			}
			if (st->forwarded_ns)
				note_mux_reply(q, skaddr);
		} else if (st->multiplexed) {
			if ((arrived = take_arrival(st, now))) {
				st->latest_arrival_ns = arrived;
				st->request_pickup_ns = thread_pickup(q, st, arrived, now);
			}
			q->mux_down_sk = skaddr;
		} else if ((st->request_pending || st->forwarded_ns) &&
			   (arrived = take_arrival(st, now)) && rearm_request(q, st, arrived)) {
			st->request_pickup_ns = thread_pickup(q, st, arrived, now);
		}
		return;
	}
	if (event == HOP_MORE_SEND && side == TG_SIDE_SERVER && !st->multiplexed)
		return;
	if (side == TG_SIDE_SERVER) {
		hop.service_port = st->key.service_port;
		if (st->request_deferred)
			settle_request_hop(st, NULL); /* its reader never read, or its note was lost */
		if (st->response_deferred) /* likewise its reply's client */
			settle_response_hop(st, NULL, 0, &hop, hop_stats_of(&hop));
		if (st->multiplexed) {
			/* Its requests pair by the upstreams they go out on (mux_forward). */
			drop_handoff(handoff_sk, handoff_at);
			if (event == HOP_OPEN) {
				st->request_pending = 0; /* an entry of its own in the FIFO: stale */
				st->latest_arrival_ns = arrival_of(st, now, &hop);
				st->request_pickup_ns = thread_pickup(q, st, st->latest_arrival_ns, now);
				q->mux_down_sk = skaddr;
			} else if ((stats = hop_stats_of(&hop)) &&
				   !mux_replies(q, sk, st, skaddr, now, &delivered, &hop, stats) &&
				   !mux_reply_alone(q, sk, st, now, &delivered, &hop, stats) &&
				   event == HOP_CLOSE) {
				__sync_fetch_and_add(&stats->unpaired, 1);
			}
			return;
		}
		if (opening) {
			/* Downstream: a request arrives. */
			if (st->pool_taken)
				st->pool_taken = 0;
			st->request_seq++;
			st->request_pending = 1;
			st->request_hop_ns = 0;
			st->latest_arrival_ns = 0;
			arrived = arrival_of(st, now, &hop);
			st->request_pickup_ns = thread_pickup(q, st, arrived, now);
			hop_push(&q->request, arrived, skaddr, st->cookie,
				 (st->request_seq & HOP_SEQ_MASK) |
					 (__u32)st->unforwarded_reads << 31, /* HOP_TENTATIVE: 0 or 1 */
				 st->key.netns_inode);
			return;
		}
		/* Downstream: the response leaves, and this downstream exchange ends. Its request
		 * hop stays in request_hop_ns until the reply's hop is settled beside it. */
		stats = hop_stats_of(&hop);
		if (st->request_pending && q->last_read_sk)
			mark_carrier(q, st);
		st->request_pending = 0;
		up = NULL;
		arrived = linked_reply(q, st, skaddr, now, &up);
		if (!arrived && hop_pop(&q->response, now, 1, st->key.netns_inode, &e))
			arrived = e.read_ns;
		if (!arrived) {
			drop_handoff(handoff_sk, handoff_at);
			st->request_hop_ns = 0;
			if (stats) {
				__sync_fetch_and_add(&stats->unmatched_forwards, 1);
				__sync_fetch_and_add(&stats->unpaired, 1);
			}
			return;
		}
		/* To the reply's arrival at its socket, where the write delivered it (within a
		 * hop's age, 2 s: it fits), or on to the client (its wake-up, or its read when
		 * carried), when this write handed the reply to an idle one or carried it to a busy
		 * one (handoff.bpf.h). */
		end = delivery_end(sk, side, arrived, &delivered, now);
		st->response_hop_ns = end - arrived;
		linked = link_reply_handoff(handoff_sk, handoff_at, sk, skaddr, st, arrived, up, q, now);
		if (linked != 1)
			settle_response_hop(st, NULL, linked == 2, &hop, stats);
		return;
	}
	if (!opening) {
		/* Upstream: a response arrives. Keyed by the listener its request came in on;
		 * linked to that request's downstream, or else queued for the next reply. */
		hop.service_port = st->hop_port;
		st->awaiting_reply = 0;
		st->response_seq++;
		st->response_pending = 1;
		st->response_arrival_ns = arrival_of(st, now, &hop);
		st->response_pickup_ns = thread_pickup(q, st, st->response_arrival_ns, now);
		if (st->forwarded_ns)
			note_mux_reply(q, skaddr);
		else if (!st->peer_sk)
			hop_push(&q->response, st->response_arrival_ns, skaddr, st->cookie,
				 st->response_seq & HOP_SEQ_MASK, st->key.netns_inode);
		return;
	}
	/* Upstream: a request is forwarded. */
	if (event == HOP_MORE_SEND) {
		/* Stale entries at the head (requests answered by the proxy itself) must not
		 * hide the one this write forwards. */
		struct hop_entry *head;

		/* On a multiplexed upstream a write after a write also forwards a request read
		 * before the last one, when that request's downstream went out on this upstream
		 * before: the proxy's multiplexer sends the streams of one turn of its loop
		 * together (take_coalesced). */
		if (!(owner = hop_head(&q->request, now, 0, st->key.netns_inode, &head)) ||
		    (head->skaddr != q->last_read_sk &&
		     !(st->multiplexed && linked_to_pool(owner, st, skaddr)))) {
			/* Or, both sides multiplexed, another request of the downstream read last
			 * (mux_forward times it on its own). No sign that this upstream carries
			 * several when it is not marked yet: a request's body forwarded after its
			 * headers looks the same. */
			if (!st->multiplexed ||
			    !mux_forward(q, &q->last_read_sk, sk, st, skaddr, now, &delivered, &hop,
					 handoff_sk, handoff_at))
				drop_handoff(handoff_sk, handoff_at);
			return;
		}
		/* A second request on this upstream while one it forwarded waits for its reply
		 * (not merely after a write of the proxy's own, a TLS Finished). It marks the
		 * connection once it has had replies of its own; before that it is one sign
		 * (note_overlap): where the handshakes of new connections interleave with their
		 * first requests, a handshake's write can be taken for a request. */
		if (st->awaiting_reply && !st->multiplexed)
			overlap_sign(st, st->response_seq >= 3 ? OVERLAP_MARK : OVERLAP_SIGN);
	} else {
		/* A reply still pending here was answered some other way, or never. */
		st->response_pending = 0;
		/* Counted here only (count_forward): the first write after a read of the
		 * multiplexed downstream. A write after a write may be a body's next part, and
		 * one after a read of another socket (below: mux_down_sk) the proxy's own frame. */
		if (mux_forward(q, &q->last_read_sk, sk, st, skaddr, now, &delivered, &hop, handoff_sk,
				handoff_at)) {
			count_forward(st);
			return;
		}
	}
	owner = hop_pop(&q->request, now, 0, st->key.netns_inode, &e);
	/* With no request of the FIFO's pending, a forward on an idle upstream is taken for a
	 * request of the multiplexed downstream the thread read last: one that waited for an
	 * upstream, freed by a reply the thread read since. */
	if (!owner && event == HOP_OPEN &&
	    mux_forward(q, &q->mux_down_sk, sk, st, skaddr, now, &delivered, &hop, handoff_sk,
			handoff_at))
		return;
	if (!owner) {
		drop_handoff(handoff_sk, handoff_at);
		if (event == HOP_OPEN && q->last_read_sk)
			sign_second_request(q, st, skaddr);
		hop.service_port = st->hop_port;
		if ((stats = hop_stats_of(&hop)))
			__sync_fetch_and_add(&stats->unmatched_forwards, 1);
		return;
	}
	st->awaiting_reply = 1;
	count_forward(st);
	settle_mux_request(st);
	st->forwarded_ns = 0; /* no multiplexed downstream's request (mux_forward) */
	/* From the last bytes of the request read before this forward. */
	if (owner->latest_arrival_ns > e.read_ns && owner->latest_arrival_ns <= now)
		e.read_ns = owner->latest_arrival_ns;
	/* Replaces latest_arrival_ns, now used. Not the forward's time: on loopback the reply
	 * can arrive before the write that sent the request returns, when this runs. */
	owner->forwarded_ns = e.read_ns ? e.read_ns : 1;
	/* To the request's arrival at its socket, where the write delivered it. */
	end = delivery_end(sk, side, e.read_ns, &delivered, now);
	delay = end - e.read_ns;
	st->hop_port = owner->key.service_port;
	st->peer_sk = e.skaddr;
	st->peer_cookie = e.cookie;
	owner->peer_sk = skaddr;
	owner->peer_cookie = st->cookie;
	/* As it is, or (deferred) as it was if the hand-off below is never settled. */
	owner->request_hop_ns = delay ? delay : 1;
	/* Run on to the next reader's wake-up when this write handed the request to an idle one. */
	if (!link_handoff(handoff_sk, handoff_at, sk, owner, &e, q, now))
		record_request_hop(owner, delay, 0);
	if (st->multiplexed)
		take_coalesced(&q->request, st, skaddr, now, end);
}

/*
 * A segment reaches an established socket (softirq, or the sender's context on
 * loopback). An in-order data segment's time is when the latest unread bytes arrived,
 * which the read that takes them gives to the proxy hops: a message is complete when its
 * last byte arrives. (The first segment of a run of unread bytes was used before; a read
 * that took a reply together with bytes queued ahead of it then dated the reply before
 * the request it answers, on pipelined and multiplexed upstreams.)
 */
static __always_inline int handle_arrival(const struct sock *sk, const struct sk_buff *skb)
{
	__u64 skaddr = (__u64)sk;
	const struct tcp_skb_cb *cb = (const struct tcp_skb_cb *)&skb->cb[0];
	const struct tcp_sock *tp;
	struct sock_state *st;
	__u32 seq = cb->seq, end_seq = cb->end_seq, owner;
	__u64 now, ep = 0;
	int waiting = -1, waking; /* waiting: reader_waiting not read */
	__u8 role;

	/* In order and with data (end_seq counts SYN and FIN too: a FIN alone is no
	 * request); a segment out of order is queued aside, its bytes not yet readable.
	 * Checked before the socket's state is looked up: pure ACKs leave here. */
	if (end_seq - seq < 1 + !!(cb->tcp_flags & 1 /* FIN */))
		return 0;
	tp = tcp_of(sk);
	if (!tp || seq != tp->rcv_nxt)
		return 0;
	/* No filter test: a passive open's is decided only at its first read, after the
	 * request has arrived; untraced sockets' stamps are never used. */
	st = bpf_map_lookup_elem(&sockets, &skaddr);
	if (!st)
		return 0;
	/* Loads before stores: a load from a line this CPU has just begun to write waits for
	 * the line to come over from the reader's CPU (some 60 ns per arrival here), where a
	 * load of the line the reader shares costs nothing and a store does not wait. */
	role = st->arrival_role;
	owner = st->tgid;
	/* An earlier part of the message, unread (no read at all since it came), found its
	 * reader waiting. */
	waking = st->arrival_idle && seq != tp->copied_seq &&
		 tp->copied_seq == st->idle_copied_seq;
	now = bpf_ktime_get_ns();
	st->arrival_ns = now;
	/* The ACK of the oldest unread bytes: a read that takes several requests sent at
	 * different times (each as a reply came) then shows the first was sent before the
	 * replies after it were had (note_overlap). */
	if (seq == tp->copied_seq || !st->ack_known)
		st->arrival_ack = cb->ack_seq;
	st->ack_known = 1;
	/* Whether a proxy's thread waited for these bytes (a downstream's, or a passive open's
	 * before its first read, whose process is not known yet); read once, for the hand-off
	 * too when a proxy's write brought them (note_handoff). A message that comes in parts
	 * (an HTTP/2 app's reply and then its END_STREAM in a write of its own, a request's
	 * headers and then its body) has its later parts find the thread awake, woken by the
	 * first and not yet at its read: it waited for the message all the same, and its hop,
	 * which starts at the last part, is handed off as the message's (idle_pickup). Taken
	 * for busy, (j)'s proxy handed off 13% of its replies. What is checked is only that
	 * bytes are still unread and no read came since the arrival that found the reader
	 * waiting, however long ago: the frames of another stream, or a pipelined request,
	 * sent just before count as an earlier part too. A proxy switched in already when the
	 * last part comes (woken by the first) has its hop start at that arrival, and what it
	 * works elsewhere from then to its read is in the hop (idle_pickup, woke_at). */
	if (role & ARRIVAL_READER_IDLE) {
		waiting = reader_waiting(sk, &ep);
		st->arrival_idle = waiting || waking;
		if (waiting)
			st->idle_copied_seq = tp->copied_seq;
	}
	note_arrival_by_proxy(sk, st, role, owner, end_seq, now, waiting, ep);
	return 0;
}

/*
 * The smoothed RTT is sampled at a connection's first exchange and every SRTT_EVERY-th
 * after it: the kernel already averages it over segments, so each exchange's reading
 * says little the last did not, and a histogram update is a map lookup. Its mean stays
 * exact over the samples (sum and count are both theirs); exchange counts and latencies
 * stay exact for every exchange.
 */
#define SRTT_EVERY 8

/* An exchange ends: its latency, unless the connection carries several at once. */
static __always_inline void count_exchange(const struct sock *sk, struct sock_state *st,
					   const struct tg_edge_key *counted,
					   struct tg_edge_stats *stats, __u64 now)
{
	/* Its requests are counted from the frames instead (http2_count). */
	if (st->http2 == H2_FRAMED)
		__sync_fetch_and_add(&stats->http2_exchanges, 1);
	if (st->multiplexed) {
		/* A reply here may answer any of the requests in flight. */
		__sync_fetch_and_add(&stats->multiplexed_exchanges, 1);
	} else {
		__sync_fetch_and_add(&stats->exchanges, 1);
		__sync_fetch_and_add(&stats->exchange_ns_sum, now - st->exchange_start_ns);
		record_latency(counted, TG_METRIC_EXCHANGE_LATENCY, now - st->exchange_start_ns);
	}
	if (st->srtt_skip) {
		st->srtt_skip--;
		return;
	}
	st->srtt_skip = SRTT_EVERY - 1;
	record_srtt(sk, counted, stats);
}

/*
 * HTTP/2's requests, on a connection's requests' direction (a client's writes, a server's
 * reads): at its first bytes whether they begin with the preface, and on a connection that
 * did, the requests its frames open (http2_frames.bpf.h). Only such connections pay for
 * more than a byte's test here. Returns 0 when the bytes were HTTP/2's control frames
 * alone (the preface, SETTINGS, WINDOW_UPDATE, PING...), which are no part of an exchange:
 * taken for one, a proxy's WINDOW_UPDATE to its upstream after each reply was a forward
 * with no request (unmatched) and, before the next request's, a second forward on an
 * upstream awaiting its reply, which marked a one-call-at-a-time connection multiplexed.
 */
static __always_inline int http2_count(const struct sock *sk, struct sock_state *st,
				       __u64 skaddr, int ret, __u8 dir,
				       struct tg_edge_stats *stats)
{
	const struct tcp_sock *tp = tcp_of(sk);
	struct http2_framing *f;
	struct http2_syscall *sc;
	__u32 skip = 0, zero = 0, seq;
	int walked;

	if (!http2_readable() || !tp) {
		st->http2 = H2_NOT;
		return 1;
	}
	/* Where this syscall's bytes end in the stream: the next one's must begin there. */
	seq = dir == DIR_SEND ? tp->write_seq : tp->copied_seq;
	if (st->http2 == H2_UNCHECKED) {
		st->http2 = H2_NOT;
		sc = bpf_map_lookup_elem(&http2_scratch, &zero);
		if (!sc || !http2_preface(ret))
			return 1;
		__builtin_memset(&sc->fresh, 0, sizeof(sc->fresh));
		sc->fresh.cookie = st->cookie;
		sc->fresh.next_seq = seq - ret;
		sc->fresh.content_seq = seq - ret;
		if (bpf_map_update_elem(&http2_frames, &skaddr, &sc->fresh, BPF_ANY)) {
			LOST(http2_map_full);
			return 1;
		}
		st->http2 = H2_FRAMED;
		skip = H2_PREFACE_LEN;
	}
	f = bpf_map_lookup_elem(&http2_frames, &skaddr);
	if (!f || f->cookie != st->cookie)
		goto lost;
	/* A read that took the peer's FIN moved copied_seq one further (the FIN's number). */
	if (dir == DIR_RECV && sk->__sk_common.skc_state != TCP_ESTABLISHED &&
	    f->next_seq + ret + 1 == seq)
		seq--;
	/* Bytes of this direction that passed no syscall seen here (splice, sendfile, a
	 * thread's read between another's and its tracepoint) put the walk out of step. */
	if (f->next_seq != seq - ret)
		goto lost;
	walked = http2_follow(f, ret, skip);
	if (walked < 0)
		goto lost;
	f->next_seq = seq;
	if (walked >= 2 && stats)
		__sync_fetch_and_add(&stats->http2_requests, walked >> 1);
	if (walked & 1)
		f->content_seq = seq;
	return walked & 1;
lost:
	st->http2 = H2_LOST;
	bpf_map_delete_elem(&http2_frames, &skaddr);
	return 1;
}

static __always_inline int handle_io(struct sock *sk, int ret, int flags, __u8 dir)
{
	__u64 skaddr = (__u64)sk, now = bpf_ktime_get_ns();
	const struct tg_edge_key *counted;
	struct tg_edge_stats *stats;
	struct tg_edge_key spare;
	enum hop_event event;
	struct sock_state *st;
	__u8 opening;

	if (ret <= 0 || (dir == DIR_RECV && (flags & MSG_PEEK)) || !sk || !is_tcp(sk))
		return 0;
	st = state_of(sk);
	if (!st) {
		/* A socket opened before we started (or before the filter chose it). Not one
		 * already closed: its state went at its close, and a new one would never go (a
		 * read of what was left queued after a reset comes here, its port released). */
		if (sk->__sk_common.skc_state == TCP_CLOSE || !filter_selects(sk, 1))
			return 0;
		st = new_state(sk, adopted_side(sk));
		if (!st)
			return 0;
		st->accepted = 2; /* adopted: its open happened before us */
		st->http2 = H2_NOT; /* its first bytes are long gone */
		st->retrans_seen = BPF_CORE_READ((struct tcp_sock *)sk, total_retrans);
	}
	if (!traced(st, sk, 1))
		return 0;
	if (!st->has_key) {
		st->tgid = bpf_get_current_pid_tgid() >> 32;
		fill_key(st, sk);
		is_proxy(st);
		settle_arrival_role(st); /* the answer may be the one a fresh state holds */
	}
	/* Without stats (no room even folded) the exchange and the proxy's hops are still
	 * followed: only this event's counts are lost, and counted. */
	stats = edge_stats(st, &st->key, &spare, &counted);
	/* A long run of forwards with no reply read (long polls, slow replies on one HTTP/2
	 * upstream): at a write after a write, its requests so far are counted, the rest at
	 * the reply or the upstream's close, so that the run's byte does not fill and lose
	 * requests; the exchange is still counted once, at the reply. Not at a write after a
	 * read: that run was counted at the read. Here, where few of the verifier's paths
	 * have split yet: after the pairing the send program passed the verifier's million
	 * instructions, and at the event's kind it processed 66,000 more; here 2,000 more. */
	if (dir == DIR_SEND && st->last_dir == DIR_SEND && st->forwards_run >= FORWARDS_RUN_FLUSH &&
	    stats && counts_forwards(st)) {
		__sync_fetch_and_add(&stats->forwarded_requests, st->forwards_run);
		st->forwards_run = 0;
	}
	if (stats && st->accepted != 1 && (st->side == TG_SIDE_SERVER || st->accepted == 2)) {
		__sync_fetch_and_add(st->accepted == 2 ? &stats->adopted : &stats->accepts, 1);
		st->accepted = 1;
		sample_tuple(sk, counted, &st->key, stats, now);
	}
	if (stats && dir == DIR_SEND) {
		__sync_fetch_and_add(&stats->bytes_sent, ret);
		__sync_fetch_and_add(&stats->send_ops, 1);
	} else if (stats) {
		__sync_fetch_and_add(&stats->bytes_received, ret);
		__sync_fetch_and_add(&stats->recv_ops, 1);
	}
	/*
	 * Exchange latency, paired by the direction change: the side that opens an exchange
	 * (client: send, server: receive) starts the clock on its first byte after the other
	 * direction; the first byte the other way stops it.
	 */
	opening = st->side == TG_SIDE_SERVER ? DIR_RECV : DIR_SEND;
	if (dir == opening ? (st->http2 == H2_UNCHECKED || st->http2 == H2_FRAMED) &&
				     !http2_count(sk, st, skaddr, ret, dir, stats)
			   : (st->http2 == H2_FRAMED || st->http2 == H2_LOST) && http2_readable() &&
				     http2_control_only(ret)) {
		/* Control frames alone: counted in bytes and operations only. */
		if (dir == DIR_SEND && is_proxy(st))
			forget_write();
		return 0;
	}
	if (dir == DIR_RECV) {
		note_overlap(sk, st);
		if (st->handoff_pending)
			read_after_handoff(skaddr, st, now);
	}
	if (dir == opening && st->last_dir != opening) {
		st->exchange_start_ns = now;
		event = HOP_OPEN;
	} else if (dir == st->last_dir) {
		event = dir == DIR_SEND ? HOP_MORE_SEND : HOP_MORE_RECV;
	} else if (dir != opening && st->last_dir == opening && st->exchange_start_ns) {
		if (stats)
			count_exchange(sk, st, counted, stats, now);
		/* A proxy's multiplexed upstream: the requests its writes since the last reply
		 * carried (count_forward), which this direction change counts as one, or as one
		 * where they were the proxy's own frames. Not where the frames count them
		 * (http2_count). */
		if (stats && counts_forwards(st)) {
			__sync_fetch_and_add(&stats->forwarded_exchanges, 1);
			if (st->forwards_run)
				__sync_fetch_and_add(&stats->forwarded_requests, st->forwards_run);
		}
		if (st->overlap_score)
			st->overlap_score--;
		if (st->exchanges_seen < 255)
			st->exchanges_seen++;
		event = HOP_CLOSE;
	} else {
		event = HOP_NONE;
	}
	st->last_dir = dir;
	/* A run of writes begins. Written only when it holds a count: an ordinary socket's
	 * cold fields never move. */
	if (event == HOP_OPEN && st->forwards_run)
		st->forwards_run = 0;
	if (event != HOP_NONE)
		pair_hops(sk, st, skaddr, event, now, dir);
	return 0;
}

static __always_inline int handle_retransmit(const struct sock *sk)
{
	struct tg_edge_stats *stats;
	struct sock_state *st;

	if ((stats = traced_stats(sk, &st)))
		count_retransmits(st, sk, stats);
	return 0;
}

static __always_inline int handle_reset(const struct sock *sk, int received)
{
	__u64 skaddr = (__u64)sk;
	const struct tg_edge_key *counted;
	struct tg_edge_key *key = NULL, spare;
	struct closed_socket *closed;
	struct tg_edge_stats *stats;
	struct sock_state *st;

	if ((st = traced_state(sk)))
		key = key_of(st, sk);
	else if (sk && (closed = bpf_map_lookup_elem(&closed_sockets, &skaddr)) &&
		 closed->cookie == cookie_of(sk))
		key = &closed->key;
	if (!key || !(stats = edge_stats(st, key, &spare, &counted)))
		return 0;
	__sync_fetch_and_add(received ? &stats->resets_received : &stats->resets_sent, 1);
	return 0;
}

static __always_inline int handle_drop(const struct sk_buff *skb, const struct sock *rx_sk)
{
	const struct sock *sk = rx_sk ? rx_sk : skb->sk;
	__u64 skaddr = (__u64)sk;
	const struct tg_edge_key *counted;
	struct tg_edge_key *key, spare;
	struct tg_edge_stats *stats;
	struct sock_state *st;

	/* By address alone: the socket here is no pointer the cookie helper takes (a stale
	 * state could take one drop; it is dropped at the socket's next other event). */
	if (!sk || !(st = bpf_map_lookup_elem(&sockets, &skaddr)) || !traced(st, sk, 0) ||
	    !(key = key_of(st, sk)))
		return 0;
	if ((stats = edge_stats(st, key, &spare, &counted)))
		__sync_fetch_and_add(&stats->drops, 1);
	return 0;
}

/*
 * A process starts or ends: who it is, sent at once, while /proc may still have it (the
 * agent reads its command line then) and for naming its records after it has gone.
 * `task` is the process (the child, for a fork); the cgroup is the current task's, which
 * is the process itself or, at a fork, the parent whose cgroup the child starts in.
 */
static __always_inline int handle_process(const struct task_struct *task, __u32 event, __u32 parent_tgid)
{
	__u32 netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	struct tg_process_record *e;

	if (filter_mode != TG_FILTER_ALL && !listed(netns, 1))
		return 0;
	e = bpf_ringbuf_reserve(&process_events, sizeof(*e), 0);
	if (!e) {
		LOST(process_events_full);
		return 0;
	}
	e->tgid = BPF_CORE_READ(task, tgid);
	e->event = event;
	/* The leader's, as /proc/<pid>/stat gives it (an exec from a thread took it over). */
	e->start_boottime_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->netns_inode = netns;
	e->parent_tgid = parent_tgid;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Preferred: BTF tracepoints. */

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tg_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return handle_set_state(sk, oldstate, newstate);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(tg_send, struct sock *sk, int ret, int flags)
{
	return handle_io(sk, ret, flags, DIR_SEND);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tg_recv, struct sock *sk, int ret, int flags)
{
	return handle_io(sk, ret, flags, DIR_RECV);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tg_retransmit, const struct sock *sk)
{
	return handle_retransmit(sk);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tg_receive_reset, struct sock *sk)
{
	return handle_reset(sk, 1);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tg_send_reset, const struct sock *sk)
{
	return handle_reset(sk, 0);
}

/* 6.11+: the receiving socket is an argument. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(tg_drop, struct sk_buff *skb, void *location, int reason, struct sock *rx_sk)
{
	return handle_drop(skb, rx_sk);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(tg_drop_skb_sk, struct sk_buff *skb)
{
	return handle_drop(skb, NULL);
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(tg_arrival, struct sock *sk, struct sk_buff *skb)
{
	return handle_arrival(sk, skb);
}

/* Chosen over sys_enter_execve: it fires once the new program is in place, so the comm
 * and the command line are the new ones. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(tg_exec, struct task_struct *p)
{
	return handle_process(p, TG_PROCESS_EXEC, 0);
}

/* A new process without an exec (a fork-per-request worker); threads are left out. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(tg_fork, struct task_struct *parent, struct task_struct *child)
{
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	return handle_process(child, TG_PROCESS_FORK, BPF_CORE_READ(parent, tgid));
}

/* The last thread of a process exits (group_dead): fires for every thread. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tg_exit, struct task_struct *p, bool group_dead)
{
	if (!group_dead)
		return 0;
	return handle_process(p, TG_PROCESS_EXIT, 0);
}

/* Kernels whose tracepoint has no group_dead: the leader's exit stands for the process. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tg_exit_leader, struct task_struct *p)
{
	if (BPF_CORE_READ(p, pid) != BPF_CORE_READ(p, tgid))
		return 0;
	return handle_process(p, TG_PROCESS_EXIT, 0);
}

/* Every context switch of the node: the one moment a thread's run-queue wait ends, and
 * a proxy's run on the CPU ends or begins (neighbours.bpf.h), and when a thread came onto
 * the CPU, where a handed-off hop begins and ends (handoff.bpf.h). Attached only while
 * the runner lists a proxy (follow_proxies): a node without one pays nothing for it. */
SEC("tp_btf/sched_switch")
int BPF_PROG(tg_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	note_switch_in(next);
	return handle_switch(prev, next);
}

/* Fallbacks for kernels without those tracepoints. */

SEC("fexit/sock_sendmsg")
int BPF_PROG(tg_send_fexit, struct socket *sock, struct msghdr *msg, int ret)
{
	return handle_io(sock->sk, ret, 0, DIR_SEND);
}

SEC("fexit/sock_recvmsg")
int BPF_PROG(tg_recv_fexit, struct socket *sock, struct msghdr *msg, int flags, int ret)
{
	return handle_io(sock->sk, ret, flags, DIR_RECV);
}

SEC("fentry/tcp_reset")
int BPF_PROG(tg_receive_reset_fentry, struct sock *sk)
{
	return handle_reset(sk, 1);
}

SEC("fentry/tcp_send_active_reset")
int BPF_PROG(tg_send_reset_fentry, struct sock *sk)
{
	return handle_reset(sk, 0);
}

/* The kernel's name for the licence in the SPDX line above: GPL-compatible, as the
 * helpers used here require (bpf_probe_read_kernel among them). */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
