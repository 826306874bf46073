/*
 * order.h - ordering helpers shared by the engine and the CLI: a stable
 * descending sort of an index array by a key, and the k-th largest value by
 * quickselect. One copy of each algorithm (order.c instantiates the sort for
 * float and double keys from one body).
 *
 * NaN keys rank as -inf (a broken model's NaN logits or scores never crash
 * anything: they sort last, in their order among other -inf keys).
 */
#ifndef STP_ORDER_H
#define STP_ORDER_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Sorts idx[0..n) by key[idx[i]], descending; equal keys keep their order in
 * idx (stable, bottom-up merge sort). scratch: n entries. */
void stp_sort_desc_f32(const float *key, uint32_t *idx, size_t n, uint32_t *scratch);
void stp_sort_desc_f64(const double *key, uint32_t *idx, size_t n, uint32_t *scratch);

/* The k-th largest (1-based, 1 <= k <= n) of v[0..n), by quickselect with a
 * median-of-three pivot; reorders v. v must hold no NaN (map them to -inf
 * first: stp_rank_f32). */
float stp_kth_largest_f32(float *v, size_t n, size_t k);

/* A value's rank key: NaN ranks as -inf. */
static inline float stp_rank_f32(float v)
{
	return v == v ? v : -INFINITY;
}

#endif
