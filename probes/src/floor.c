// SPDX-License-Identifier: Apache-2.0
/*
 * tollgate-floor [clocked]: attaches the empty programs of floor.bpf.c (floor_*), or with
 * `clocked` those that read the clock once (clock_*), prints "attached", and holds them
 * until stdin closes or a signal comes. For `tollgate bench probes` only.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "floor.skel.h"

static void on_signal(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	struct sigaction sa = { .sa_handler = on_signal };
	struct floor_bpf *skel;
	struct bpf_program *prog;
	char buf[64];
	int err, clocked = argc > 1 && !strcmp(argv[1], "clocked");

	setrlimit(RLIMIT_MEMLOCK, &unlimited);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	skel = floor_bpf__open();
	if (!skel) {
		fprintf(stderr, "tollgate-floor: cannot open: %s\n", strerror(errno));
		return 1;
	}
	/* One set on the hooks at a time: each is timed alone. */
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, !strncmp(bpf_program__name(prog),
							 clocked ? "clock_" : "floor_", 6));
	err = floor_bpf__load(skel);
	if (err) {
		fprintf(stderr, "tollgate-floor: cannot load: %s\n", strerror(-err));
		floor_bpf__destroy(skel);
		return 1;
	}
	err = floor_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "tollgate-floor: cannot attach: %s\n", strerror(-err));
		floor_bpf__destroy(skel);
		return 1;
	}
	printf("attached\n");
	fflush(stdout);
	/* Until stdin closes (the bench ends it) or a signal cuts the read short. */
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	floor_bpf__destroy(skel);
	return 0;
}
