/*
 * dotconv-avx512.c - DOTCONV micro-kernel for AVX-512F: 4 pixels x up to 2
 * output channels, 8 zmm accumulators over 16-channel slices; the channel
 * tail uses masked loads.
 */
#include <immintrin.h>

#include "kernels.h"

void stp_f32_dotconv_ukernel_4xN__avx512(size_t mr, size_t nc, size_t kc, size_t ks,
					 const float *const *a, const float *w,
					 float *const *c)
{
	const __mmask16 tail = (__mmask16)((1u << (kc % 16)) - 1u);
	const size_t kmain = kc - kc % 16;

	for (size_t n0 = 0; n0 < nc; n0 += 2) {
		const size_t n1 = n0 + 1 < nc ? n0 + 1 : n0;
		const float *w0 = w + n0 * ks * kc, *w1 = w + n1 * ks * kc;
		__m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
		__m512 c20 = c00, c21 = c00, c30 = c00, c31 = c00;
		for (size_t t = 0; t < ks; t++) {
			const float *a0 = a[t * 4], *a1 = a[t * 4 + 1];
			const float *a2 = a[t * 4 + 2], *a3 = a[t * 4 + 3];
			const float *x0 = w0 + t * kc, *x1 = w1 + t * kc;
			size_t k = 0;
			for (; k < kmain; k += 16) {
				const __m512 v0 = _mm512_loadu_ps(x0 + k), v1 = _mm512_loadu_ps(x1 + k);
				__m512 p = _mm512_loadu_ps(a0 + k);
				c00 = _mm512_fmadd_ps(p, v0, c00); c01 = _mm512_fmadd_ps(p, v1, c01);
				p = _mm512_loadu_ps(a1 + k);
				c10 = _mm512_fmadd_ps(p, v0, c10); c11 = _mm512_fmadd_ps(p, v1, c11);
				p = _mm512_loadu_ps(a2 + k);
				c20 = _mm512_fmadd_ps(p, v0, c20); c21 = _mm512_fmadd_ps(p, v1, c21);
				p = _mm512_loadu_ps(a3 + k);
				c30 = _mm512_fmadd_ps(p, v0, c30); c31 = _mm512_fmadd_ps(p, v1, c31);
			}
			if (tail) {
				const __m512 v0 = _mm512_maskz_loadu_ps(tail, x0 + k);
				const __m512 v1 = _mm512_maskz_loadu_ps(tail, x1 + k);
				__m512 p = _mm512_maskz_loadu_ps(tail, a0 + k);
				c00 = _mm512_fmadd_ps(p, v0, c00); c01 = _mm512_fmadd_ps(p, v1, c01);
				p = _mm512_maskz_loadu_ps(tail, a1 + k);
				c10 = _mm512_fmadd_ps(p, v0, c10); c11 = _mm512_fmadd_ps(p, v1, c11);
				p = _mm512_maskz_loadu_ps(tail, a2 + k);
				c20 = _mm512_fmadd_ps(p, v0, c20); c21 = _mm512_fmadd_ps(p, v1, c21);
				p = _mm512_maskz_loadu_ps(tail, a3 + k);
				c30 = _mm512_fmadd_ps(p, v0, c30); c31 = _mm512_fmadd_ps(p, v1, c31);
			}
		}
		const __m512 acc[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
		for (size_t r = 0; r < mr; r++) {
			c[r][n0] = _mm512_reduce_add_ps(acc[r][0]);
			if (n1 != n0)
				c[r][n1] = _mm512_reduce_add_ps(acc[r][1]);
		}
	}
}
