/*
 * dotconv-avx512.c - DOTCONV micro-kernel for AVX-512F: 8 pixels x up to 2
 * output channels, 16 zmm accumulators over 16-channel slices (2 weight
 * loads and 8 input loads per 16 FMAs); the channel tail uses masked loads.
 *
 * The accumulators are sixteen named variables, not an array indexed in a
 * loop: GCC keeps such an array on the stack (every FMA then stores and
 * reloads it), which ran at a third of the FMA rate. PIN below keeps the
 * inputs loaded once.
 */
#include <immintrin.h>

#include "kernels.h"

/* Keeps values in registers: without it GCC folds each input load into both
 * of its FMAs as a memory operand, loading every input twice. */
#define PIN(a, b, c, d) __asm__("" : "+v"(a), "+v"(b), "+v"(c), "+v"(d))

/* One 16-channel step for all 8 pixels: p = the pixels' inputs at k. */
#define DOT_STEP(load, v0, v1)                                                  \
	do {                                                                    \
		__m512 p0 = load(a0 + k), p1 = load(a1 + k);                    \
		__m512 p2 = load(a2 + k), p3 = load(a3 + k);                    \
		__m512 p4 = load(a4 + k), p5 = load(a5 + k);                    \
		__m512 p6 = load(a6 + k), p7 = load(a7 + k);                    \
		PIN(p0, p1, p2, p3);                                            \
		PIN(p4, p5, p6, p7);                                            \
		c00 = _mm512_fmadd_ps(p0, v0, c00); c01 = _mm512_fmadd_ps(p0, v1, c01); \
		c10 = _mm512_fmadd_ps(p1, v0, c10); c11 = _mm512_fmadd_ps(p1, v1, c11); \
		c20 = _mm512_fmadd_ps(p2, v0, c20); c21 = _mm512_fmadd_ps(p2, v1, c21); \
		c30 = _mm512_fmadd_ps(p3, v0, c30); c31 = _mm512_fmadd_ps(p3, v1, c31); \
		c40 = _mm512_fmadd_ps(p4, v0, c40); c41 = _mm512_fmadd_ps(p4, v1, c41); \
		c50 = _mm512_fmadd_ps(p5, v0, c50); c51 = _mm512_fmadd_ps(p5, v1, c51); \
		c60 = _mm512_fmadd_ps(p6, v0, c60); c61 = _mm512_fmadd_ps(p6, v1, c61); \
		c70 = _mm512_fmadd_ps(p7, v0, c70); c71 = _mm512_fmadd_ps(p7, v1, c71); \
	} while (0)

void stp_f32_dotconv_ukernel_8xN__avx512(size_t mr, size_t nc, size_t kc, size_t ks,
					 const float *const *a, const float *w,
					 float *const *c)
{
	const __mmask16 tail = (__mmask16)((1u << (kc % 16)) - 1u);
	const size_t kmain = kc - kc % 16;

	for (size_t n0 = 0; n0 < nc; n0 += 2) {
		const size_t n1 = n0 + 1 < nc ? n0 + 1 : n0;
		const float *w0 = w + n0 * ks * kc, *w1 = w + n1 * ks * kc;
		__m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
		__m512 c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00;
		__m512 c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;

		for (size_t t = 0; t < ks; t++) {
			const float *const *at = a + t * STP_DOTCONV_MR;
			const float *a0 = at[0], *a1 = at[1], *a2 = at[2], *a3 = at[3];
			const float *a4 = at[4], *a5 = at[5], *a6 = at[6], *a7 = at[7];
			const float *x0 = w0 + t * kc, *x1 = w1 + t * kc;
			size_t k = 0;

			for (; k < kmain; k += 16) {
				const __m512 v0 = _mm512_loadu_ps(x0 + k), v1 = _mm512_loadu_ps(x1 + k);
#define LOAD(p) _mm512_loadu_ps(p)
				DOT_STEP(LOAD, v0, v1);
#undef LOAD
			}
			if (tail) {
				const __m512 v0 = _mm512_maskz_loadu_ps(tail, x0 + k);
				const __m512 v1 = _mm512_maskz_loadu_ps(tail, x1 + k);
#define LOAD(p) _mm512_maskz_loadu_ps(tail, p)
				DOT_STEP(LOAD, v0, v1);
#undef LOAD
			}
		}
		{
			const __m512 acc[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
						  {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};

			for (size_t r = 0; r < mr; r++) {
				c[r][n0] = _mm512_reduce_add_ps(acc[r][0]);
				if (n1 != n0)
					c[r][n1] = _mm512_reduce_add_ps(acc[r][1]);
			}
		}
	}
}
