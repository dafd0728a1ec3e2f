/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Record layout shared by the kernel programs (tollgate.bpf.c), the runner (tollgate.c)
 * and the TypeScript decoder (probes/records.ts). Every struct is naturally aligned with
 * explicit padding, so the layout is the same on both sides; `tollgate-runner --layout`
 * prints sizes and offsets and a test compares them with the decoder's.
 */
#ifndef TOLLGATE_H
#define TOLLGATE_H

/* The runner's output stream: records, each a header and a payload. */
#define TG_RECORD_MAGIC 0x31524754 /* "TGR1" little-endian */
#define TG_FORMAT_VERSION 11 /* 11: tg_interval_record.flags */

enum tg_record_type {
	TG_RECORD_HELLO = 1,    /* payload: JSON text (kernel, programs and attach modes) */
	TG_RECORD_EDGE = 2,     /* payload: struct tg_edge_record */
	TG_RECORD_HIST = 3,     /* payload: struct tg_hist_record */
	TG_RECORD_INTERVAL = 4, /* payload: struct tg_interval_record; ends one drain */
	TG_RECORD_TUPLE = 5,    /* payload: struct tg_tuple_record */
	TG_RECORD_PROGRAMS = 6, /* payload: JSON text, each attached program's cumulative run
				 * count and run time (bpf_stats); comes before its interval */
	TG_RECORD_HOP = 7,      /* payload: struct tg_hop_record */
	TG_RECORD_PROCESS = 8,  /* payload: struct tg_process_record; sent at once, not at a drain */
};

struct tg_record_header {
	__u32 magic;
	__u16 version;
	__u16 type;
	__u32 length; /* payload bytes after this header */
	__u32 reserved;
};

enum tg_side {
	TG_SIDE_UNKNOWN = 0,
	TG_SIDE_CLIENT = 1, /* active open */
	TG_SIDE_SERVER = 2, /* passive open */
};

/*
 * What the kernel aggregates by: a process, its side, and the peer as a service
 * endpoint. Ephemeral ports are left out, so cardinality follows process pairs.
 *
 * A server end's peer is its client's address, so a server with many clients (an
 * ingress) would take an edge per client: each listener keeps its own edge for at most
 * `clients_per_listener` clients in an interval, and the others' events are summed under
 * one key with remote_addr all zero, "other clients". An end of either side whose own
 * edge finds no slot left in the interval is summed the same way, when its folded key is there or still
 * fits (else its events count in lost.edge_map_full). No real peer has the unspecified
 * address, so the zero address means folded and nothing else.
 */
struct tg_edge_key {
	__u32 tgid;
	__u16 family; /* AF_INET or AF_INET6 */
	__u8 side;    /* enum tg_side */
	__u8 pad0;
	__u8 local_addr[16];  /* IPv4 in the first 4 bytes */
	__u8 remote_addr[16];
	__u16 service_port; /* the server's port: remote on the client side, local on the server side */
	__u16 pad1;
	/*
	 * The socket's network namespace, which is its process's own except for a node proxy
	 * (ambient mode's ztunnel), whose sockets live in each pod's: its ends and hops in
	 * different pods stay apart even where their addresses are the same (127.0.0.1).
	 */
	__u32 netns_inode;
};

/*
 * struct tg_edge_stats, tg_hop_stats and tg_lost: the counters, defined in the tables
 * proto/edge-metrics.ts, proto/hop-metrics.ts and proto/loss-metrics.ts.
 */
#include "counters.h"

/*
 * Histograms. Proxy hops are keyed like an edge of the proxy's downstream (server) side:
 * the tgid, side SERVER, the listener's port as service_port, addresses zero.
 */
enum tg_metric {
	TG_METRIC_CONNECT_LATENCY = 1,
	TG_METRIC_EXCHANGE_LATENCY = 2,
	TG_METRIC_SRTT = 3,         /* sampled when an exchange completes, and at close */
	TG_METRIC_HOP_REQUEST = 4,  /* proxy: request arrives at the downstream socket -> upstream write */
	TG_METRIC_HOP_RESPONSE = 5, /* proxy: response arrives at the upstream socket -> downstream write */
	TG_METRIC_HOP_ADDED = 6,    /* proxy: request hop + response hop of one downstream exchange */
};

struct tg_hist_key {
	struct tg_edge_key edge;
	__u32 metric; /* enum tg_metric */
	__u32 bucket; /* proto/histogram.h index */
};

/*
 * Run-time knobs the runner writes into the kernel side's .bss (mmapped): which sockets
 * are traced. FILTER_ALL traces everything; FILTER_LISTED only sockets whose network
 * namespace inode or (in process context) cgroup id is in the filter maps.
 */
enum tg_filter_mode {
	TG_FILTER_ALL = 0,
	TG_FILTER_LISTED = 1,
};

/*
 * A listening port in a network namespace: a socket first seen already established (open
 * before tracing, or before the filter chose it) is a server's when its local port is one.
 * The kernel side keeps them from LISTEN transitions; the runner lists those open before it
 * started. The value counts the listeners on it (v4 and v6, SO_REUSEPORT).
 */
struct tg_listener_key {
	__u32 netns_inode;
	__u16 port;
	__u16 pad;
};

/*
 * Not a record: the kernel side's index of which slot an edge has in an interval, which
 * the runner clears after it has drained that interval's slots (see edge_slots).
 */
struct tg_edge_index_key {
	__u32 parity; /* interval_seq & 1 */
	__u32 pad;
	struct tg_edge_key edge;
};

struct tg_edge_record {
	struct tg_edge_key key;
	struct tg_edge_stats stats;
};

struct tg_hist_record {
	struct tg_hist_key key;
	__u64 count;
};

/*
 * A sample of the connections behind an edge, with both ports: the client's address and
 * port survive REDIRECT and DNAT, so the collector joins the two ends of a connection on
 * them. They are not unique on their own: the kernel gives one ephemeral port to
 * connections to different destinations at once, so the client's initial sequence number
 * (which NAT leaves alone, and both ends know) tells such connections apart.
 * At most `tuple_samples` per edge per interval.
 */
struct tg_tuple_key {
	struct tg_edge_key edge;
	__u16 local_port;
	__u16 remote_port;
	__u32 client_isn;
	__u8 remote_addr[16]; /* the connection's own: its edge's may be folded (zero) */
};

struct tg_tuple_record {
	struct tg_tuple_key key;
	__u64 first_seen_ns; /* CLOCK_MONOTONIC */
};

/*
 * What a proxy's hops amount to, per (proxy, listener): keyed like its hop histograms.
 * The counters (struct tg_hop_stats) are defined in proto/hop-metrics.ts.
 */
struct tg_hop_record {
	struct tg_edge_key key; /* service_port 0: the listener is unknown (unmatched forwards) */
	struct tg_hop_stats stats;
};

/*
 * A process starts (exec, or a fork that makes a new process) or ends, as the kernel sees
 * it at that moment: enough to name its records after it has gone, when /proc has nothing
 * left (a health probe, a curl in a script, a fork-per-request worker). Only processes the
 * run-time filter selects.
 */
enum tg_process_event {
	TG_PROCESS_EXEC = 1,
	TG_PROCESS_FORK = 2,
	TG_PROCESS_EXIT = 3, /* the last thread of the process */
};

struct tg_process_record {
	__u32 tgid;
	__u32 event;             /* enum tg_process_event */
	__u64 start_boottime_ns; /* /proc/<pid>/stat's starttime, in ns rather than ticks */
	__u64 cgroup_id;         /* cgroup v2 id: the inode of its cgroup's directory */
	__u32 netns_inode;
	__u32 parent_tgid;       /* FORK: the process it was forked from; else 0 */
	char comm[16];
};

struct tg_interval_record {
	__u64 monotonic_ns; /* CLOCK_MONOTONIC as the interval ended: after the swaps, before the drain */
	__u64 realtime_ns;  /* CLOCK_REALTIME at the same moment */
	struct tg_lost lost;
	__u32 edges;
	__u32 hists;
	__u32 tuples;
	__u32 filter_generation; /* the last filter the kernel side applies */
	__u32 hops;
	__u32 flags; /* TG_INTERVAL_* */
};

/* tg_interval_record.flags */
enum {
	/* The interval's handed-off hops ran from wake-up to wake-up (handoff.bpf.h, woke_at):
	 * the context switch's program was attached whenever a proxy was listed. Unset: from
	 * read to read (no such hook, or its attach failed in the interval). */
	TG_INTERVAL_HANDOFF_WAKE_UPS = 1,
};


#endif /* TOLLGATE_H */
