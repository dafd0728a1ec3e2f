/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Generated from proto/edge-metrics.ts by `npm run gen:proto`: edit the table, not this.
 * The counters of one edge (struct tg_edge_key) in one interval, as the kernel keeps them.
 */
#ifndef TOLLGATE_EDGE_STATS_H
#define TOLLGATE_EDGE_STATS_H

struct tg_edge_stats {
	/* Connections this end opened (SYN_SENT -> ESTABLISHED). */
	__u64 connects;
	/* Connections this end tried to open that never reached ESTABLISHED. */
	__u64 connect_errors;
	/*
	 * Connections this end accepted (SYN_RECV -> ESTABLISHED), counted at their first
	 * read or write.
	 */
	__u64 accepts;
	/* Established connections closed. */
	__u64 closes;
	/* RSTs this end sent. */
	__u64 resets_sent;
	/* RSTs this end received. */
	__u64 resets_received;
	/* Bytes the process wrote to the connections (what sendmsg returned). */
	__u64 bytes_sent;
	/* Bytes the process read from the connections (what recvmsg returned). */
	__u64 bytes_received;
	/* Writes that sent at least one byte. */
	__u64 send_ops;
	/* Reads that returned at least one byte (not MSG_PEEK). */
	__u64 recv_ops;
	/*
	 * Request/response exchanges timed: a direction change that ended one (the count of
	 * exchange_latency).
	 */
	__u64 exchanges;
	/*
	 * Connections first seen mid-life (open before tracing began, or before the filter
	 * chose them): their open is in neither connects nor accepts.
	 */
	__u64 adopted;
	/* Segments retransmitted, as the kernel's TcpRetransSegs counts them. */
	__u64 retransmits;
	/* Packets of these connections the kernel freed as dropped (skb:kfree_skb). */
	__u64 drops;
	/* The connect latencies' sum, for the mean of connect_latency. */
	__u64 connect_ns_sum;
	/* The exchange latencies' sum, for the mean of exchange_latency. */
	__u64 exchange_ns_sum;
	/* The sampled smoothed RTTs' sum, for the mean of srtt. */
	__u64 srtt_ns_sum;
	/*
	 * Exchanges on connections seen carrying several requests at once (in most
	 * exchanges the peer sent bytes before it had what this end wrote, or a proxy
	 * forwarded a second request while one still waited for its reply: HTTP/1.1
	 * pipelining, HTTP/2, gRPC). Counted here instead of in exchanges and left out of
	 * exchange_latency: a send-to-reply time there is no request's latency. Such an
	 * edge is multiplexed; its exchange figures are not a request/response latency.
	 */
	__u64 multiplexed_exchanges;
};

/* X(field) for each counter, in order: the runner prints their offsets (--layout). */
#define TG_EDGE_STATS_FIELDS(X) X(connects) X(connect_errors) X(accepts) X(closes) X(resets_sent) X(resets_received) X(bytes_sent) X(bytes_received) X(send_ops) X(recv_ops) X(exchanges) X(adopted) X(retransmits) X(drops) X(connect_ns_sum) X(exchange_ns_sum) X(srtt_ns_sum) X(multiplexed_exchanges)

#endif /* TOLLGATE_EDGE_STATS_H */
