/*
 * dotconv-avx2.c - DOTCONV micro-kernel for AVX2+FMA: 8 pixels as two
 * groups of 4 x up to 2 output channels, 8 ymm accumulators over 8-channel slices; the channel
 * tail is done with masked loads.
 */
#include <immintrin.h>

#include "kernels.h"

static inline float hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Four of the MR rows: a and c already point at the first of them. */
static void four_rows(size_t mr, size_t nc, size_t kc, size_t ks, const float *const *a,
		      const float *w, float *const *c)
{
	const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(kc % 8)), idx);
	const size_t kmain = kc - kc % 8;

	for (size_t n0 = 0; n0 < nc; n0 += 2) {
		const size_t n1 = n0 + 1 < nc ? n0 + 1 : n0;
		const float *w0 = w + n0 * ks * kc, *w1 = w + n1 * ks * kc;
		__m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
		__m256 c20 = c00, c21 = c00, c30 = c00, c31 = c00;
		for (size_t t = 0; t < ks; t++) {
			const float *const *at = a + t * STP_DOTCONV_MR;
			const float *a0 = at[0], *a1 = at[1], *a2 = at[2], *a3 = at[3];
			const float *x0 = w0 + t * kc, *x1 = w1 + t * kc;
			for (size_t k = 0; k < kc; k += 8) {
				__m256 v0, v1, p0, p1, p2, p3;
				if (k < kmain) {
					v0 = _mm256_loadu_ps(x0 + k); v1 = _mm256_loadu_ps(x1 + k);
					p0 = _mm256_loadu_ps(a0 + k); p1 = _mm256_loadu_ps(a1 + k);
					p2 = _mm256_loadu_ps(a2 + k); p3 = _mm256_loadu_ps(a3 + k);
				} else {
					v0 = _mm256_maskload_ps(x0 + k, tail); v1 = _mm256_maskload_ps(x1 + k, tail);
					p0 = _mm256_maskload_ps(a0 + k, tail); p1 = _mm256_maskload_ps(a1 + k, tail);
					p2 = _mm256_maskload_ps(a2 + k, tail); p3 = _mm256_maskload_ps(a3 + k, tail);
				}
				c00 = _mm256_fmadd_ps(p0, v0, c00); c01 = _mm256_fmadd_ps(p0, v1, c01);
				c10 = _mm256_fmadd_ps(p1, v0, c10); c11 = _mm256_fmadd_ps(p1, v1, c11);
				c20 = _mm256_fmadd_ps(p2, v0, c20); c21 = _mm256_fmadd_ps(p2, v1, c21);
				c30 = _mm256_fmadd_ps(p3, v0, c30); c31 = _mm256_fmadd_ps(p3, v1, c31);
			}
		}
		const __m256 acc[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
		for (size_t r = 0; r < mr; r++) {
			c[r][n0] = hsum(acc[r][0]);
			if (n1 != n0)
				c[r][n1] = hsum(acc[r][1]);
		}
	}
}

void stp_f32_dotconv_ukernel_8xN__avx2(size_t mr, size_t nc, size_t kc, size_t ks,
				       const float *const *a, const float *w, float *const *c)
{
	four_rows(mr < 4 ? mr : 4, nc, kc, ks, a, w, c);
	if (mr > 4)
		four_rows(mr - 4, nc, kc, ks, a + 4, w, c + 4);
}
