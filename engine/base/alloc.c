/*
 * alloc.c - every allocation of the engine goes through here: aligned
 * buffers (stp_alloc, stp_calloc) and plain objects (stp_malloc, stp_zalloc,
 * stp_realloc, stp_strdup). All of it is freed with stp_free (free()).
 *
 * One gate, allocation_fails(), lets tests fail the Nth allocation from now
 * (stp_alloc_fail_nth), SQLite's fault simulation: each path that allocates
 * must then return STP_ERR_NOMEM cleanly, leak nothing and leave its objects
 * usable. The gate costs one relaxed atomic load when no failure is armed.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static atomic_long fail_countdown;   /* 0: off; 1: the next allocation fails */
static atomic_long failures;

void stp_alloc_fail_nth(long n)
{
	if (n > 0)
		atomic_store(&failures, 0);   /* counts from this arming on */
	atomic_store(&fail_countdown, n > 0 ? n : 0);
}

long stp_alloc_failures(void)
{
	return atomic_load(&failures);
}

static int allocation_fails(void)
{
	long left = atomic_load_explicit(&fail_countdown, memory_order_relaxed);

	while (left > 0) {
		if (atomic_compare_exchange_weak(&fail_countdown, &left, left - 1)) {
			if (left != 1)
				return 0;
			atomic_fetch_add(&failures, 1);
			return 1;
		}
	}
	return 0;
}

void *stp_alloc(size_t bytes)
{
	void *p = NULL;

	if (bytes == 0 || allocation_fails())
		return NULL;
	/* Round up so the last vector of any buffer may be loaded whole. */
	if (bytes > SIZE_MAX - STP_ALIGN)
		return NULL;
	bytes = (bytes + STP_ALIGN - 1) / STP_ALIGN * STP_ALIGN;
	if (posix_memalign(&p, STP_ALIGN, bytes) != 0)
		return NULL;
	return p;
}

void *stp_calloc(size_t count, size_t size)
{
	size_t bytes;
	void *p;

	if (!stp_mul_size(count, size, &bytes))
		return NULL;
	p = stp_alloc(bytes);
	if (p)
		memset(p, 0, bytes);
	return p;
}

void *stp_malloc(size_t bytes)
{
	return allocation_fails() ? NULL : malloc(bytes ? bytes : 1);
}

void *stp_zalloc(size_t count, size_t size)
{
	if (allocation_fails())
		return NULL;
	return count && size ? calloc(count, size) : calloc(1, 1);
}

void *stp_realloc(void *p, size_t bytes)
{
	return allocation_fails() ? NULL : realloc(p, bytes ? bytes : 1);
}

char *stp_strdup(const char *s)
{
	const size_t n = strlen(s) + 1;
	char *copy = stp_malloc(n);

	if (copy)
		memcpy(copy, s, n);
	return copy;
}

void stp_free(void *p)
{
	free(p);
}
