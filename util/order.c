/*
 * order.c - see order.h. The merge sort is written once as a macro body and
 * instantiated per key type; the comparison ranks NaN as -inf.
 */
#include <math.h>
#include <string.h>

#include "order.h"

/* a ranks strictly above b, NaN ranking as -inf */
#define RANK(x) ((x) == (x) ? (x) : -INFINITY)
#define RANKS_ABOVE(a, b) (RANK(a) > RANK(b))

#define DEFINE_SORT_DESC(name, key_t)                                                  \
	void name(const key_t *key, uint32_t *idx, size_t n, uint32_t *scratch)       \
	{                                                                              \
		uint32_t *a = idx, *b = scratch;                                       \
                                                                                       \
		for (size_t width = 1; width < n; width *= 2) {                        \
			for (size_t lo = 0; lo < n; lo += 2 * width) {                 \
				const size_t mid = lo + width < n ? lo + width : n;    \
				const size_t hi = lo + 2 * width < n ? lo + 2 * width : n; \
				size_t i = lo, j = mid, o = lo;                        \
				/* the right run wins only when it ranks strictly      \
				 * above: stable */                                    \
				while (i < mid && j < hi)                              \
					b[o++] = RANKS_ABOVE(key[a[j]], key[a[i]]) ? a[j++] : a[i++]; \
				while (i < mid)                                        \
					b[o++] = a[i++];                               \
				while (j < hi)                                         \
					b[o++] = a[j++];                               \
			}                                                              \
			uint32_t *t = a;                                               \
			a = b;                                                         \
			b = t;                                                         \
		}                                                                      \
		if (a != idx)                                                          \
			memcpy(idx, a, n * sizeof(*idx));                              \
	}

DEFINE_SORT_DESC(stp_sort_desc_f32, float)
DEFINE_SORT_DESC(stp_sort_desc_f64, double)

static float median_of_three(float a, float b, float c)
{
	if (a > b)
		return b > c ? b : (a > c ? c : a);
	return a > c ? a : (b > c ? c : b);
}

float stp_kth_largest_f32(float *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;
	const size_t want = k - 1;

	while (lo < hi) {
		const float pivot = median_of_three(v[lo], v[lo + (hi - lo) / 2], v[hi]);
		size_t i = lo, j = hi;

		while (i <= j) {
			while (v[i] > pivot)
				i++;
			while (v[j] < pivot)
				j--;
			if (i <= j) {
				const float t = v[i];

				v[i] = v[j];
				v[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (want <= j)
			hi = j;
		else if (want >= i)
			lo = i;
		else
			break;
	}
	return v[want];
}
