/*
 * gather-impl.h - the GATHER micro-kernel body, compiled once per ISA level
 * (gather-scalar.c, gather-avx2.c, gather-avx512.c define STP_GATHER_NAME
 * and include this file under their own target flags; the compiler
 * vectorises the channel loops for each). Contract in kernels.h.
 */
#include <string.h>

#include "kernels.h"

void STP_GATHER_NAME(size_t c, size_t n, const float *const *src, const float *weight,
		     const float *restrict bias, const float *restrict residual, int relu,
		     float *restrict dst)
{
	if (n == 1 && weight[0] == 1.0f) {
		/* A sampled cell copied through (most cells of a block's last
		 * pass): one pass instead of four, the same operations. */
		const float *restrict s0 = src[0];
		for (size_t ch = 0; ch < c; ch++) {
			float v = s0[ch];
			if (bias)
				v += bias[ch];
			if (residual)
				v += residual[ch];
			if (relu)
				v = v > 0.0f ? v : 0.0f;
			dst[ch] = v;
		}
		return;
	}
	if (n == 0) {
		memset(dst, 0, c * sizeof(float));
	} else {
		const float *restrict s0 = src[0];
		const float w0 = weight[0];
		for (size_t ch = 0; ch < c; ch++)
			dst[ch] = w0 * s0[ch];
	}
	for (size_t j = 1; j < n; j++) {
		const float *restrict s = src[j];
		const float wj = weight[j];
		for (size_t ch = 0; ch < c; ch++)
			dst[ch] += wj * s[ch];
	}
	if (bias)
		for (size_t ch = 0; ch < c; ch++)
			dst[ch] += bias[ch];
	if (residual) {
		const float *restrict r = residual;
		for (size_t ch = 0; ch < c; ch++)
			dst[ch] += r[ch];
	}
	if (relu)
		for (size_t ch = 0; ch < c; ch++)
			dst[ch] = dst[ch] > 0.0f ? dst[ch] : 0.0f;
}
