// SPDX-License-Identifier: Apache-2.0
/*
 * tollgate-runner: loads the kernel programs, attaches them, and every interval drains
 * the aggregation maps to stdout as versioned binary records (tollgate.h). The node
 * agent spawns it and decodes the stream (probes/records.ts).
 *
 *   tollgate-runner [--interval-ms N] [--sockets N] [--edges N] [--histograms N]
 *   tollgate-runner --layout      sizes and offsets of the records, as JSON
 *
 * SIGTERM or SIGINT: one last drain, detach everything, exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tollgate.h"
#include "tollgate.skel.h"

#define BATCH 1024

static volatile sig_atomic_t stopping;

/* One link per program; detached at exit (and by the kernel if we die first). */
static struct bpf_link *links[16];
static int link_count;

static struct {
	unsigned int interval_ms;
	unsigned int sockets;
	unsigned int edges;
	unsigned int histograms;
} config = { .interval_ms = 1000, .sockets = 65536, .edges = 16384, .histograms = 65536 };

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void emit(__u16 type, const void *payload, __u32 length)
{
	struct tg_record_header h = {
		.magic = TG_RECORD_MAGIC, .version = TG_FORMAT_VERSION, .type = type, .length = length,
	};

	if (fwrite(&h, sizeof(h), 1, stdout) != 1 || (length && fwrite(payload, length, 1, stdout) != 1)) {
		/* The reader is gone: nobody to report to. */
		exit(1);
	}
}

static __u64 clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void print_layout(void)
{
	printf("{\"format_version\":%d,\"magic\":%u,"
	       "\"header\":%zu,\"edge_key\":%zu,\"edge_stats\":%zu,\"edge_record\":%zu,"
	       "\"hist_record\":%zu,\"interval_record\":%zu,"
	       "\"offsets\":{\"key.service_port\":%zu,\"key.remote_addr\":%zu,"
	       "\"stats.bytes_received\":%zu,\"stats.exchange_ns_sum\":%zu,"
	       "\"hist.metric\":%zu,\"hist.bucket\":%zu,\"hist.count\":%zu,"
	       "\"interval.lost\":%zu,\"interval.edges\":%zu,\"interval.hists\":%zu}}\n",
	       TG_FORMAT_VERSION, TG_RECORD_MAGIC, sizeof(struct tg_record_header),
	       sizeof(struct tg_edge_key), sizeof(struct tg_edge_stats), sizeof(struct tg_edge_record),
	       sizeof(struct tg_hist_record), sizeof(struct tg_interval_record),
	       offsetof(struct tg_edge_key, service_port), offsetof(struct tg_edge_key, remote_addr),
	       offsetof(struct tg_edge_stats, bytes_received), offsetof(struct tg_edge_stats, exchange_ns_sum),
	       offsetof(struct tg_hist_record, key.metric), offsetof(struct tg_hist_record, key.bucket),
	       offsetof(struct tg_hist_record, count), offsetof(struct tg_interval_record, lost),
	       offsetof(struct tg_interval_record, edges), offsetof(struct tg_interval_record, hists));
}

/* Looks up and deletes every entry of a hash map, emitting each as a record. */
static __u32 drain(int fd, size_t key_size, size_t value_size, __u16 type)
{
	static char keys[BATCH * 128], values[BATCH * 128], record[256];
	__u32 in = 0, out = 0, count, total = 0, i;
	void *in_batch = NULL;
	int err;

	do {
		count = BATCH;
		err = bpf_map_lookup_and_delete_batch(fd, in_batch, &out, keys, values, &count, NULL);
		if (err && errno != ENOENT) {
			fprintf(stderr, "tollgate-runner: draining map: %s\n", strerror(errno));
			break;
		}
		for (i = 0; i < count; i++) {
			memcpy(record, keys + i * key_size, key_size);
			memcpy(record + key_size, values + i * value_size, value_size);
			emit(type, record, key_size + value_size);
		}
		total += count;
		in = out;
		in_batch = &in;
	} while (!err);
	return total;
}

static void drain_all(struct tollgate_bpf *skel)
{
	struct tg_interval_record interval = {};
	__u32 zero = 0;

	interval.edges = drain(bpf_map__fd(skel->maps.edges), sizeof(struct tg_edge_key),
			       sizeof(struct tg_edge_stats), TG_RECORD_EDGE);
	interval.hists = drain(bpf_map__fd(skel->maps.histograms), sizeof(struct tg_hist_key),
			       sizeof(__u64), TG_RECORD_HIST);
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.lost), &zero, &interval.lost);
	interval.monotonic_ns = clock_ns(CLOCK_MONOTONIC);
	interval.realtime_ns = clock_ns(CLOCK_REALTIME);
	emit(TG_RECORD_INTERVAL, &interval, sizeof(interval));
	fflush(stdout);
}

/* Attaches each program on its own, so a failure names the program and the reason. */
static int attach(struct tollgate_bpf *skel, char *hello, size_t size)
{
	struct bpf_program *prog;
	size_t used = strlen(hello);
	const char *sep = "";

	bpf_object__for_each_program(prog, skel->obj) {
		if (link_count == (int)(sizeof(links) / sizeof(links[0]))) {
			fprintf(stderr, "tollgate-runner: more programs than link slots\n");
			return -1;
		}
		links[link_count] = bpf_program__attach(prog);
		if (!links[link_count]) {
			fprintf(stderr, "tollgate-runner: cannot attach %s (%s): %s\n",
				bpf_program__name(prog), bpf_program__section_name(prog), strerror(errno));
			return -1;
		}
		link_count++;
		used += snprintf(hello + used, size - used, "%s{\"name\":\"%s\",\"attach\":\"tp_btf\"}", sep,
				 bpf_program__name(prog));
		sep = ",";
	}
	snprintf(hello + used, size - used, "]}");
	return 0;
}

static int parse_uint(const char *text, unsigned int *out)
{
	char *end;
	unsigned long v = strtoul(text, &end, 10);

	if (*text == '\0' || *end != '\0' || v == 0 || v > 100000000UL)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "sockets", required_argument, NULL, 's' },
		{ "edges", required_argument, NULL, 'e' },
		{ "histograms", required_argument, NULL, 'h' },
		{ "layout", no_argument, NULL, 'l' },
		{},
	};
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	struct tollgate_bpf *skel;
	struct sigaction sa = { .sa_handler = on_signal };
	char hello[4096];
	struct utsname uts;
	struct timespec tick;
	int opt, err = 1;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		unsigned int *target = opt == 'i' ? &config.interval_ms : opt == 's' ? &config.sockets :
				       opt == 'e' ? &config.edges : opt == 'h' ? &config.histograms : NULL;
		if (opt == 'l') {
			print_layout();
			return 0;
		}
		if (!target || parse_uint(optarg, target)) {
			fprintf(stderr, "usage: tollgate-runner [--interval-ms N] [--sockets N] [--edges N] "
					"[--histograms N] | --layout\n");
			return 2;
		}
	}

	libbpf_set_print(libbpf_print);
	setrlimit(RLIMIT_MEMLOCK, &unlimited);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	skel = tollgate_bpf__open();
	if (!skel) {
		fprintf(stderr, "tollgate-runner: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	bpf_map__set_max_entries(skel->maps.sockets, config.sockets);
	bpf_map__set_max_entries(skel->maps.edges, config.edges);
	bpf_map__set_max_entries(skel->maps.histograms, config.histograms);
	if (tollgate_bpf__load(skel)) {
		fprintf(stderr, "tollgate-runner: cannot load the BPF programs (%s); "
				"needs root or CAP_BPF+CAP_PERFMON, and a kernel with BTF\n", strerror(errno));
		goto out;
	}
	uname(&uts);
	snprintf(hello, sizeof(hello), "{\"format_version\":%d,\"kernel\":\"%s\",\"programs\":[",
		 TG_FORMAT_VERSION, uts.release);
	if (attach(skel, hello, sizeof(hello)))
		goto out;
	emit(TG_RECORD_HELLO, hello, strlen(hello));
	fflush(stdout);

	tick.tv_sec = config.interval_ms / 1000;
	tick.tv_nsec = (config.interval_ms % 1000) * 1000000L;
	while (!stopping) {
		/* A signal cuts the sleep short; the final drain below still runs. */
		nanosleep(&tick, NULL);
		drain_all(skel);
	}
	err = 0;
out:
	while (link_count)
		bpf_link__destroy(links[--link_count]);
	tollgate_bpf__destroy(skel);
	return err;
}
