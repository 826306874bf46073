/*
 * igemm-avx512-narrow.c - IGEMM micro-kernels for AVX-512F on narrow output
 * blocks: 12 pixels x 32 channels and 14 pixels x 16 channels.
 *
 * The 6x64 kernel wastes half or three quarters of its lanes on convs with
 * 32 or 16 output channels (the first stage of a CSP backbone: 16- and
 * 32-channel convs at stride 4); these keep every lane busy with more rows
 * instead: 12 x 2 and 14 x 1 zmm accumulators. Both are one body,
 * specialised by the compiler for the constant shapes; the accumulators
 * stay in registers (24 and 14 of the 32 zmm). Contract: kernels.h.
 */
#include <immintrin.h>
#include <stdint.h>

#include "kernels.h"

#define MAX_ROWS 14
#define MAX_VECS 2

static inline __m512 rectify(__m512 v, float slope)
{
	return _mm512_max_ps(v, slope == 0.0f ? _mm512_setzero_ps()
					      : _mm512_mul_ps(v, _mm512_set1_ps(slope)));
}

static inline __attribute__((always_inline)) void
igemm(const size_t MR, const size_t NV, size_t mr, size_t nc, size_t kc, size_t ks,
      const float *const *a, size_t a_offset, const float *bias, const float *w,
      float *const *c, const float *const *residual, unsigned flags, float slope)
{
	__m512 acc[MAX_ROWS][MAX_VECS];
	__mmask16 lanes[MAX_VECS];

	for (size_t v = 0; v < NV; v++) {
		const size_t valid = nc > 16 * v ? (nc - 16 * v >= 16 ? 16 : nc - 16 * v) : 0;
		lanes[v] = (__mmask16)((1u << valid) - 1u);
	}
#pragma GCC unroll 14
	for (size_t r = 0; r < MR; r++)
#pragma GCC unroll 2
		for (size_t v = 0; v < NV; v++)
			acc[r][v] = !(flags & STP_IGEMM_ACCUMULATE) ? _mm512_load_ps(bias + 16 * v)
				    : r < mr ? _mm512_maskz_loadu_ps(lanes[v], c[r] + 16 * v)
					     : _mm512_setzero_ps();
	for (size_t t = 0; t < ks; t++, a += MR) {
		const float *row[MAX_ROWS];
#pragma GCC unroll 14
		for (size_t r = 0; r < MR; r++)
			row[r] = a[r] + a_offset;
		for (size_t k = 0; k < kc; k++, w += 16 * NV) {
			__m512 wv[MAX_VECS];
#pragma GCC unroll 2
			for (size_t v = 0; v < NV; v++)
				wv[v] = _mm512_load_ps(w + 16 * v);
#pragma GCC unroll 14
			for (size_t r = 0; r < MR; r++) {
				const __m512 x = _mm512_set1_ps(row[r][k]);
#pragma GCC unroll 2
				for (size_t v = 0; v < NV; v++)
					acc[r][v] = _mm512_fmadd_ps(x, wv[v], acc[r][v]);
			}
		}
	}
#pragma GCC unroll 14
	for (size_t r = 0; r < MR; r++) {
		if (r >= mr)
			break;
#pragma GCC unroll 2
		for (size_t v = 0; v < NV; v++) {
			__m512 x = acc[r][v];
			if (residual)
				x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(lanes[v], residual[r] + 16 * v));
			if (flags & STP_IGEMM_RELU)
				x = rectify(x, slope);
			_mm512_mask_storeu_ps(c[r] + 16 * v, lanes[v], x);
		}
	}
}

void stp_f32_igemm_ukernel_12x32__avx512(size_t mr, size_t nc, size_t kc, size_t ks,
					 const float *const *a, size_t a_offset,
					 const float *bias, const float *w,
					 float *const *c, const float *const *residual,
					 unsigned flags, float slope)
{
	igemm(12, 2, mr, nc, kc, ks, a, a_offset, bias, w, c, residual, flags, slope);
}

void stp_f32_igemm_ukernel_14x16__avx512(size_t mr, size_t nc, size_t kc, size_t ks,
					 const float *const *a, size_t a_offset,
					 const float *bias, const float *w,
					 float *const *c, const float *const *residual,
					 unsigned flags, float slope)
{
	igemm(14, 1, mr, nc, kc, ks, a, a_offset, bias, w, c, residual, flags, slope);
}
