/*
 * dotconv-avx512.c - DOTCONV micro-kernel for AVX-512F: 8 pixels x up to 2
 * output channels, 16 zmm accumulators over 16-channel slices (2 weight
 * loads and 8 input loads per 16 FMAs); the channel tail uses masked loads.
 */
#include <immintrin.h>

#include "kernels.h"

void stp_f32_dotconv_ukernel_8xN__avx512(size_t mr, size_t nc, size_t kc, size_t ks,
					 const float *const *a, const float *w,
					 float *const *c)
{
	const __mmask16 tail = (__mmask16)((1u << (kc % 16)) - 1u);
	const size_t kmain = kc - kc % 16;

	for (size_t n0 = 0; n0 < nc; n0 += 2) {
		const size_t n1 = n0 + 1 < nc ? n0 + 1 : n0;
		const float *w0 = w + n0 * ks * kc, *w1 = w + n1 * ks * kc;
		__m512 acc[8][2];
		for (int r = 0; r < 8; r++)
			acc[r][0] = acc[r][1] = _mm512_setzero_ps();
		for (size_t t = 0; t < ks; t++) {
			const float *const *at = a + t * STP_DOTCONV_MR;
			const float *x0 = w0 + t * kc, *x1 = w1 + t * kc;
			size_t k = 0;
			for (; k < kmain; k += 16) {
				const __m512 v0 = _mm512_loadu_ps(x0 + k), v1 = _mm512_loadu_ps(x1 + k);
				for (int r = 0; r < 8; r++) {
					const __m512 p = _mm512_loadu_ps(at[r] + k);
					acc[r][0] = _mm512_fmadd_ps(p, v0, acc[r][0]);
					acc[r][1] = _mm512_fmadd_ps(p, v1, acc[r][1]);
				}
			}
			if (tail) {
				const __m512 v0 = _mm512_maskz_loadu_ps(tail, x0 + k);
				const __m512 v1 = _mm512_maskz_loadu_ps(tail, x1 + k);
				for (int r = 0; r < 8; r++) {
					const __m512 p = _mm512_maskz_loadu_ps(tail, at[r] + k);
					acc[r][0] = _mm512_fmadd_ps(p, v0, acc[r][0]);
					acc[r][1] = _mm512_fmadd_ps(p, v1, acc[r][1]);
				}
			}
		}
		for (size_t r = 0; r < mr; r++) {
			c[r][n0] = _mm512_reduce_add_ps(acc[r][0]);
			if (n1 != n0)
				c[r][n1] = _mm512_reduce_add_ps(acc[r][1]);
		}
	}
}
