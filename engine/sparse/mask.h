/*
 * mask.h - from mask logits to the set of cells a sparse conv computes.
 *
 * A cell is sampled when it lies on the grid prior (y % s == 0 and
 * x % s == 0) or when its logit passes the mode's test:
 *   deterministic   logit >= 0                (p >= 0.5, no exp needed)
 *   stochastic      logit + L >= 0, L = logistic noise from a counter-based
 *                   generator keyed by (seed, mask index, cell): the same
 *                   masks on every run, thread count, and in PyTorch
 *                   (train/stipple_train/noise.py implements the same hash).
 *   top-k           the grid plus the k - (grid cells) highest logits off
 *                   the grid (ties broken in row-major order): the budget
 *                   mode, where k comes from the cost model (budget.h).
 * The result is a byte mask (1 = sampled) and the row-major list of sampled
 * cells, which is what the sparse conv kernels consume.
 */
#ifndef STP_SPARSE_MASK_H
#define STP_SPARSE_MASK_H

#include <stdint.h>

#include "../base/internal.h"

enum stp_sample_mode { STP_SAMPLE_DETERMINISTIC, STP_SAMPLE_STOCHASTIC };

/* Logistic noise for (seed, mask, cell): log(u / (1 - u)) with u the top 24
 * bits of a 64-bit hash, offset by half a step, in (0, 1). */
float stp_mask_noise(uint64_t seed, uint32_t mask_index, uint32_t cell);

/* logits: h x w values, logit of cell p at logits[p * stride]. Writes
 * mask[h*w] and list (sampled cells in row-major order); returns the count. */
size_t stp_mask_sample(const float *logits, size_t stride, int h, int w, int grid,
		       enum stp_sample_mode mode, uint64_t seed, uint32_t mask_index,
		       uint8_t *mask, int32_t *list);

/* Top-k sampling: as stp_mask_sample, keeping at least the grid and at most
 * max(k, grid cells) cells. scratch holds h*w floats. */
size_t stp_mask_sample_topk(const float *logits, size_t stride, int h, int w, int grid,
			    size_t k, float *scratch, uint8_t *mask, int32_t *list);

/* Cells on the grid prior of an h x w map. */
size_t stp_mask_grid_cells(int h, int w, int grid);

#endif
