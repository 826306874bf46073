/*
 * gather-impl.h - the GATHER micro-kernel body, compiled once per ISA level
 * (gather-scalar.c, gather-avx2.c, gather-avx512.c define STP_GATHER_NAME
 * and include this file under their own target flags; the compiler
 * vectorises the channel loops for each). Contract in kernels.h.
 */
#include <stdint.h>
#include <string.h>

#include "kernels.h"

/* Channels per register block: four vectors of the level's width (GCC
 * vector extensions: zmm at avx512, ymm at avx2). The scalar level keeps
 * the pass-per-source loops only. */
#if defined(__AVX512F__)
#define GATHER_LANES 16
#elif defined(__AVX2__)
#define GATHER_LANES 8
#endif

#ifdef GATHER_LANES
#include <immintrin.h>

#define GATHER_BLOCK (4 * GATHER_LANES)
typedef float gather_vec __attribute__((vector_size(4 * GATHER_LANES)));
typedef int gather_ivec __attribute__((vector_size(4 * GATHER_LANES)));

/* v (+)= w * p[0..LANES), or v (+)= p[0..LANES) (unaligned loads via memcpy). */
#define GATHER_MUL(v, w, p) do { gather_vec t_; memcpy(&t_, (p), sizeof(t_)); (v) = (w) * t_; } while (0)
#define GATHER_FMA(v, w, p) do { gather_vec t_; memcpy(&t_, (p), sizeof(t_)); (v) = (v) + (w) * t_; } while (0)
#define GATHER_ADD(v, p) do { gather_vec t_; memcpy(&t_, (p), sizeof(t_)); (v) = (v) + t_; } while (0)
/* A non-temporal store of v at p, which is aligned to the vector. */
#if GATHER_LANES == 16
#define GATHER_STREAM_STORE(p, v) _mm512_stream_ps((p), (__m512)(v))
#else
#define GATHER_STREAM_STORE(p, v) _mm256_stream_ps((p), (__m256)(v))
#endif
/* max(v, 0) as the scalar code's v > 0 ? v : 0 (NaN and -0 give +0). */
#define GATHER_RELU(v) ((v) = (gather_vec)((gather_ivec)(v) & (gather_ivec)((v) > 0.0f)))

/* Channels [c0, c0 + GATHER_BLOCK): every source summed into accumulators
 * held in registers, then the epilogue and one store: the operations of
 * gather_span in the same order, without a pass over dst per source. */
static inline void gather_block(size_t c0, size_t n, const float *const *src,
				const float *weight, const float *restrict bias,
				const float *restrict residual, unsigned flags, float *restrict dst,
				float *restrict copy)
{
	const gather_vec zero = {0};
	gather_vec a0 = zero, a1 = zero, a2 = zero, a3 = zero;

	if (n) {
		const float *s = src[0] + c0;
		const float w = weight[0];
		GATHER_MUL(a0, w, s);
		GATHER_MUL(a1, w, s + GATHER_LANES);
		GATHER_MUL(a2, w, s + 2 * GATHER_LANES);
		GATHER_MUL(a3, w, s + 3 * GATHER_LANES);
	}
	for (size_t j = 1; j < n; j++) {
		const float *s = src[j] + c0;
		const float w = weight[j];
		GATHER_FMA(a0, w, s);
		GATHER_FMA(a1, w, s + GATHER_LANES);
		GATHER_FMA(a2, w, s + 2 * GATHER_LANES);
		GATHER_FMA(a3, w, s + 3 * GATHER_LANES);
	}
	if (bias) {
		GATHER_ADD(a0, bias + c0);
		GATHER_ADD(a1, bias + c0 + GATHER_LANES);
		GATHER_ADD(a2, bias + c0 + 2 * GATHER_LANES);
		GATHER_ADD(a3, bias + c0 + 3 * GATHER_LANES);
	}
	if (residual) {
		GATHER_ADD(a0, residual + c0);
		GATHER_ADD(a1, residual + c0 + GATHER_LANES);
		GATHER_ADD(a2, residual + c0 + 2 * GATHER_LANES);
		GATHER_ADD(a3, residual + c0 + 3 * GATHER_LANES);
	}
	if (flags & STP_GATHER_RELU) {
		GATHER_RELU(a0);
		GATHER_RELU(a1);
		GATHER_RELU(a2);
		GATHER_RELU(a3);
	}
	if ((flags & STP_GATHER_STREAM) && ((uintptr_t)(dst + c0) & (sizeof(a0) - 1)) == 0) {
		GATHER_STREAM_STORE(dst + c0, a0);
		GATHER_STREAM_STORE(dst + c0 + GATHER_LANES, a1);
		GATHER_STREAM_STORE(dst + c0 + 2 * GATHER_LANES, a2);
		GATHER_STREAM_STORE(dst + c0 + 3 * GATHER_LANES, a3);
	} else {
		memcpy(dst + c0, &a0, sizeof(a0));
		memcpy(dst + c0 + GATHER_LANES, &a1, sizeof(a1));
		memcpy(dst + c0 + 2 * GATHER_LANES, &a2, sizeof(a2));
		memcpy(dst + c0 + 3 * GATHER_LANES, &a3, sizeof(a3));
	}
	if (copy) {
		memcpy(copy + c0, &a0, sizeof(a0));
		memcpy(copy + c0 + GATHER_LANES, &a1, sizeof(a1));
		memcpy(copy + c0 + 2 * GATHER_LANES, &a2, sizeof(a2));
		memcpy(copy + c0 + 3 * GATHER_LANES, &a3, sizeof(a3));
	}
}
#endif

#ifdef GATHER_BLOCK
#define GATHER_STREAMS 1
#else
#define GATHER_STREAMS 0
#endif

/* Channels [c0, c) of any width, pass by pass over dst. */
static void gather_span(size_t c0, size_t c, size_t n, const float *const *src,
			const float *weight, const float *restrict bias,
			const float *restrict residual, unsigned flags, float *restrict dst)
{
	if (n == 0) {
		memset(dst + c0, 0, (c - c0) * sizeof(float));
	} else {
		const float *restrict s0 = src[0];
		const float w0 = weight[0];
		for (size_t ch = c0; ch < c; ch++)
			dst[ch] = w0 * s0[ch];
	}
	for (size_t j = 1; j < n; j++) {
		const float *restrict s = src[j];
		const float wj = weight[j];
		for (size_t ch = c0; ch < c; ch++)
			dst[ch] += wj * s[ch];
	}
	if (bias)
		for (size_t ch = c0; ch < c; ch++)
			dst[ch] += bias[ch];
	if (residual)
		for (size_t ch = c0; ch < c; ch++)
			dst[ch] += residual[ch];
	if (flags & STP_GATHER_RELU)
		for (size_t ch = c0; ch < c; ch++)
			dst[ch] = dst[ch] > 0.0f ? dst[ch] : 0.0f;
}

void STP_GATHER_NAME(size_t c, size_t n, const float *const *src, const float *weight,
		     const float *restrict bias, const float *restrict residual, unsigned flags,
		     float *restrict dst, float *restrict copy)
{
	size_t c0 = 0;

	/* Streaming stores are made by the register blocks, which compute the
	 * copy below with the same operations (1 * v is v). */
	if (n == 1 && weight[0] == 1.0f && !(GATHER_STREAMS && (flags & STP_GATHER_STREAM))) {
		/* A sampled cell copied through (most cells of a block's last
		 * pass): one pass instead of four, the same operations. */
		const float *restrict s0 = src[0];
		for (size_t ch = 0; ch < c; ch++) {
			float v = s0[ch];
			if (bias)
				v += bias[ch];
			if (residual)
				v += residual[ch];
			if (flags & STP_GATHER_RELU)
				v = v > 0.0f ? v : 0.0f;
			dst[ch] = v;
		}
		if (copy)
			memcpy(copy, dst, c * sizeof(float));
		return;
	}
#ifdef GATHER_BLOCK
	for (; c0 + GATHER_BLOCK <= c; c0 += GATHER_BLOCK)
		gather_block(c0, n, src, weight, bias, residual, flags, dst, copy);
#endif
	if (c0 < c) {
		gather_span(c0, c, n, src, weight, bias, residual, flags, dst);
		if (copy)
			memcpy(copy + c0, dst + c0, (c - c0) * sizeof(float));
	}
}
