/*
 * timing.c - the clock the commands time runs with and the ascending sort
 * of their latencies (for min / median / percentiles): one of each for
 * bench, detect, segment and eval.
 */
#include <stdlib.h>
#include <time.h>

#include "cli.h"

double cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void cli_sort_ms(double *ms, int n)
{
	qsort(ms, (size_t)n, sizeof(*ms), by_value);
}
