/*
 * igemm-avx2.c - IGEMM micro-kernel for AVX2+FMA, 6 pixels x 16 channels.
 *
 * 12 ymm accumulators (6 rows x 2 vectors), 2 weight vectors and one
 * broadcast per row and input channel. Compiled with -mavx2 -mfma; only
 * called when the CPU has both.
 */
#include <immintrin.h>

#include "kernels.h"

static inline __m256i tail_mask(size_t valid)
{
	const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)valid), idx);
}

/* ReLU (slope 0) or LeakyReLU: max(v, v * slope), exact for slope in (0, 1]. */
static inline __m256 rectify(__m256 v, float slope)
{
	return _mm256_max_ps(v, slope == 0.0f ? _mm256_setzero_ps()
					      : _mm256_mul_ps(v, _mm256_set1_ps(slope)));
}

static inline void store_row(float *c, const float *res, __m256 v0, __m256 v1,
			     size_t nc, int relu, float slope)
{
	if (nc == 16) {
		if (res) {
			v0 = _mm256_add_ps(v0, _mm256_loadu_ps(res));
			v1 = _mm256_add_ps(v1, _mm256_loadu_ps(res + 8));
		}
		if (relu) {
			v0 = rectify(v0, slope);
			v1 = rectify(v1, slope);
		}
		_mm256_storeu_ps(c, v0);
		_mm256_storeu_ps(c + 8, v1);
		return;
	}
	const __m256i m0 = tail_mask(nc), m1 = tail_mask(nc > 8 ? nc - 8 : 0);
	if (res) {
		v0 = _mm256_add_ps(v0, _mm256_maskload_ps(res, m0));
		v1 = _mm256_add_ps(v1, _mm256_maskload_ps(res + 8, m1));
	}
	if (relu) {
		v0 = rectify(v0, slope);
		v1 = rectify(v1, slope);
	}
	_mm256_maskstore_ps(c, m0, v0);
	_mm256_maskstore_ps(c + 8, m1, v1);
}

/* Loads row r's accumulated partial sums (masked to nc; rows >= mr: zero). */
static inline void load_row(const float *c, size_t valid_rows, size_t r, size_t nc,
			    __m256 *v0, __m256 *v1)
{
	if (r >= valid_rows) {
		*v0 = *v1 = _mm256_setzero_ps();
	} else if (nc == 16) {
		*v0 = _mm256_loadu_ps(c);
		*v1 = _mm256_loadu_ps(c + 8);
	} else {
		*v0 = _mm256_maskload_ps(c, tail_mask(nc));
		*v1 = _mm256_maskload_ps(c + 8, tail_mask(nc > 8 ? nc - 8 : 0));
	}
}

void stp_f32_igemm_ukernel_6x16__avx2(size_t mr, size_t nc, size_t kc, size_t ks,
				      const float *const *a, size_t a_offset,
				      const float *bias, const float *w,
				      float *const *c, const float *const *residual,
				      unsigned flags, float slope)
{
	__m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
	if (flags & STP_IGEMM_ACCUMULATE) {
		load_row(c[0], mr, 0, nc, &c00, &c01);
		load_row(c[1], mr, 1, nc, &c10, &c11);
		load_row(c[2], mr, 2, nc, &c20, &c21);
		load_row(c[3], mr, 3, nc, &c30, &c31);
		load_row(c[4], mr, 4, nc, &c40, &c41);
		load_row(c[5], mr, 5, nc, &c50, &c51);
	} else {
		c00 = _mm256_load_ps(bias);
		c01 = _mm256_load_ps(bias + 8);
		c10 = c20 = c30 = c40 = c50 = c00;
		c11 = c21 = c31 = c41 = c51 = c01;
	}
	for (size_t t = 0; t < ks; t++, a += 6) {
		const float *a0 = a[0] + a_offset, *a1 = a[1] + a_offset, *a2 = a[2] + a_offset;
		const float *a3 = a[3] + a_offset, *a4 = a[4] + a_offset, *a5 = a[5] + a_offset;
		for (size_t k = 0; k < kc; k++, w += 16) {
			const __m256 w0 = _mm256_load_ps(w), w1 = _mm256_load_ps(w + 8);
			__m256 x;
			x = _mm256_broadcast_ss(a0 + k);
			c00 = _mm256_fmadd_ps(x, w0, c00); c01 = _mm256_fmadd_ps(x, w1, c01);
			x = _mm256_broadcast_ss(a1 + k);
			c10 = _mm256_fmadd_ps(x, w0, c10); c11 = _mm256_fmadd_ps(x, w1, c11);
			x = _mm256_broadcast_ss(a2 + k);
			c20 = _mm256_fmadd_ps(x, w0, c20); c21 = _mm256_fmadd_ps(x, w1, c21);
			x = _mm256_broadcast_ss(a3 + k);
			c30 = _mm256_fmadd_ps(x, w0, c30); c31 = _mm256_fmadd_ps(x, w1, c31);
			x = _mm256_broadcast_ss(a4 + k);
			c40 = _mm256_fmadd_ps(x, w0, c40); c41 = _mm256_fmadd_ps(x, w1, c41);
			x = _mm256_broadcast_ss(a5 + k);
			c50 = _mm256_fmadd_ps(x, w0, c50); c51 = _mm256_fmadd_ps(x, w1, c51);
		}
	}
	const __m256 rows[6][2] = {{c00, c01}, {c10, c11}, {c20, c21},
				   {c30, c31}, {c40, c41}, {c50, c51}};
	for (size_t r = 0; r < mr; r++)
		store_row(c[r], residual ? residual[r] : NULL, rows[r][0], rows[r][1], nc,
			  flags & STP_IGEMM_RELU, slope);
}
