/*
 * testutil.h - the small harness every C test program uses.
 *
 * CHECK(cond, fmt, ...) records a failure with its location and goes on;
 * test_main_end() prints "N passed, N failed" and returns the automake exit
 * code (0 pass, 1 fail). SKIP(reason) exits 77; HARNESS_ERROR exits 99.
 */
#ifndef STP_TESTUTIL_H
#define STP_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (cond) {                                                 \
			test_passed++;                                      \
		} else {                                                    \
			test_failed++;                                      \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
		}                                                           \
	} while (0)

#define SKIP(reason)                                                \
	do {                                                        \
		printf("SKIP: %s\n", reason);                        \
		exit(77);                                           \
	} while (0)

#define HARNESS_ERROR(...)                                          \
	do {                                                        \
		fprintf(stderr, "HARNESS ERROR: ");                  \
		fprintf(stderr, __VA_ARGS__);                       \
		fputc('\n', stderr);                                \
		exit(99);                                           \
	} while (0)

static inline int test_main_end(void)
{
	printf("%d passed, %d failed\n", test_passed, test_failed);
	return test_failed ? 1 : 0;
}

/* One xorshift step of *state; returns the new state. */
static inline unsigned long long test_xorshift(unsigned long long *state)
{
	unsigned long long x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/* Deterministic uniform floats in [-1, 1). */
static inline float test_randf(unsigned long long *state)
{
	return (float)((double)(test_xorshift(state) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Deterministic 32-bit integers. */
static inline unsigned test_rand_u32(unsigned long long *state)
{
	return (unsigned)(test_xorshift(state) >> 32);
}

/* Relative L2 error ||a - b|| / max(||b||, tiny). */
static inline double test_rel_l2(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - (double)b[i];
		num += d * d;
		den += (double)b[i] * (double)b[i];
	}
	return sqrt(num) / (den > 1e-30 ? sqrt(den) : 1e-15);
}

/* The whole of a file (malloc'd; HARNESS_ERROR when it cannot be read). */
static inline unsigned char *test_read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0)
		HARNESS_ERROR("cannot read %s", path);
	buf = malloc((size_t)n);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		HARNESS_ERROR("cannot read %s", path);
	fclose(f);
	*size = (size_t)n;
	return buf;
}

/* Allocation-failure tests: the allocation to fail after n. Every one up
 * to 64, then every 7th (an operation's allocations are mostly the same
 * few, repeated); every one with STIPPLE_FAULTS_ALL=1. */
static inline long test_next_fault(long n)
{
	static int all = -1;

	if (all < 0)
		all = getenv("STIPPLE_FAULTS_ALL") && !strcmp(getenv("STIPPLE_FAULTS_ALL"), "1");
	return all || n < 64 ? n + 1 : n + 7;
}

#endif
