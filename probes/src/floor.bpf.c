// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The floor of a probe's cost on this kernel: programs that do nothing, on the hooks
 * Tollgate's hottest programs use (sends, receives, segment arrivals). `tollgate bench
 * probes` runs its ping-pong with these attached instead of Tollgate's, and the kernel's
 * own run-time count of them is what any program on those hooks pays before its first
 * instruction: the attachment's trampoline and bpf_stats' clock reads. The clock_*
 * programs read the clock once and do nothing else: the floor of a program that stamps its
 * event, as every latency probe must (`tollgate-floor clocked` loads them instead). Never
 * loaded by the agent.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sock_send_length")
int BPF_PROG(floor_send, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(floor_recv, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(floor_arrival, struct sock *sk, struct sk_buff *skb)
{
	return 0;
}

/* One read of the clock Tollgate's programs use, bpf_ktime_get_ns: a helper call, which
 * the compiler keeps though its value goes nowhere. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(clock_send, struct sock *sk, int ret, int flags)
{
	bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(clock_recv, struct sock *sk, int ret, int flags)
{
	bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(clock_arrival, struct sock *sk, struct sk_buff *skb)
{
	bpf_ktime_get_ns();
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
