// SPDX-License-Identifier: Apache-2.0
/*
 * Per-process TCP metrics, aggregated in the kernel by (process, side, peer service
 * endpoint). Tracepoints only (tp_btf): the machines this must run on may have neither
 * kprobes nor fentry.
 *
 * Hooks, and why each:
 *  - sock:inet_sock_set_state: every TCP state change, with the socket; gives active
 *    opens (SYN_SENT -> ESTABLISHED, with the connect latency), passive opens
 *    (SYN_RECV -> ESTABLISHED) and closes, without a probe on any kernel function.
 *  - sock:sock_send_length / sock:sock_recv_length: the return of sock_sendmsg and
 *    sock_recvmsg with the socket and the byte count, in the calling process's context,
 *    so bytes, operations and the process are known at once; the direction changes
 *    pair requests with replies for the exchange latency.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "histogram.h"
#include "tollgate.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define MSG_PEEK 2

enum direction { DIR_NONE = 0, DIR_SEND = 1, DIR_RECV = 2 };

/* What we remember about one socket between events. */
struct sock_state {
	struct tg_edge_key key;
	__u64 syn_sent_ns;
	__u64 exchange_start_ns;
	__u32 tgid; /* the owning process, learnt in process context */
	__u8 side;
	__u8 last_dir;
	__u8 has_key;  /* key filled (addresses and process known) */
	__u8 accepted; /* the passive open was counted */
};

/* Per-socket state, keyed by the socket's address; LRU so that sockets whose close
 * we miss cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sock_state);
} sockets SEC(".maps");

/* Aggregates, drained (looked up and deleted) by the runner every interval. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tg_edge_key);
	__type(value, struct tg_edge_stats);
} edges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tg_hist_key);
	__type(value, __u64);
} histograms SEC(".maps");

/* Everything that could not be accounted, cumulative. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_lost);
} lost SEC(".maps");

static __always_inline struct tg_lost *lost_counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&lost, &zero);
}

static __always_inline int is_tcp(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family != AF_INET && family != AF_INET6)
		return 0;
	return BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP;
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
	if (st->side == TG_SIDE_SERVER)
		k->service_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	else
		k->service_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	st->has_key = 1;
}

static __always_inline struct tg_edge_stats *edge_stats(const struct tg_edge_key *key)
{
	struct tg_edge_stats *stats, zero = {};
	struct tg_lost *l;

	stats = bpf_map_lookup_elem(&edges, key);
	if (stats)
		return stats;
	if (bpf_map_update_elem(&edges, key, &zero, BPF_NOEXIST) && (l = lost_counters()))
		__sync_fetch_and_add(&l->edge_map_full, 1);
	return bpf_map_lookup_elem(&edges, key);
}

static __always_inline void record_latency(const struct tg_edge_key *edge, __u32 metric, __u64 ns)
{
	struct tg_hist_key key = { .edge = *edge, .metric = metric, .bucket = tg_hist_index(ns) };
	__u64 one = 1, *count;
	struct tg_lost *l;

	count = bpf_map_lookup_elem(&histograms, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return;
	}
	if (bpf_map_update_elem(&histograms, &key, &one, BPF_NOEXIST)) {
		/* Lost the race to create it, or the map is full. */
		count = bpf_map_lookup_elem(&histograms, &key);
		if (count)
			__sync_fetch_and_add(count, 1);
		else if ((l = lost_counters()))
			__sync_fetch_and_add(&l->hist_map_full, 1);
	}
}

static __always_inline struct sock_state *new_state(__u64 skaddr, __u8 side)
{
	struct sock_state st = { .side = side };
	struct tg_lost *l;

	if (bpf_map_update_elem(&sockets, &skaddr, &st, BPF_ANY) && (l = lost_counters()))
		__sync_fetch_and_add(&l->sock_map_full, 1);
	return bpf_map_lookup_elem(&sockets, &skaddr);
}

static int handle_set_state(const struct sock *sk, int oldstate, int newstate)
{
	__u64 skaddr = (__u64)sk, now = bpf_ktime_get_ns();
	struct tg_edge_stats *stats;
	struct sock_state *st;

	if (!is_tcp(sk))
		return 0;
	if (newstate == TCP_SYN_SENT) {
		/* connect(): process context, the caller is known. */
		st = new_state(skaddr, TG_SIDE_CLIENT);
		if (st) {
			st->syn_sent_ns = now;
			st->tgid = bpf_get_current_pid_tgid() >> 32;
		}
		return 0;
	}
	if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED) {
		/* Passive open, in softirq: the process is learnt at its first read or write. */
		new_state(skaddr, TG_SIDE_SERVER);
		return 0;
	}
	st = bpf_map_lookup_elem(&sockets, &skaddr);
	if (!st)
		return 0;
	if (oldstate == TCP_SYN_SENT && newstate == TCP_ESTABLISHED) {
		/* Runs in softirq when the SYN-ACK arrives: the key takes the tgid that
		 * connect() left, not whoever the CPU was running. */
		if (!st->has_key)
			fill_key(st, sk);
		stats = edge_stats(&st->key);
		if (stats) {
			__sync_fetch_and_add(&stats->connects, 1);
			__sync_fetch_and_add(&stats->connect_ns_sum, now - st->syn_sent_ns);
		}
		record_latency(&st->key, TG_METRIC_CONNECT_LATENCY, now - st->syn_sent_ns);
		return 0;
	}
	if (newstate == TCP_CLOSE) {
		/* A refused connect never reached ESTABLISHED: key it now, to count the error. */
		if (!st->has_key && st->tgid)
			fill_key(st, sk);
		if (st->has_key) {
			stats = edge_stats(&st->key);
			if (stats) {
				if (oldstate == TCP_SYN_SENT)
					__sync_fetch_and_add(&stats->connect_errors, 1);
				else
					__sync_fetch_and_add(&stats->closes, 1);
			}
		}
		bpf_map_delete_elem(&sockets, &skaddr);
	}
	return 0;
}

static int handle_io(struct sock *sk, int ret, int flags, __u8 dir)
{
	__u64 skaddr = (__u64)sk, now = bpf_ktime_get_ns();
	struct tg_edge_stats *stats;
	struct sock_state *st;
	__u8 opening;

	if (ret <= 0 || (dir == DIR_RECV && (flags & MSG_PEEK)) || !is_tcp(sk))
		return 0;
	st = bpf_map_lookup_elem(&sockets, &skaddr);
	if (!st) {
		/* A socket opened before we started: guess its side from the ports. */
		__u16 local = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u16 remote = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));

		st = new_state(skaddr, local > remote ? TG_SIDE_CLIENT : TG_SIDE_SERVER);
		if (!st)
			return 0;
		st->accepted = 1; /* its open happened before us: not counted */
	}
	if (!st->has_key) {
		st->tgid = bpf_get_current_pid_tgid() >> 32;
		fill_key(st, sk);
	}
	stats = edge_stats(&st->key);
	if (!stats)
		return 0;
	if (st->side == TG_SIDE_SERVER && !st->accepted) {
		st->accepted = 1;
		__sync_fetch_and_add(&stats->accepts, 1);
	}
	if (dir == DIR_SEND) {
		__sync_fetch_and_add(&stats->bytes_sent, ret);
		__sync_fetch_and_add(&stats->send_ops, 1);
	} else {
		__sync_fetch_and_add(&stats->bytes_received, ret);
		__sync_fetch_and_add(&stats->recv_ops, 1);
	}
	/*
	 * Exchange latency, paired by the direction change: the side that opens an exchange
	 * (client: send, server: receive) starts the clock on its first byte after the other
	 * direction; the first byte the other way stops it.
	 */
	opening = st->side == TG_SIDE_SERVER ? DIR_RECV : DIR_SEND;
	if (dir == opening && st->last_dir != opening) {
		st->exchange_start_ns = now;
	} else if (dir != opening && st->last_dir == opening && st->exchange_start_ns) {
		__sync_fetch_and_add(&stats->exchanges, 1);
		__sync_fetch_and_add(&stats->exchange_ns_sum, now - st->exchange_start_ns);
		record_latency(&st->key, TG_METRIC_EXCHANGE_LATENCY, now - st->exchange_start_ns);
	}
	st->last_dir = dir;
	return 0;
}

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

char LICENSE[] SEC("license") = "Dual BSD/GPL";
