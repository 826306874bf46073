/*
 * dotconv-scalar.c - the portable DOTCONV micro-kernel (contract in
 * kernels.h): a convolution with very few output channels computed as dot
 * products over the input channels, STP_DOTCONV_MR pixels at a time.
 */
#include "kernels.h"

#define MR STP_DOTCONV_MR

void stp_f32_dotconv_ukernel_8xN__scalar(size_t mr, size_t nc, size_t kc, size_t ks,
					 const float *const *a, const float *w,
					 float *const *c)
{
	for (size_t r = 0; r < mr; r++) {
		for (size_t n = 0; n < nc; n++) {
			const float *wn = w + n * ks * kc;
			float acc = 0.0f;
			for (size_t t = 0; t < ks; t++)
				for (size_t k = 0; k < kc; k++)
					acc += a[t * MR + r][k] * wn[t * kc + k];
			c[r][n] = acc;
		}
	}
}
