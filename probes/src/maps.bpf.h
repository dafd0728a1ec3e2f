/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel side's maps, named by role, and the small accessors the handlers share.
 *
 * Aggregates are double-buffered. Histograms, tuples and hop stats are each an ARRAY_OF_MAPS
 * of one slot that points at one of two hash maps (edges are slots of an array; see
 * edge_slots). The runner points the slot at the
 * other map, which makes the kernel wait for every program still running (map-in-map
 * updates synchronise RCU), and then drains the retired map with no writer left: counts
 * stay exact under load. Everything is bounded; what does not fit is counted in `lost`.
 */
#ifndef TOLLGATE_MAPS_BPF_H
#define TOLLGATE_MAPS_BPF_H

#define TG_PF_KTHREAD 0x00200000 /* include/linux/sched.h: PF_KTHREAD, a kernel thread */

/*
 * What we remember about one socket between events.
 *
 * Laid out by who writes what. The arrival (tcp:tcp_probe) runs on the CPU that delivers
 * the segment, which on loopback or a veth is the sender's, while the socket's reader
 * writes the rest on its own CPU: a field of each in one cache line makes every arrival
 * take the line from the reader's CPU and the reader take it back. So the fields the
 * arrival writes have 24 bytes of their own, with 56 bytes on each side that no event of
 * an ordinary socket writes: before them the key and the cookie, written once (and before
 * those the hash element's own key, which every lookup reads); after them what is written
 * at the open, once an interval, when the filter or the proxy list changes, or by a
 * proxy's events. Then what the reader writes. A hash element holds the kernel's header,
 * the 8-byte key and the state, 248 bytes here, so a state may begin anywhere in a line:
 * hence 56 bytes on each side.
 */
struct sock_state {
	struct tg_edge_key key;
	/* Which socket this is: its address may be a later socket's once it is freed, its
	 * cookie never (bpf_get_socket_cookie). */
	__u64 cookie;

	/* Written by the arrival (handle_arrival, and in a proxy's thread inherit_pickup). */
	__u64 arrival_ns;     /* when the latest unread bytes were queued (tcp:tcp_probe) */
	/* The ACK the data segment that began the unread bytes carried: how much of this end's
	 * stream the peer had when it sent the oldest of them (valid once ack_known). */
	__u32 arrival_ack;
	/* With self_delivered: the idle pickup of the request the proxy's write carried, which
	 * stands for this socket's own (inherit_pickup). */
	__u32 inherited_pickup_ns;
	__u8 ack_known;     /* arrival_ack was set by a data segment */
	__u8 arrival_idle;  /* a reader waited for the latest arrival, or for an earlier
			     * part of its message still unread (ARRIVAL_READER_IDLE) */
	/* The latest arrival came by its owner's own write (inherit_pickup): a proxy with both
	 * ends of a connection, as one node proxy tunnelling between two pods of its node. */
	__u8 self_delivered;
	__u8 pad_arrival;
	/* tcp_sock.copied_seq at the latest arrival that found a reader waiting: no read
	 * since while it is still there (a message's later parts, handle_arrival). */
	__u32 idle_copied_seq;

	/* Written by no event of an ordinary socket but its first ones, one an interval, and
	 * those after the filter or the proxy list changed; the last of them by a proxy's
	 * events too. The arrival reads arrival_role and tgid. */
	__u64 syn_sent_ns;
	__u32 tgid; /* the owning process, learnt in process context */
	__u32 filter_generation; /* of the `traced` decision */
	__u32 proxy_generation; /* of the `proxy` answer (is_proxy) */
	__u32 retrans_seen; /* tcp_sock.total_retrans already counted */
	__u32 edge_epoch; /* the interval (interval_seq) of edge_slot */
	__u32 edge_slot;  /* 1 + the slot of edge_slots this socket counts in, 0: none yet */
	/* What the arrival does on this socket beyond its stamp and, in a proxy's thread, the
	 * note of the proxy's delivery (enum arrival_role). */
	__u8 arrival_role;
	__u8 side;
	__u8 has_key;  /* key filled (addresses and process known) */
	/* 0: a server end's open not yet counted (it is at its first counted event); 1: its
	 * open counted (an accept, or an adoption); 2: adopted, not yet counted. */
	__u8 accepted;
	__u8 traced;   /* passes the filter */
	__u8 decided;  /* `traced` is final for filter_generation */
	__u8 proxy;    /* the owning process is a proxy (is_proxy) */
	__u8 multiplexed;   /* carries several requests at once: exchanges not timed */
	/* Written by a proxy's events only: an ordinary socket's never move. */
	__u16 hop_port;     /* proxy upstream: the listener of the last request it forwarded */
	__u8 awaiting_reply; /* proxy upstream: a request went out, nothing read since */
	__u8 request_pending;
	__u8 response_pending;
	/* Proxy downstream, or upstream carrying a multiplexed downstream's request
	 * (link_mux_handoff): its request hop waits for the next reader. */
	__u8 request_deferred;
	__u8 response_deferred; /* proxy downstream: its reply's hop waits for the client's read */
	/* Proxy upstream: requests its writes forwarded since its last reply was read, or
	 * since a long run's were last moved into forwarded_requests (FORWARDS_RUN_FLUSH), for
	 * the exchange that reply ends, or for the close that ends it with no reply. */
	__u8 forwards_run;
	/* Proxy: the other socket of the last forward, a downstream's upstream or an
	 * upstream's downstream (peer_cookie, its cookie). */
	__u64 peer_sk;

	/* Written by the reader, and by the proxy pairing. */
	__u64 exchange_start_ns;
	union {
		__u64 request_hop_ns;      /* proxy downstream: its request's paired hop, 0: none */
		__u64 response_arrival_ns; /* proxy upstream: when its pending reply arrived */
	};
	/* Proxy: the other socket of the last forward's cookie (peer_sk, its address). */
	__u64 peer_cookie;
	union {
		/* Proxy downstream, before its request's forward: the arrival of the last bytes
		 * read while it waited, 0 when none came after the first. */
		__u64 latest_arrival_ns;
		/* Proxy downstream, after it: when the forwarded request arrived, 0 once
		 * answered (a reply cannot arrive before its request did). Proxy upstream: the
		 * same of the multiplexed downstream's request it carries (mux_forward). */
		__u64 forwarded_ns;
	};
	__u32 request_seq;  /* proxy pairing: this downstream's pending request */
	__u32 response_seq; /* proxy pairing: this upstream's pending response */
	/* The wait from the latest arrival to the read that took it, when the proxy's thread
	 * was idle at the arrival; 0 when it was busy or the arrival unknown: of a downstream's
	 * request, of an upstream's reply. */
	union {
		__u32 request_pickup_ns;
		__u32 response_pickup_ns;
	};
	union {
		/* Proxy downstream, with response_deferred: its reply's hop as it is, to the
		 * write's delivery, kept if the client's read never settles it. */
		__u32 response_hop_ns;
		/* Proxy upstream carrying a multiplexed downstream's request (mux_forward):
		 * that request's hop, 0: none. */
		__u32 mux_request_hop_ns;
	};
	__u8 overlap_score; /* signs of requests in flight at once, less the exchanges since */
	__u8 exchanges_seen; /* direction changes that ended an exchange, up to 255 */
	__u8 srtt_skip;      /* exchanges to go before the next srtt sample (SRTT_EVERY) */
	__u8 last_dir;
	/* The hand-off (handoff.bpf.h): set by a proxy's write, cleared by this reader. */
	__u8 handoff_pending;  /* next reader: a proxy's hand-off waits for this socket's read */
	__u8 http2;  /* enum http2_state (http2_frames.bpf.h) */
	/* Proxy downstream: its request went out with a write on another connection of its
	 * upstream's pool than its own (take_coalesced), until its next request. */
	__u8 pool_taken;
	/* Proxy downstream, 0 or 1: its peer sends bytes after a reply that the proxy forwards
	 * nothing for (HTTP/2's control frames inside TLS), as seen when a request came
	 * behind such a read (rearm_request): its reads after a reply are queued tentative
	 * (hop_search). */
	__u8 unforwarded_reads;
};

_Static_assert(sizeof(struct sock_state) == 192, "no larger than it was");
_Static_assert(__builtin_offsetof(struct sock_state, arrival_ns) == 56,
	       "56 bytes written once before the arrival's fields, the hash element's key behind them");
_Static_assert(__builtin_offsetof(struct sock_state, syn_sent_ns) - __builtin_offsetof(struct sock_state, arrival_ns) == 24,
	       "the arrival's fields in 24 bytes");
_Static_assert(__builtin_offsetof(struct sock_state, exchange_start_ns) - __builtin_offsetof(struct sock_state, syn_sent_ns) == 56,
	       "56 bytes no event of an ordinary socket writes");

/* sock_state.arrival_role: bits. */
enum arrival_role {
	/* A proxy's socket (its downstream, its upstream), or a passive open whose process is
	 * not known yet: the arrival notes whether a reader waited (arrival_idle). */
	ARRIVAL_READER_IDLE = 1,
	/* A server's end: where a proxy's forward can hand a request to (note_handoff).
	 * Without it, a client's end: where a proxy's reply can be handed to, when the client
	 * is no proxy (no ARRIVAL_READER_IDLE). */
	ARRIVAL_SERVER_SIDE = 2,
};

/*
 * Per-socket state, keyed by the socket's address. A plain hash, not an LRU: a live
 * socket's state is never evicted to make room; when the map is full a new socket is
 * not traced, and that is counted (sock_map_full). Every state goes at the socket's
 * TCP_CLOSE, and carries the socket's cookie, so a later socket at the same address
 * never takes a freed one's state (one found so is dropped and counted, sock_state_stale).
 * Not BPF_MAP_TYPE_SK_STORAGE: the proxy pairing reaches a socket's state from another
 * socket's (by address, checked by cookie), which a socket's own storage cannot give.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sock_state);
} sockets SEC(".maps");

/*
 * Where new_state builds a state before it goes into `sockets`: on the send program's
 * stack its 192 bytes left no room for the pairing (the verifier's 512 bytes). Per CPU: a
 * program preempted between the fill and the insert by another that creates a state on
 * the same CPU would insert that one's, whose cookie its socket's next event finds wrong:
 * dropped then as stale, and counted (sock_state_stale).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sock_state);
} sock_state_scratch SEC(".maps");

/* The key of a socket that just closed, and the socket's cookie. */
struct closed_socket {
	struct tg_edge_key key;
	__u64 cookie;
};

/*
 * Sockets that just closed: the kernel sends an RST for an abortive close (SO_LINGER 0,
 * unread data) after it has moved the socket to TCP_CLOSE. LRU: a closed socket's entry
 * is only wanted for that moment.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct closed_socket);
} closed_sockets SEC(".maps");

/*
 * Edge aggregates, double-buffered by the interval's parity: slots [0, N) are the even
 * intervals', [N, 2N) the odd ones' (N is the runner's --edges). An edge takes a slot at
 * its first event of an interval (edge_index, by key), and each socket remembers its slot
 * for the rest of that interval (sock_state.edge_slot), so an event's counts cost an index
 * into an array, not a lookup by a 48-byte key (which cost each send and receive 10-12
 * ns more: docs/kernel-probes.md, bench probes). Once the interval has turned and every
 * program that saw the old one has finished (the runner's swaps of the other aggregates
 * wait for that), the runner reads the retired half through a memory mapping, zeroes it
 * and frees its slots (drain_edges). An array is preallocated: 2N x 192 bytes, locked
 * from the start (6 MiB at the default N).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2 * 16384);
	__type(key, __u32);
	__type(value, struct tg_edge_record);
} edge_slots SEC(".maps");

/* Which slot an edge has in the interval of a parity. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * 16384);
	__type(key, struct tg_edge_index_key);
	__type(value, __u32);
} edge_index SEC(".maps");

/*
 * Taken slots. A slot is taken by inserting it here (BPF_NOEXIST), which two CPUs cannot
 * both do: how they agree without an atomic that returns a value (which kernels before
 * 5.12 do not have).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * 16384);
	__type(key, __u32);
	__type(value, __u8);
} edge_claims SEC(".maps");

/*
 * How many clients of a listener have an edge of their own in the current interval,
 * keyed by the listener's folded key (remote_addr zero). LRU: an evicted count starts
 * again from 0, which can only let a few more clients in while the edge map has room.
 */
struct listener_census {
	__u32 interval; /* interval_seq when counted */
	__u32 clients;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tg_edge_key);
	__type(value, struct listener_census);
} listener_clients SEC(".maps");

struct hist_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tg_hist_key);
	__type(value, __u64);
} histograms_0 SEC(".maps"), histograms_1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct hist_map);
} histograms SEC(".maps") = { .values = { &histograms_0 } };

struct tuple_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct tg_tuple_key);
	__type(value, __u64);
} tuples_0 SEC(".maps"), tuples_1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct tuple_map);
} tuples SEC(".maps") = { .values = { &tuples_0 } };

struct hop_stats_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tg_edge_key);
	__type(value, struct tg_hop_stats);
} hop_stats_0 SEC(".maps"), hop_stats_1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct hop_stats_map);
} hop_stats SEC(".maps") = { .values = { &hop_stats_0 } };

/* The run-time filter: network namespace inodes and cgroup ids to trace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} filter_netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} filter_cgroups SEC(".maps");

/* Listening ports by network namespace (struct tg_listener_key), counting listeners. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tg_listener_key);
	__type(value, __u32);
} listeners SEC(".maps");

/* Processes whose reads and writes are paired into proxy hops (the agent's sidecars). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} proxies SEC(".maps");

/* Process events (tg_process_record), read by the runner as they come. 256 KiB: some
 * 4,600 events between two reads; what does not fit is counted (process_events_full). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} process_events SEC(".maps");

/* Everything that could not be accounted, cumulative. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_lost);
} lost SEC(".maps");

#define LOST(field)                                                   \
	do {                                                          \
		__u32 zero_ = 0;                                      \
		struct tg_lost *l_ = bpf_map_lookup_elem(&lost, &zero_); \
		if (l_)                                               \
			__sync_fetch_and_add(&l_->field, 1);          \
	} while (0)

/* The map the current generation writes to. */
static __always_inline void *current_map(void *outer)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(outer, &zero);
}

/*
 * The value of `key` in the current buffer of a double-buffered aggregate, created from
 * `zero` when absent. NULL when there is no room: *full is then set for the caller to
 * count (or on a lost race, in which case the winner's value is returned).
 */
static __always_inline void *current_value(void *outer, const void *key, const void *zero,
					   int *full)
{
	void *map = current_map(outer), *value;
	long err;

	*full = 0;
	if (!map)
		return NULL;
	value = bpf_map_lookup_elem(map, key);
	if (value)
		return value;
	/* Any failure but a lost race: full, or (maps that grow with use) out of memory. */
	err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	if (err && err != -EEXIST)
		*full = 1;
	return bpf_map_lookup_elem(map, key);
}

#endif /* TOLLGATE_MAPS_BPF_H */
