/*
 * conv.h - 2-D convolution over an output-pixel list, on packed weights.
 *
 * stp_conv_create() packs PyTorch OIHW weights (BN already folded in by the
 * caller) once, for the engine's micro-kernel. stp_conv_run() computes either
 * every output pixel or only those in a list of pixel indices (y*ow + x):
 * the same micro-kernel runs in both cases, reaching input pixels through a
 * per-tile pointer table (taps outside the image point at a zero row). Bias,
 * a residual add and ReLU are fused into the kernel's store.
 *
 * Depthwise convolutions (groups == cin == cout) run a dedicated loop
 * vectorised over channels; other groupings run the IGEMM once per group.
 */
#ifndef STP_CONV_H
#define STP_CONV_H

#include <stdint.h>

#include "../kernels/kernels.h"
#include "../base/threadpool.h"

struct stp_conv_desc {
	int cin, cout, groups;
	int kh, kw;
	int sh, sw;     /* stride */
	int ph, pw;     /* zero padding, both sides */
	int dh, dw;     /* dilation */
	int relu;       /* rectify after bias (and residual): ReLU, or with slope */
	float slope;    /* ... LeakyReLU: negative values times slope, in [0, 1] */
};

struct stp_conv;

/* weight: [cout][cin/groups][kh][kw]; bias: [cout] or NULL. Both are read
 * during the call only. The caller owns *out (stp_conv_destroy). */
enum stp_status stp_conv_create(const struct stp_conv_desc *desc,
				const float *weight, const float *bias,
				const struct stp_kernels *kernels,
				struct stp_conv **out);
void stp_conv_destroy(struct stp_conv *conv);
const struct stp_conv_desc *stp_conv_get_desc(const struct stp_conv *conv);

/* Output size for an input of h x w; 0 when the result would be empty. */
int stp_conv_output_size(const struct stp_conv_desc *desc, int h, int w,
			 int *oh, int *ow);

/* Floats of zero row the run needs (the largest per-group input width). */
size_t stp_conv_zero_floats(const struct stp_conv *conv);

/* Bytes of tile tables (input pointers, row patches) one thread of a run
 * of conv uses at most. A run on T threads needs at most T x this + 64. */
size_t stp_conv_table_bytes(const struct stp_conv *conv);

/* What a run works in, owned by the caller and sized before the run, so
 * that no run allocates: zero points at stp_conv_zero_floats() zeroed
 * floats; tables at table_bytes bytes for the tile
 * tables. With too few table bytes (or none) the run still completes, one
 * tile at a time from a table on the stack. */
struct stp_conv_scratch {
	const float *zero;
	void *tables;
	size_t table_bytes;
};

/* Computes out at the listed pixels (pixels == NULL: all of them).
 * residual (or NULL) has out's shape and is added before ReLU. out must not
 * alias in. */
void stp_conv_run(const struct stp_conv *conv, const struct stp_tensor *in,
		  struct stp_tensor *out, const struct stp_tensor *residual,
		  const int32_t *pixels, size_t npixels, const struct stp_conv_scratch *scratch,
		  struct stp_threadpool *pool);

#endif
