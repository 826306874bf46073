/*
 * conv-impl.h - the stp_conv object, shared by conv.c (IGEMM path) and
 * dwconv.c (depthwise path).
 */
#ifndef STP_CONV_IMPL_H
#define STP_CONV_IMPL_H

#include "conv.h"

struct stp_conv {
	struct stp_conv_desc desc;
	int cin_g, cout_g;             /* channels per group */
	size_t ks;                     /* taps: kh * kw */
	/* IGEMM path */
	struct stp_igemm_kernel ukernel;
	size_t nblocks;                /* NR-channel blocks per group */
	size_t block_floats;           /* NR + ks * cin_g * NR */
	float *packed;                 /* [groups][nblocks][block_floats] */
	/* depthwise path (groups == cin == cout): NULL otherwise */
	float *dw_weights;             /* [ks][c] then bias [c] */
	/* few-channel path (groups == 1, cout <= STP_DOTCONV_MAX_NC): NULL otherwise */
	stp_dotconv_ukernel_fn dotconv;
	float *dot_weights;            /* [cout][ks][cin] then bias [cout] */
};

void stp_dwconv_run(const struct stp_conv *conv, const struct stp_tensor *in,
		    struct stp_tensor *out, const struct stp_tensor *residual,
		    const int32_t *pixels, size_t npixels, const float *zero,
		    struct stp_threadpool *pool);

void stp_dotconv_run(const struct stp_conv *conv, const struct stp_tensor *in,
		     struct stp_tensor *out, const struct stp_tensor *residual,
		     const int32_t *pixels, size_t npixels, const float *zero,
		     struct stp_threadpool *pool);

#endif
