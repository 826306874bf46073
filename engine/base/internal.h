/*
 * internal.h - definitions shared inside libstipple; never installed.
 *
 * stp_tensor is the engine's working tensor descriptor: one image (batch 1),
 * NHWC, with a pixel stride that may exceed the channel count so that a
 * tensor can be a channel slice of a larger buffer.
 */
#ifndef STP_INTERNAL_H
#define STP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "stipple.h"

#if defined(__GNUC__)
#define STP_HIDDEN __attribute__((visibility("hidden")))
#else
#define STP_HIDDEN
#endif

#define STP_ALIGN 64  /* bytes; every buffer the engine allocates is aligned so */

struct stp_tensor {
	float *data;     /* element (y, x, c) at data[(y*w + x)*c_stride + c] */
	int h, w, c;
	int c_stride;    /* floats between consecutive pixels, >= c */
};

/* Every allocation of the engine (alloc.c); free all with stp_free().
 * Aligned buffers (STP_ALIGN), NULL on failure or size 0: */
void *stp_alloc(size_t bytes);
void *stp_calloc(size_t count, size_t size);  /* zeroed, overflow-checked */
/* Objects, as malloc/calloc/realloc/strdup (size 0 still gives a pointer): */
void *stp_malloc(size_t bytes);
void *stp_zalloc(size_t count, size_t size);
void *stp_realloc(void *p, size_t bytes);
char *stp_strdup(const char *s);
void stp_free(void *p);
/* Tests: the nth allocation from now fails (n <= 0: disarms), and how many
 * armed failures happened since the last arming. */
void stp_alloc_fail_nth(long n);
long stp_alloc_failures(void);

/* Overflow-checked a*b; returns 0 (and leaves *out untouched) on overflow. */
static inline int stp_mul_size(size_t a, size_t b, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return 0;
	*out = a * b;
	return 1;
}

/* A monotonic clock, in nanoseconds (profiling). */
static inline int64_t stp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Writes a formatted one-line message to err (if not NULL) and returns st. */
enum stp_status stp_set_error(char *err, size_t errlen, enum stp_status st,
			      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
