/*
 * dotconv-avx512.c - DOTCONV micro-kernel for AVX-512F: 8 pixels x up to 2
 * output channels, 16 zmm accumulators over 16-channel slices (2 weight
 * loads and 8 input loads per 16 FMAs); the channel tail uses masked loads.
 *
 * The accumulators are sixteen named variables, not an array indexed in a
 * loop: GCC keeps such an array on the stack (every FMA then stores and
 * reloads it), which ran at a third of the FMA rate. PIN below keeps the
 * inputs loaded once.
 *
 * One tap with many outputs (ks == 1, nc >= 4: the logit partials of
 * sparse/block.h, 18 dot products per pixel) would spend more on the
 * sixteen horizontal sums than on the FMAs; that case runs blocks of 4
 * pixels x 4 outputs instead, whose 16 accumulators are summed together in
 * one transposing tree (reduce16) into a vector of the 16 results.
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

/* Adds halves of two vectors: imm picks the 128-bit chunks (shuffle_f32x4)
 * or the floats within each chunk (shuffle_ps) of a, then b. */
#define HALVES_X4(a, b, lo, hi) \
	_mm512_add_ps(_mm512_shuffle_f32x4(a, b, lo), _mm512_shuffle_f32x4(a, b, hi))
#define HALVES_PS(a, b) \
	_mm512_add_ps(_mm512_shuffle_ps(a, b, 0x88), _mm512_shuffle_ps(a, b, 0xDD))

/* The 16 sums of x_nr (named x<n><r>, r, n < 4), lane 4r + n holding
 * x_nr's: each step adds halves of two vectors so that every lane keeps a
 * partial sum of one input, halving the vectors and the lanes per input.
 * Named values, not arrays: see the accumulators above. */
static inline __m512 reduce16(__m512 x00, __m512 x01, __m512 x02, __m512 x03,
			      __m512 x10, __m512 x11, __m512 x12, __m512 x13,
			      __m512 x20, __m512 x21, __m512 x22, __m512 x23,
			      __m512 x30, __m512 x31, __m512 x32, __m512 x33)
{
	/* 256-bit halves: the first input low, the second high */
	const __m512 b0 = HALVES_X4(x00, x01, 0x44, 0xEE), b1 = HALVES_X4(x02, x03, 0x44, 0xEE);
	const __m512 b2 = HALVES_X4(x10, x11, 0x44, 0xEE), b3 = HALVES_X4(x12, x13, 0x44, 0xEE);
	const __m512 b4 = HALVES_X4(x20, x21, 0x44, 0xEE), b5 = HALVES_X4(x22, x23, 0x44, 0xEE);
	const __m512 b6 = HALVES_X4(x30, x31, 0x44, 0xEE), b7 = HALVES_X4(x32, x33, 0x44, 0xEE);
	/* 128-bit chunk j: x_n,j for n = 0 .. 3 in d0 .. d3 */
	const __m512 d0 = HALVES_X4(b0, b1, 0x88, 0xDD), d1 = HALVES_X4(b2, b3, 0x88, 0xDD);
	const __m512 d2 = HALVES_X4(b4, b5, 0x88, 0xDD), d3 = HALVES_X4(b6, b7, 0x88, 0xDD);
	/* chunk j: x_0j twice, x_1j twice (e0); x_2j, x_3j (e1) */
	const __m512 e0 = HALVES_PS(d0, d1), e1 = HALVES_PS(d2, d3);
	/* chunk j: x_0j, x_1j, x_2j, x_3j */
	return HALVES_PS(e0, e1);
}

/* One 16-channel step of block4x4 (load: the loads of the step). */
#define BLOCK_STEP(load)                                                        \
	do {                                                                    \
		const __m512 p0 = load(ar0 + k), p1 = load(ar1 + k);            \
		const __m512 p2 = load(ar2 + k), p3 = load(ar3 + k);            \
		__m512 v = load(wn0 + k);                                       \
		x00 = _mm512_fmadd_ps(p0, v, x00); x01 = _mm512_fmadd_ps(p1, v, x01); \
		x02 = _mm512_fmadd_ps(p2, v, x02); x03 = _mm512_fmadd_ps(p3, v, x03); \
		v = load(wn1 + k);                                              \
		x10 = _mm512_fmadd_ps(p0, v, x10); x11 = _mm512_fmadd_ps(p1, v, x11); \
		x12 = _mm512_fmadd_ps(p2, v, x12); x13 = _mm512_fmadd_ps(p3, v, x13); \
		v = load(wn2 + k);                                              \
		x20 = _mm512_fmadd_ps(p0, v, x20); x21 = _mm512_fmadd_ps(p1, v, x21); \
		x22 = _mm512_fmadd_ps(p2, v, x22); x23 = _mm512_fmadd_ps(p3, v, x23); \
		v = load(wn3 + k);                                              \
		x30 = _mm512_fmadd_ps(p0, v, x30); x31 = _mm512_fmadd_ps(p1, v, x31); \
		x32 = _mm512_fmadd_ps(p2, v, x32); x33 = _mm512_fmadd_ps(p3, v, x33); \
	} while (0)

/* ks == 1: rows [r0, r0 + 4) x outputs [n0, n0 + 4) of c, as 16
 * accumulators x<n><r>; rows past mr and outputs past nc repeat valid ones
 * and are not stored. */
static void block4x4(size_t mr, size_t nc, size_t kc, const float *const *a, const float *w,
		     float *const *c, size_t r0, size_t n0)
{
	const __mmask16 tail = (__mmask16)((1u << (kc % 16)) - 1u);
	const size_t kmain = kc - kc % 16, last = nc - 1;
	const float *ar0 = a[r0], *ar1 = a[r0 + 1], *ar2 = a[r0 + 2], *ar3 = a[r0 + 3];
	const float *wn0 = w + n0 * kc;
	const float *wn1 = w + (n0 + 1 < nc ? n0 + 1 : last) * kc;
	const float *wn2 = w + (n0 + 2 < nc ? n0 + 2 : last) * kc;
	const float *wn3 = w + (n0 + 3 < nc ? n0 + 3 : last) * kc;
	__m512 x00 = _mm512_setzero_ps(), x01 = x00, x02 = x00, x03 = x00;
	__m512 x10 = x00, x11 = x00, x12 = x00, x13 = x00, x20 = x00, x21 = x00, x22 = x00;
	__m512 x23 = x00, x30 = x00, x31 = x00, x32 = x00, x33 = x00;
	size_t k = 0;

	for (; k < kmain; k += 16) {
#define LOAD(p) _mm512_loadu_ps(p)
		BLOCK_STEP(LOAD);
#undef LOAD
	}
	if (tail) {
#define LOAD(p) _mm512_maskz_loadu_ps(tail, p)
		BLOCK_STEP(LOAD);
#undef LOAD
	}
	{
		const __m512 sums = reduce16(x00, x01, x02, x03, x10, x11, x12, x13,
					     x20, x21, x22, x23, x30, x31, x32, x33);
		const size_t valid = nc - n0 < 4 ? nc - n0 : 4;
		float out[16];
		_mm512_storeu_ps(out, sums);
		for (size_t r = 0; r < 4 && r0 + r < mr; r++)
			for (size_t n = 0; n < valid; n++)
				c[r0 + r][n0 + n] = out[4 * r + n];
	}
}

void stp_f32_dotconv_ukernel_8xN__avx512(size_t mr, size_t nc, size_t kc, size_t ks,
					 const float *const *a, const float *w,
					 float *const *c)
{
	if (ks == 1 && nc >= 4) {
		for (size_t r0 = 0; r0 < mr; r0 += 4)
			for (size_t n0 = 0; n0 < nc; n0 += 4)
				block4x4(mr, nc, kc, a, w, c, r0, n0);
		return;
	}
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
