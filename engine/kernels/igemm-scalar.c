/*
 * igemm-scalar.c - the portable IGEMM micro-kernel, 4 pixels x 16 channels.
 *
 * This is the readable specification of the IGEMM contract in kernels.h;
 * the vector variants must produce the same sums (up to FMA rounding).
 */
#include "kernels.h"

#define MR 4
#define NR 16

void stp_f32_igemm_ukernel_4x16__scalar(size_t mr, size_t nc, size_t kc, size_t ks,
					const float *const *a, size_t a_offset,
					const float *bias, const float *w,
					float *const *c, const float *const *residual,
					unsigned flags, float slope)
{
	float acc[MR][NR];

	for (size_t r = 0; r < MR; r++)
		for (size_t n = 0; n < NR; n++)
			acc[r][n] = (flags & STP_IGEMM_ACCUMULATE) ? (r < mr && n < nc ? c[r][n] : 0.0f)
								   : bias[n];
	for (size_t t = 0; t < ks; t++, a += MR) {
		for (size_t k = 0; k < kc; k++, w += NR) {
			for (size_t r = 0; r < MR; r++) {
				const float x = a[r][a_offset + k];
				for (size_t n = 0; n < NR; n++)
					acc[r][n] += x * w[n];
			}
		}
	}
	for (size_t r = 0; r < mr; r++) {
		for (size_t n = 0; n < nc; n++) {
			float v = acc[r][n];
			if (residual)
				v += residual[r][n];
			if ((flags & STP_IGEMM_RELU) && v < 0.0f)
				v = slope == 0.0f ? 0.0f : v * slope;
			c[r][n] = v;
		}
	}
}
