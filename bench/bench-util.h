/*
 * bench-util.h - what the C benchmarks share: a monotonic clock in ms, a
 * comparison for sorting times, and a fixed hash that draws masks the same
 * way on every run.
 */
#ifndef STP_BENCH_UTIL_H
#define STP_BENCH_UTIL_H

#include <time.h>

static inline double bench_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* For qsort over doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* key hashed to [0, 1) (a SplitMix64 step). */
static inline double bench_unit_hash(unsigned long long key)
{
	unsigned long long z = (key + 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
	z ^= z >> 31;
	z *= 0x94D049BB133111EBull;
	z ^= z >> 29;
	return (double)(z >> 11) / 9007199254740992.0;
}

#endif
