/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * HTTP/2 requests counted from the frames, on connections that begin with HTTP/2's
 * client preface in the clear.
 *
 * Why: everywhere else an exchange is a direction change, and a multiplexer that reads a
 * turn's requests at once and writes them in one write (haproxy's HTTP/2, a gRPC client
 * with many calls in flight answered a turn at a time) makes a batch of requests one
 * exchange: requests per second, and the CPU per 1,000 requests, came out short by the
 * batch's size. An HTTP/2 frame begins with a 9-byte header (24-bit length, type, flags,
 * 31-bit stream id), so the frames of a byte stream can be followed by their lengths
 * alone, and each HEADERS frame (type 1) that opens a new client stream (odd id, above
 * the last) is one request. No other part of the protocol is read.
 *
 * Where the bytes come from: the syscall's own buffer, which sock_send_length and
 * sock_recv_length do not give but the task's saved user registers do
 * (bpf_task_pt_regs): the syscall number and its arguments. A write's bytes are still in
 * its buffer at the tracepoint, a read's already copied there; both were just touched by
 * the kernel, so a non-faulting read finds them. Not the socket buffers: on loopback and
 * veths their bytes sit in page fragments, whose addresses a program here cannot form.
 *
 * A connection is checked once, at its first bytes in the direction that carries the
 * requests (a client's first write, a server's first read): the 24-byte preface, whole in
 * them, or not (then never again: a first read of fewer bytes, or a PROXY protocol header
 * first, and it is counted as any connection). Adopted connections (open before tracing)
 * never are. Only that direction is followed afterwards, one step per frame header and one
 * per frame body (bpf_loop). A syscall that carried control frames alone (SETTINGS,
 * WINDOW_UPDATE, PING...) is no part of an exchange (http2_count), in the other direction
 * too, where a short syscall's bytes are read for it (http2_control_only). What ends the
 * counting of a connection, counted in neither http2_requests nor http2_exchanges from
 * then on (its later exchanges count as any connection's): bytes of the followed direction
 * that passed no syscall seen here, by the socket's own sequence numbers (the last
 * syscall's end against this one's start: splice, sendfile, two threads' reads crossing,
 * an untraced spell), a syscall whose buffer is not read here (io_uring, sendmmsg,
 * recvmmsg), more than H2_STEPS steps in one syscall, a buffer the read could not reach,
 * or a walk that found another under way on its CPU. TLS: what the probes see of a TLS
 * connection is the record layer, which never begins with the preface, so such a
 * connection is not counted here (its plaintext legs, app to sidecar, are). x86-64 only
 * (syscall numbers and registers), and kernels with bpf_loop (5.17) and bpf_task_pt_regs
 * (5.15); elsewhere no connection is taken for HTTP/2 (what the verifier of a kernel
 * without bpf_loop makes of its callback's reference in dead code is untested here).
 */
#ifndef TOLLGATE_HTTP2_FRAMES_BPF_H
#define TOLLGATE_HTTP2_FRAMES_BPF_H

/* sock_state.http2 */
enum http2_state {
	H2_UNCHECKED = 0, /* the requests' direction has not carried a byte yet */
	H2_NOT = 1,       /* no preface, adopted, or no walk here (not x86-64, no bpf_loop) */
	H2_FRAMED = 2,    /* began with the preface, frames followed (http2_frames) */
	H2_LOST = 3,      /* began with it, frames lost since: counted as any connection */
};

/* Whether HTTP/2 connections are followed frame by frame for their requests (the runner's
 * --no-http2-requests turns it off). Off, the verifier prunes every read of frames (the
 * preface check, the walk, the control frames' check): no time, and an HTTP/2
 * connection's requests are its direction changes again, a batch of streams one request. */
const volatile __u8 http2_requests_counted = 1;

/*
 * Whether frames are read at all: asked for, and the helpers the reads need there, bpf_loop
 * (5.17) and bpf_task_pt_regs (5.15). When not, what calls them is dead code, which the
 * verifier never looks at.
 */
static __always_inline int http2_readable(void)
{
	return http2_requests_counted &&
	       bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop) &&
	       bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs);
}

#define H2_PREFACE_LEN 24
#define H2_FRAME_HEADER 9
#define H2_TYPE_HEADERS 1
/* The frames that carry a request or reply: DATA, HEADERS, PUSH_PROMISE, CONTINUATION. The
 * others (PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE) steer the
 * connection: a syscall of nothing else is no part of an exchange (http2_count). */
#define H2_CONTENT ((1 << 0) | (1 << 1) | (1 << 5) | (1 << 9))
/* Of the others, those that in the replies' direction are no answer (http2_control_only):
 * not RST_STREAM (3: a stream refused or reset is its answer) nor GOAWAY (7: the
 * connection's end). */
#define H2_REPLY_CONTROL ((1 << 2) | (1 << 4) | (1 << 6) | (1 << 8))
/* A frame header's 24-bit length. */
#define H2_LENGTH(h) ((__u32)(h)[0] << 16 | (__u32)(h)[1] << 8 | (h)[2])
/* User memory is read H2_WINDOW bytes at a time for frame headers, and iovecs
 * H2_IOV_BATCH at a time: each read is a helper call and a copy, most of the walk's cost. */
#define H2_WINDOW 64
#define H2_IOV_BATCH 4
/* Steps of one syscall: two a frame (header, body) and one a buffer of a vectored one, so
 * 64 KiB of the smallest frames (9 bytes each) and more: a bound on the walk's time that
 * frames of real messages, tens of bytes and up, stay well within. */
#define H2_STEPS 16384

/* Where a connection's frames stand between syscalls. */
struct http2_framing {
	__u64 cookie;      /* the socket's: an entry left by a freed socket is not taken */
	/* Where the followed direction's next syscall must begin (tcp_sock.write_seq or
	 * copied_seq after the last one): else bytes went by unseen, and the frames are lost. */
	__u32 next_seq;
	/* write_seq after the last write that carried part of a message (H2_CONTENT), on a
	 * client's end: what note_overlap holds the peer's ACKs to. */
	__u32 content_seq;
	__u32 body_left;   /* bytes of the current frame's body still to pass over */
	__u32 last_stream; /* the highest client stream opened so far */
	__u8 header_have;  /* bytes of the next frame's header already seen (split buffers) */
	__u8 body_content; /* the frame whose body is passed over carries a message (H2_CONTENT) */
	__u8 header[32]; /* 9 used: room for the verifier's bound on a read (offset, size < 16) */
};

/*
 * One per connection taken for HTTP/2, deleted at its close. LRU: an entry whose close
 * went unseen (a state dropped as stale, a close racing the connection's first bytes on
 * another CPU) goes when room is needed, not never; a live connection's entry evicted so
 * (past 16,384 followed on the node) is missed at its next syscall and its count stops
 * there (H2_LOST). An entry that cannot be made is counted (http2_map_full) and its
 * connection counted as any other (H2_NOT).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct http2_framing);
} http2_frames SEC(".maps");

/* One syscall's walk. */
struct http2_walk {
	__u64 window_at;  /* the user address http2_syscall.window holds bytes from, 0: none */
	__u64 base;       /* the user address of the buffer being walked */
	__u64 vec;        /* readv and the like: the user address of their next iovec; 0: plain */
	__u32 window_len; /* how many bytes the window holds */
	__u32 iov_next;   /* of http2_syscall.iovs, the next to take */
	__u32 iov_have;   /* of http2_syscall.iovs, how many were read */
	__u32 vec_left;   /* iovecs not yet taken */
	__u32 left;       /* bytes of the syscall not in the buffers taken so far */
	__u32 len;        /* of the buffer being walked */
	__u32 pos;
	__u32 skip;       /* of the preface, not yet passed over */
	__u32 opened;     /* requests opened */
	__u8 content;     /* a frame of H2_CONTENT, or part of one, was among the bytes */
	__u8 lost;
	__u8 done;
};

/*
 * A syscall's walk and what it reads: in a per-CPU map, not on the stack, which the send
 * and receive programs' pairing takes (416 bytes as the verifier rounds their frames,
 * leaving 96 of 512 for these subprograms' and the callback's). The callback reaches it
 * through one pointer on the caller's stack (a pointer kept in a map value is no pointer
 * to the verifier); the connection's framing is copied in and, unless lost, back.
 */
struct http2_syscall {
	struct user_msghdr msg;
	struct iovec iov;
	__u64 words[3];
	struct http2_framing fresh;
	struct http2_framing framing;
	struct http2_walk walk;
	/* The next H2_IOV_BATCH iovecs of a vectored syscall, read at once (twice the room:
	 * the verifier bounds the read's size by a mask). */
	struct iovec iovs[2 * H2_IOV_BATCH];
	/* Bytes of the buffer from the walk's window_at on, read at once: the frame headers
	 * in them cost no read of their own (small frames come several to a window). Twice
	 * the room, as for iovs. */
	__u8 window[2 * H2_WINDOW];
	/*
	 * A walk, a preface check or a control frames' check is under way on this CPU.
	 * Tracepoint programs run with preemption off, but the fexit fallbacks only with
	 * migration off: on a kernel with full preemption one may preempt another mid-read on
	 * the same CPU. The second then finds it busy rather than write over the first's
	 * reads: a walk counts its connection's frames lost, a preface check finds no
	 * preface, a control frames' check none.
	 */
	__u64 busy;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct http2_syscall);
} http2_scratch SEC(".maps");

#if defined(__TARGET_ARCH_x86)
/* The syscalls whose buffers are read, by their x86-64 numbers (orig_ax). */
#define H2_NR_READ 0
#define H2_NR_WRITE 1
#define H2_NR_READV 19
#define H2_NR_WRITEV 20
#define H2_NR_SENDTO 44
#define H2_NR_RECVFROM 45
#define H2_NR_SENDMSG 46
#define H2_NR_RECVMSG 47
#endif

/* The next iovec as the buffer to walk, past what is left of the preface. */
static __always_inline long http2_next_buffer(struct http2_syscall *sc)
{
	struct http2_walk *w = &sc->walk;
	struct iovec *iov;
	__u32 from, n;

	if (!w->vec_left || !w->left) {
		w->done = 1;
		return 1;
	}
	if (w->iov_next >= w->iov_have) {
		n = w->vec_left < H2_IOV_BATCH ? w->vec_left : H2_IOV_BATCH;
		barrier_var(n); /* keeps the mask below, which the compiler knows to be moot */
		if (bpf_probe_read_user(sc->iovs, (n * sizeof(struct iovec)) & (sizeof(sc->iovs) - 1),
					(void *)w->vec)) {
			w->lost = 1;
			return 1;
		}
		w->vec += n * sizeof(struct iovec);
		w->iov_have = n;
		w->iov_next = 0;
	}
	iov = &sc->iovs[w->iov_next & (H2_IOV_BATCH - 1)];
	w->iov_next++;
	w->vec_left--;
	w->base = (__u64)iov->iov_base;
	w->len = iov->iov_len < w->left ? iov->iov_len : w->left;
	w->left -= w->len;
	from = w->skip < w->len ? w->skip : w->len;
	w->skip -= from;
	w->pos = from;
	return 0;
}

/* A frame's 9-byte header: a request if it opens a client stream; its body to pass over. */
static __always_inline long http2_header(struct http2_syscall *sc, const __u8 *h)
{
	struct http2_framing *f = &sc->framing;
	__u32 stream;

	/* A type RFC 9113 does not define is passed over, as a peer must (by its length). */
	stream = ((__u32)h[5] << 24 | (__u32)h[6] << 16 | (__u32)h[7] << 8 | h[8]) & 0x7fffffff;
	if (h[3] == H2_TYPE_HEADERS && (stream & 1) && stream > f->last_stream) {
		f->last_stream = stream;
		sc->walk.opened++;
	}
	f->body_content = h[3] < 32 ? (H2_CONTENT >> h[3]) & 1 : 0;
	sc->walk.content |= f->body_content;
	f->body_left = H2_LENGTH(h);
	return 0;
}

/* A header whole in this buffer, from the window, read anew when it does not hold it. */
static __always_inline long http2_header_in_window(struct http2_syscall *sc, __u32 left)
{
	struct http2_walk *w = &sc->walk;
	__u64 at = w->base + w->pos;
	__u32 n;

	if (!w->window_at || at < w->window_at ||
	    at + H2_FRAME_HEADER > w->window_at + w->window_len) {
		n = left < H2_WINDOW ? left : H2_WINDOW;
		barrier_var(n); /* as in http2_next_buffer */
		if (bpf_probe_read_user(sc->window, n & (sizeof(sc->window) - 1), (void *)at)) {
			w->lost = 1;
			return 1;
		}
		w->window_at = at;
		w->window_len = n;
	}
	w->pos += H2_FRAME_HEADER;
	return http2_header(sc, &sc->window[(at - w->window_at) & (H2_WINDOW - 1)]);
}

/*
 * One step: the next buffer of a vectored syscall, a frame's header (or what of it this
 * buffer has), or a body passed over.
 */
static long http2_step(__u32 index, struct http2_syscall **ctx)
{
	struct http2_syscall *sc = *ctx;
	struct http2_framing *f = &sc->framing;
	struct http2_walk *w = &sc->walk;
	__u32 left, take;
	__u8 have = f->header_have;

	if (w->pos >= w->len)
		return http2_next_buffer(sc);
	left = w->len - w->pos;
	if (f->body_left) {
		take = f->body_left < left ? f->body_left : left;
		f->body_left -= take;
		w->pos += take;
		w->content |= f->body_content;
		return 0;
	}
	if (have >= H2_FRAME_HEADER) { /* never: a header is taken whole below */
		w->lost = 1;
		return 1;
	}
	if (!have && left >= H2_FRAME_HEADER)
		return http2_header_in_window(sc, left);
	/* A header split between buffers: gathered in the framing, a read per part. */
	take = H2_FRAME_HEADER - have;
	if (take > left)
		take = left;
	if (bpf_probe_read_user(&f->header[have & 15], take & 15, (void *)(w->base + w->pos))) {
		w->lost = 1;
		return 1;
	}
	w->pos += take;
	have += take;
	f->header_have = have;
	if (have < H2_FRAME_HEADER)
		return 0; /* the rest of the header is in the next buffer */
	f->header_have = 0;
	return http2_header(sc, f->header);
}

/* The task's user registers at its syscall: its number and buffer arguments. */
static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

#if defined(__TARGET_ARCH_x86)
/*
 * Where this syscall's `ret` bytes are, into the walk (zeroed first): a plain buffer (base,
 * len) or iovecs (vec, vec_left, left). 0 for a syscall whose buffer is not read here.
 */
static __always_inline int http2_syscall_buffers(struct http2_syscall *sc, struct pt_regs *regs,
						 int ret)
{
	struct http2_walk *w = &sc->walk;
	__u64 nr = BPF_CORE_READ(regs, orig_ax), arg = BPF_CORE_READ(regs, si);

	__builtin_memset(w, 0, sizeof(*w));
	if (nr == H2_NR_READ || nr == H2_NR_WRITE || nr == H2_NR_SENDTO || nr == H2_NR_RECVFROM) {
		w->base = arg;
		w->len = ret;
		return 1;
	}
	if (nr == H2_NR_READV || nr == H2_NR_WRITEV) {
		w->vec = arg;
		w->vec_left = BPF_CORE_READ(regs, dx);
	} else if (nr == H2_NR_SENDMSG || nr == H2_NR_RECVMSG) {
		if (bpf_probe_read_user(&sc->msg, sizeof(sc->msg), (void *)arg))
			return 0;
		w->vec = (__u64)sc->msg.msg_iov;
		w->vec_left = sc->msg.msg_iovlen;
	} else {
		return 0;
	}
	w->left = ret;
	return 1;
}
#endif

/*
 * The user address of this syscall's first `need` bytes, when one buffer holds them (a
 * plain one, or the first iovec), else 0. Uses the scratch's walk and iov.
 */
static __always_inline __u64 http2_first_buffer(struct http2_syscall *sc, struct pt_regs *regs,
						int ret, __u32 need)
{
	if (!http2_syscall_buffers(sc, regs, ret))
		return 0;
	if (!sc->walk.vec)
		return sc->walk.base;
	if (!sc->walk.vec_left ||
	    bpf_probe_read_user(&sc->iov, sizeof(sc->iov), (void *)sc->walk.vec))
		return 0;
	return sc->iov.iov_len >= need ? (__u64)sc->iov.iov_base : 0;
}

/*
 * Whether this syscall's bytes begin with the client preface: checked at a connection's
 * first bytes in its requests' direction. Only a plain buffer or the first iovec.
 */
static __noinline int http2_preface(int ret)
{
#if defined(__TARGET_ARCH_x86)
	/* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", as three little-endian words */
	const __u64 p0 = 0x5448202a20495250ULL, p1 = 0x0a0d302e322f5054ULL,
		    p2 = 0x0a0d0a0d4d530a0dULL;
	struct pt_regs *regs = syscall_regs();
	struct http2_syscall *sc;
	__u32 zero = 0;
	int found = 0;
	__u64 base;

	sc = bpf_map_lookup_elem(&http2_scratch, &zero);
	if (ret < H2_PREFACE_LEN || !regs || !sc || __sync_lock_test_and_set(&sc->busy, 1))
		return 0;
	base = http2_first_buffer(sc, regs, ret, H2_PREFACE_LEN);
	if (base && !bpf_probe_read_user(sc->words, sizeof(sc->words), (void *)base))
		found = sc->words[0] == p0 && sc->words[1] == p1 && sc->words[2] == p2;
	sc->busy = 0;
	return found;
#else
	return 0;
#endif
}

/*
 * Whether this syscall's `ret` bytes, in the direction of a followed connection that is
 * not followed (a server's writes, a client's reads), are control frames alone that answer
 * nothing (H2_REPLY_CONTROL): a sidecar's WINDOW_UPDATE to its client after each request's
 * body, a SETTINGS ACK, a PING's answer. Taken for a reply, such a write ended the exchange
 * before the reply, and at a proxy's downstream it was the reply's write, which found no
 * reply (every request of haproxy's HTTP/2 with a body unpaired). Not followed frame by
 * frame, which would add a walk to every reply: the bytes are taken to begin a frame, as
 * writers write whole frames, and are control frames alone when such frames end exactly
 * where the bytes do, all within H2_WINDOW in one buffer (control frames are small: a
 * WINDOW_UPDATE 13 bytes, a PING 17); bytes that begin inside a frame pass only by chance
 * of forming such frames. Anything else, and anything the read cannot reach, is taken as
 * bytes of a message, as before. Needs no state, so it holds on connections whose count
 * was lost too (in this direction: in the requests' direction a lost connection's control
 * frames count as any bytes do).
 */
static __noinline int http2_control_only(int ret)
{
#if defined(__TARGET_ARCH_x86)
	struct pt_regs *regs = syscall_regs();
	struct http2_syscall *sc;
	__u32 zero = 0, pos = 0, n = ret, i;
	int control = 0;
	const __u8 *h;
	__u64 base;

	sc = bpf_map_lookup_elem(&http2_scratch, &zero);
	if (ret < H2_FRAME_HEADER || ret > H2_WINDOW || !regs || !sc ||
	    __sync_lock_test_and_set(&sc->busy, 1))
		return 0;
	base = http2_first_buffer(sc, regs, ret, n);
	barrier_var(n); /* as in http2_next_buffer */
	if (!base || bpf_probe_read_user(sc->window, n & (sizeof(sc->window) - 1), (void *)base))
		goto out;
	/* At most 7 frames: 7 headers fill 63 of the 64 bytes. */
	for (i = 0; i < H2_WINDOW / H2_FRAME_HEADER; i++) {
		h = &sc->window[pos & (H2_WINDOW - 1)];
		if (h[3] > 8 || !((H2_REPLY_CONTROL >> h[3]) & 1))
			break;
		pos += H2_FRAME_HEADER + H2_LENGTH(h);
		if (pos >= n) {
			control = pos == n;
			break;
		}
		if (pos + H2_FRAME_HEADER > n)
			break;
	}
out:
	sc->busy = 0;
	return control;
#else
	return 0;
#endif
}

/* The walk itself, on the scratch this CPU's walk holds (http2_follow). */
static __always_inline int http2_walk_syscall(struct http2_syscall *sc, struct pt_regs *regs,
					      struct http2_framing *f, int ret, __u32 skip)
{
#if defined(__TARGET_ARCH_x86)
	struct http2_walk *w = &sc->walk;

	if (!http2_syscall_buffers(sc, regs, ret))
		return -1;
	w->skip = skip;
	if (!w->vec) /* a plain buffer: the preface at its start (iovecs pass it in turn) */
		w->pos = skip < (__u32)ret ? skip : ret;
	sc->framing = *f;
	bpf_loop(H2_STEPS, http2_step, &sc, 0);
	if (!w->done || w->lost || w->left)
		return -1;
	*f = sc->framing;
	return w->opened * 2 + w->content;
#else
	return -1;
#endif
}

/*
 * Follows the frames of this syscall's `ret` bytes on a connection taken for HTTP/2
 * (`skip` of them the preface); returns twice the requests opened, plus 1 when the bytes
 * carried any part of a request or reply (H2_CONTENT), or -1 when the frames are lost.
 */
static __noinline int http2_follow(struct http2_framing *f, int ret, __u32 skip)
{
	struct pt_regs *regs = syscall_regs();
	struct http2_syscall *sc;
	__u32 zero = 0;
	int walked;

	sc = bpf_map_lookup_elem(&http2_scratch, &zero);
	if (!regs || ret <= 0 || !sc || __sync_lock_test_and_set(&sc->busy, 1))
		return -1;
	walked = http2_walk_syscall(sc, regs, f, ret, skip);
	sc->busy = 0;
	return walked;
}

#endif /* TOLLGATE_HTTP2_FRAMES_BPF_H */
