/*
 * test-order.c - util/order.c against naive references: the stable
 * descending sort for float and double keys (many ties, every length up to
 * a few hundred, NaN keys ranking as -inf and keeping their order among
 * -inf keys) and the k-th largest by quickselect against a full sort, on
 * sorted, reversed, constant and random inputs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "order.h"

static unsigned long long rng = 0x9e3779b97f4a7c15ull;

static unsigned next(void)
{
	return test_rand_u32(&rng);
}

static double rank(double v)
{
	return v == v ? v : -INFINITY;
}

/* Naive stable descending order (insertion sort), NaN as -inf. */
static void naive_order(const double *v, uint32_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && rank(v[idx[j]]) > rank(v[idx[j - 1]]); j--) {
			const uint32_t t = idx[j];

			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
}

static double random_key(int trial)
{
	const unsigned r = next();

	if (trial % 3 == 2 && r % 9 == 0)
		return r % 2 ? NAN : -INFINITY;
	return (double)(r % (trial % 2 ? 5 : 1000)) - 2.0;   /* few values: ties */
}

static void test_sort(void)
{
	enum { N = 300 };
	double v64[N];
	float v32[N];
	uint32_t ref[N], got[N], scratch[N];

	for (int trial = 0; trial < 60; trial++) {
		const size_t n = trial < 10 ? (size_t)trial : 1 + next() % N;

		for (size_t i = 0; i < n; i++) {
			v64[i] = random_key(trial);
			v32[i] = (float)v64[i];
		}
		naive_order(v64, ref, n);
		for (size_t i = 0; i < n; i++)
			got[i] = (uint32_t)i;
		stp_sort_desc_f64(v64, got, n, scratch);
		CHECK(n == 0 || memcmp(ref, got, n * sizeof(*got)) == 0, "f64 sort, trial %d (n %zu)",
		      trial, n);
		for (size_t i = 0; i < n; i++)
			got[i] = (uint32_t)i;
		stp_sort_desc_f32(v32, got, n, scratch);
		CHECK(n == 0 || memcmp(ref, got, n * sizeof(*got)) == 0, "f32 sort, trial %d (n %zu)",
		      trial, n);
	}
}

static int descending(const void *a, const void *b)
{
	const float x = *(const float *)a, y = *(const float *)b;

	return (x < y) - (x > y);
}

static void fill(float *v, size_t n, int shape)
{
	for (size_t i = 0; i < n; i++)
		switch (shape) {
		case 0: v[i] = (float)i; break;              /* ascending */
		case 1: v[i] = (float)(n - i); break;        /* descending */
		case 2: v[i] = 1.5f; break;                  /* constant */
		case 3: v[i] = (float)(next() % 4); break;   /* ties */
		default: v[i] = (float)(next() % 100000) - 50000.0f;
		}
}

static void test_kth_largest(void)
{
	enum { N = 257 };
	float v[N], sorted[N];

	for (int shape = 0; shape < 5; shape++)
		for (size_t n = 1; n <= N; n += n < 12 ? 1 : 41)
			for (size_t k = 1; k <= n; k += k < 4 || n - k < 4 ? 1 : n / 5 + 1) {
				float got;

				fill(v, n, shape);
				memcpy(sorted, v, n * sizeof(*v));
				qsort(sorted, n, sizeof(*sorted), descending);
				got = stp_kth_largest_f32(v, n, k);
				CHECK(got == sorted[k - 1], "k-th largest, shape %d n %zu k %zu: %g, want %g",
				      shape, n, k, got, sorted[k - 1]);
			}
	CHECK(stp_rank_f32(NAN) == -INFINITY && stp_rank_f32(-2.0f) == -2.0f, "rank of NaN");
}

int main(void)
{
	test_sort();
	test_kth_largest();
	return test_main_end();
}
