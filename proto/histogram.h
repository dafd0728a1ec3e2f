/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The log-linear histogram layout shared by kernel, wire, store and browser (C side; the
 * TypeScript side is proto/histogram.ts, and test/proto/histogram-agreement.test.ts checks
 * that both give every value the same bucket).
 *
 * Values are nanoseconds. 0..15 have a bucket each; above, index = (p - 3) * 16 + sub, where
 * p is the value's power of two and sub the 4 bits below its leading one. Values of
 * 2^(TG_HIST_MAX_POWER + 1) ns and more go to the last bucket.
 *
 * Usable from BPF programs and from user space: no libc, no __builtin_clz (BPF has no
 * count-leading-zeros instruction, so the power of two is found by halving).
 */
#ifndef TOLLGATE_HISTOGRAM_H
#define TOLLGATE_HISTOGRAM_H

#define TG_HIST_SUB_BITS 4
#define TG_HIST_SUB_BUCKETS (1 << TG_HIST_SUB_BITS)
#define TG_HIST_MAX_POWER 40
#define TG_HIST_BUCKETS ((TG_HIST_MAX_POWER - TG_HIST_SUB_BITS + 1) * TG_HIST_SUB_BUCKETS + TG_HIST_SUB_BUCKETS)

static inline unsigned int tg_log2_floor(unsigned long long v)
{
	unsigned int power = 0, shift;

	shift = (v > 0xFFFFFFFFULL) << 5; v >>= shift; power |= shift;
	shift = (v > 0xFFFFULL) << 4;     v >>= shift; power |= shift;
	shift = (v > 0xFFULL) << 3;       v >>= shift; power |= shift;
	shift = (v > 0xFULL) << 2;        v >>= shift; power |= shift;
	shift = (v > 0x3ULL) << 1;        v >>= shift; power |= shift;
	power |= (unsigned int)(v >> 1);
	return power;
}

static inline unsigned int tg_hist_index(unsigned long long value_ns)
{
	unsigned int power, sub;

	if (value_ns < TG_HIST_SUB_BUCKETS)
		return (unsigned int)value_ns;
	power = tg_log2_floor(value_ns);
	if (power > TG_HIST_MAX_POWER)
		return TG_HIST_BUCKETS - 1;
	sub = (unsigned int)(value_ns >> (power - TG_HIST_SUB_BITS)) - TG_HIST_SUB_BUCKETS;
	return (power - TG_HIST_SUB_BITS + 1) * TG_HIST_SUB_BUCKETS + sub;
}

#endif /* TOLLGATE_HISTOGRAM_H */
