/*
 * igemm-avx512.c - IGEMM micro-kernel for AVX-512F, 6 pixels x 64 channels.
 *
 * 24 zmm accumulators (6 rows x 4 vectors): per input channel, 4 weight
 * loads and 6 broadcasts feed 24 FMAs, enough independent chains to keep
 * both FMA pipes busy. The channel tail (nc < 64) uses masked stores; the
 * packed weights are zero-padded so the main loop never needs masks.
 */
#include <immintrin.h>
#include <stdint.h>

#include "kernels.h"

/* ReLU (slope 0) or LeakyReLU: max(v, v * slope), exact for slope in (0, 1]. */
static inline __m512 rectify(__m512 v, float slope)
{
	return _mm512_max_ps(v, slope == 0.0f ? _mm512_setzero_ps()
					      : _mm512_mul_ps(v, _mm512_set1_ps(slope)));
}

static inline void store_row(float *c, const float *res, __m512 v0, __m512 v1,
			     __m512 v2, __m512 v3, size_t nc, int relu, float slope,
			     int stream)
{
	if (nc == 64) {
		if (res) {
			v0 = _mm512_add_ps(v0, _mm512_loadu_ps(res));
			v1 = _mm512_add_ps(v1, _mm512_loadu_ps(res + 16));
			v2 = _mm512_add_ps(v2, _mm512_loadu_ps(res + 32));
			v3 = _mm512_add_ps(v3, _mm512_loadu_ps(res + 48));
		}
		if (relu) {
			v0 = rectify(v0, slope);
			v1 = rectify(v1, slope);
			v2 = rectify(v2, slope);
			v3 = rectify(v3, slope);
		}
		if (stream && ((uintptr_t)c & 63) == 0) {
			_mm512_stream_ps(c, v0);
			_mm512_stream_ps(c + 16, v1);
			_mm512_stream_ps(c + 32, v2);
			_mm512_stream_ps(c + 48, v3);
		} else {
			_mm512_storeu_ps(c, v0);
			_mm512_storeu_ps(c + 16, v1);
			_mm512_storeu_ps(c + 32, v2);
			_mm512_storeu_ps(c + 48, v3);
		}
		return;
	}
	__m512 v[4] = {v0, v1, v2, v3};
	for (size_t q = 0; q < 4 && 16 * q < nc; q++) {
		const size_t valid = nc - 16 * q >= 16 ? 16 : nc - 16 * q;
		const __mmask16 m = (__mmask16)((1u << valid) - 1u);
		__m512 x = v[q];
		if (res)
			x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, res + 16 * q));
		if (relu)
			x = rectify(x, slope);
		_mm512_mask_storeu_ps(c + 16 * q, m, x);
	}
}

/* Partial sums of row r (masked to nc; rows >= mr: zero), quarter q. */
static inline __m512 load_partial(float *const *c, size_t mr, size_t r, size_t nc, size_t q)
{
	size_t valid;
	if (r >= mr || 16 * q >= nc)
		return _mm512_setzero_ps();
	valid = nc - 16 * q >= 16 ? 16 : nc - 16 * q;
	return _mm512_maskz_loadu_ps((__mmask16)((1u << valid) - 1u), c[r] + 16 * q);
}

void stp_f32_igemm_ukernel_6x64__avx512(size_t mr, size_t nc, size_t kc, size_t ks,
					const float *const *a, size_t a_offset,
					const float *bias, const float *w,
					float *const *c, const float *const *residual,
					unsigned flags, float slope)
{
	__m512 c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23;
	__m512 c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53;
	if (flags & STP_IGEMM_ACCUMULATE) {
#define LOAD(r) c##r##0 = load_partial(c, mr, r, nc, 0); c##r##1 = load_partial(c, mr, r, nc, 1); \
		c##r##2 = load_partial(c, mr, r, nc, 2); c##r##3 = load_partial(c, mr, r, nc, 3);
		LOAD(0) LOAD(1) LOAD(2) LOAD(3) LOAD(4) LOAD(5)
#undef LOAD
	} else {
		c00 = _mm512_load_ps(bias);
		c01 = _mm512_load_ps(bias + 16);
		c02 = _mm512_load_ps(bias + 32);
		c03 = _mm512_load_ps(bias + 48);
		c10 = c20 = c30 = c40 = c50 = c00;
		c11 = c21 = c31 = c41 = c51 = c01;
		c12 = c22 = c32 = c42 = c52 = c02;
		c13 = c23 = c33 = c43 = c53 = c03;
	}
	for (size_t t = 0; t < ks; t++, a += 6) {
		const float *a0 = a[0] + a_offset, *a1 = a[1] + a_offset, *a2 = a[2] + a_offset;
		const float *a3 = a[3] + a_offset, *a4 = a[4] + a_offset, *a5 = a[5] + a_offset;
		for (size_t k = 0; k < kc; k++, w += 64) {
			const __m512 w0 = _mm512_load_ps(w), w1 = _mm512_load_ps(w + 16);
			const __m512 w2 = _mm512_load_ps(w + 32), w3 = _mm512_load_ps(w + 48);
			__m512 x;
#define ROW(r)                                                   \
	x = _mm512_set1_ps(a##r[k]);                             \
	c##r##0 = _mm512_fmadd_ps(x, w0, c##r##0);               \
	c##r##1 = _mm512_fmadd_ps(x, w1, c##r##1);               \
	c##r##2 = _mm512_fmadd_ps(x, w2, c##r##2);               \
	c##r##3 = _mm512_fmadd_ps(x, w3, c##r##3);
			ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
		}
	}
#define STORE(r)                                                                   \
	if (r < mr)                                                                \
		store_row(c[r], residual ? residual[r] : NULL, c##r##0, c##r##1,   \
			  c##r##2, c##r##3, nc, flags & STP_IGEMM_RELU, slope,          \
			  flags & STP_IGEMM_STREAM);
	STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
}
