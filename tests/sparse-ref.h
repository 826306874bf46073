/*
 * sparse-ref.h - naive references for the sparse engine's tests: the
 * interpolation module of docs/method.md section 4 evaluated densely, straight
 * from its formula, in double precision.
 */
#ifndef STP_SPARSE_REF_H
#define STP_SPARSE_REF_H

#include <stdint.h>
#include <string.h>

#include "sparse/interp.h"

/* The module's formula, densely: M*F + (1-M) * conv(M*F, W) / (conv(M, W) + eps). */
static inline void interp_ref(const float *f, const uint8_t *m, int h, int w, int c,
		       const struct stp_interp_kernel *k, float *out)
{
	const int r = k->k / 2;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			const int p = y * w + x;
			if (m[p]) {
				memcpy(out + (size_t)p * c, f + (size_t)p * c, c * sizeof(float));
				continue;
			}
			double den = 0;
			for (int dy = -r; dy <= r; dy++)
				for (int dx = -r; dx <= r; dx++) {
					int yy = y + dy, xx = x + dx;
					if (yy >= 0 && yy < h && xx >= 0 && xx < w && m[yy * w + xx])
						den += k->w[(dy + r) * k->k + dx + r];
				}
			den += STP_INTERP_EPSILON;
			for (int ch = 0; ch < c; ch++) {
				double num = 0;
				for (int dy = -r; dy <= r; dy++)
					for (int dx = -r; dx <= r; dx++) {
						int yy = y + dy, xx = x + dx;
						if (yy >= 0 && yy < h && xx >= 0 && xx < w && m[yy * w + xx])
							num += k->w[(dy + r) * k->k + dx + r] *
							       (double)f[((size_t)yy * w + xx) * c + ch];
					}
				out[(size_t)p * c + ch] = (float)(num / den);
			}
		}
}

#endif
