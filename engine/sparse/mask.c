/*
 * mask.c - sampling cells from mask logits (see mask.h).
 *
 * The noise hash is SplitMix64's finaliser applied to a key that packs the
 * seed, the mask index and the cell: cheap, stateless (so any thread can
 * draw any cell) and simple to reproduce in numpy.
 */
#include <math.h>

#include "mask.h"
#include "order.h"

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

float stp_mask_noise(uint64_t seed, uint32_t mask_index, uint32_t cell)
{
	const uint64_t key = mix64(seed + 0x9E3779B97F4A7C15ull) ^
			     (((uint64_t)mask_index << 32) | cell);
	const uint64_t h = mix64(key);
	const double u = ((double)(h >> 40) + 0.5) / 16777216.0;
	return (float)log(u / (1.0 - u));
}

size_t stp_mask_sample(const float *logits, size_t stride, int h, int w, int grid,
		       enum stp_sample_mode mode, uint64_t seed, uint32_t mask_index,
		       uint8_t *mask, int32_t *list)
{
	size_t n = 0;
	for (int y = 0; y < h; y++) {
		const int on_grid_row = grid > 0 && y % grid == 0;
		for (int x = 0; x < w; x++) {
			const uint32_t p = (uint32_t)y * (uint32_t)w + (uint32_t)x;
			float v = logits[p * stride];
			int on;
			if (mode == STP_SAMPLE_STOCHASTIC)
				v += stp_mask_noise(seed, mask_index, p);
			on = v >= 0.0f || (on_grid_row && x % grid == 0);
			mask[p] = (uint8_t)on;
			if (on)
				list[n++] = (int32_t)p;
		}
	}
	return n;
}

size_t stp_mask_grid_cells(int h, int w, int grid)
{
	if (grid <= 0)
		return 0;
	return (size_t)((h + grid - 1) / grid) * (size_t)((w + grid - 1) / grid);
}

/* Calls body(p, off_grid) for every cell p in row-major order, without a
 * division per cell. */
#define FOR_CELLS(h, w, grid, body)                                              \
	for (int y_ = 0, p_ = 0; y_ < (h); y_++) {                                \
		const int grid_row_ = (grid) > 0 && y_ % (grid) == 0;            \
		for (int x_ = 0, gx_ = 0; x_ < (w); x_++, p_++) {                \
			const int off_grid_ = !(grid_row_ && gx_ == 0);         \
			body(p_, off_grid_);                                     \
			if ((grid) > 0 && ++gx_ == (grid))                       \
				gx_ = 0;                                         \
		}                                                                \
	}

size_t stp_mask_sample_topk(const float *logits, size_t stride, int h, int w, int grid,
			    size_t k, float *scratch, uint8_t *mask, int32_t *list)
{
	const size_t grid_cells = stp_mask_grid_cells(h, w, grid);
	size_t extra = k > grid_cells ? k - grid_cells : 0, noff = 0, n = 0, above = 0, ties;
	float thr = INFINITY;

#define COLLECT(p, off) \
	if (off) scratch[noff++] = stp_rank_f32(logits[(size_t)(p) * stride]);
	FOR_CELLS(h, w, grid, COLLECT)
#undef COLLECT
	if (extra > noff)
		extra = noff;
	if (extra > 0)
		thr = stp_kth_largest_f32(scratch, noff, extra);
	/* Off-grid cells strictly above the threshold, then ties at it in
	 * row-major order until `extra` are taken. */
#define COUNT(p, off) \
	above += extra > 0 && (off) && stp_rank_f32(logits[(size_t)(p) * stride]) > thr;
	FOR_CELLS(h, w, grid, COUNT)
#undef COUNT
	ties = extra - above;
#define TAKE(p, off)                                                         \
	{                                                                    \
		const float v_ = stp_rank_f32(logits[(size_t)(p) * stride]);   \
		int on_ = !(off);                                            \
		if ((off) && extra > 0) {                                    \
			if (v_ > thr) {                                      \
				on_ = 1;                                     \
			} else if (v_ == thr && ties > 0) {                  \
				on_ = 1;                                     \
				ties--;                                      \
			}                                                    \
		}                                                            \
		mask[p] = (uint8_t)on_;                                      \
		if (on_)                                                     \
			list[n++] = (int32_t)(p);                            \
	}
	FOR_CELLS(h, w, grid, TAKE)
#undef TAKE
	return n;
}
