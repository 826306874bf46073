/*
 * kernels.h - micro-kernel contracts and the per-ISA kernel table.
 *
 * Micro-kernels are pure leaf functions: they never allocate, lock, log or
 * fail. Each family has a __scalar variant that doubles as its readable
 * specification, and variants for AVX2+FMA and AVX-512F compiled in their
 * own files with their own target flags. stp_kernels_for() picks the table
 * once, from the engine's ISA level.
 *
 * IGEMM (indirect GEMM) computes MR output pixels x NR output channels of a
 * convolution whose input pixels are reached through pointers, over one
 * slice of the reduction (the driver cuts long reductions into slices so
 * that a slice's weights stay in cache, accumulating in the output):
 *
 *   for r < mr, n < nc:
 *     acc = (flags & ACCUMULATE) ? c[r][n] : bias[n]
 *     acc += sum_{t < ks} sum_{k < kc} a[t*MR + r][a_offset + k] * w[t][k][n]
 *     if residual: acc += residual[r][n]
 *     if flags & RELU: acc = acc < 0 ? (slope == 0 ? 0 : acc * slope) : acc
 *                      (ReLU, or LeakyReLU with slope in (0, 1]: max(acc, acc * slope))
 *     c[r][n] = acc   (with STREAM, a kernel may use non-temporal stores)
 *
 *   a         ks*MR pointers, tap-major; each points at an input pixel's
 *             channels (or the shared zero row for taps outside the image),
 *             read from a_offset on. Rows r >= mr repeat a valid pointer.
 *   bias      NR biases (unused with ACCUMULATE).
 *   w         the slice's packed weights, [ks][kc][NR], zero beyond nc.
 *             w and bias are STP_ALIGN-aligned: vector kernels load them so.
 *   c         MR output pointers, each at the block's first channel.
 *   residual  NULL, or MR pointers like c (given on the last slice only).
 *   nc        valid channels in the block, 1..NR.
 */
/*
 * DOTCONV computes a convolution with few output channels as dot products
 * over input channels, a tile of MR pixels at a time: the mask logits (1..4
 * outputs: conv.c takes it for convs of at most STP_DOTCONV_MAX_NC) and,
 * with one tap, the logit partials (9-27 outputs); any nc >= 1:
 *
 *   for r < mr, n < nc:
 *     c[r][n] = sum_{t < ks} sum_{k < kc} a[t*MR + r][k] * w[n][t][k]
 *
 *   a   ks*MR pointers, tap-major, as for IGEMM; rows r >= mr repeat a valid one.
 *   w   [nc][ks][kc] weights. c: MR pointers to nc floats (no bias here).
 */
/*
 * GATHER computes one output row of a weighted sum of rows (interpolation):
 *   dst[ch] = sum_{j < n} weight[j] * src[j][ch] (+ bias[ch]) (+ residual[ch]),
 *   then ReLU if flags & RELU; for ch < c. n == 0 gives zeros (before bias
 *   etc.). bias and residual may be NULL. dst never aliases a source. With
 *   flags & STREAM a kernel may store dst with non-temporal stores (the same
 *   values). copy: NULL, or a second destination that gets the same values
 *   with ordinary stores (so that they stay in cache for a next step).
 */
#ifndef STP_KERNELS_H
#define STP_KERNELS_H

#include <stddef.h>

#include "../base/internal.h"

#define STP_IGEMM_RELU 1u
#define STP_IGEMM_ACCUMULATE 2u
#define STP_IGEMM_STREAM 4u      /* a hint: the output will not be re-read soon */
#define STP_GATHER_RELU 1u
#define STP_GATHER_STREAM 2u     /* a hint, as STP_IGEMM_STREAM */

/* Outputs larger than this are stored around the caches (the next layer
 * would find them evicted anyway); smaller ones stay for it. Non-temporal
 * stores are weakly ordered: other threads see them after the thread pool's
 * task hand-off, whose locked instructions (atomics, mutex) order them. */
#define STP_STREAM_OUTPUT_BYTES ((size_t)16 << 20)

typedef void (*stp_igemm_ukernel_fn)(size_t mr, size_t nc, size_t kc, size_t ks,
				     const float *const *a, size_t a_offset,
				     const float *bias, const float *w,
				     float *const *c, const float *const *residual,
				     unsigned flags, float slope);

struct stp_igemm_kernel {
	unsigned mr, nr;
	stp_igemm_ukernel_fn fn;
};

typedef void (*stp_dotconv_ukernel_fn)(size_t mr, size_t nc, size_t kc, size_t ks,
				       const float *const *a, const float *w,
				       float *const *c);

typedef void (*stp_gather_ukernel_fn)(size_t c, size_t n, const float *const *src,
				      const float *weight, const float *bias,
				      const float *residual, unsigned flags, float *dst,
				      float *copy);

#define STP_DOTCONV_MR 8
#define STP_DOTCONV_MAX_NC 4

#define STP_IGEMM_MAX_NARROW 2
#define STP_IGEMM_MAX_MR 16   /* the largest mr of any IGEMM kernel */

struct stp_kernels {
	enum stp_isa isa;
	struct stp_igemm_kernel igemm;
	/* Narrower IGEMM variants, widest first (nr below igemm.nr): a conv
	 * with at most nr output channels per group runs the narrowest that
	 * fits, so that no lane idles (stp_kernels_igemm_for). */
	struct stp_igemm_kernel igemm_narrow[STP_IGEMM_MAX_NARROW];
	int nnarrow;
	stp_dotconv_ukernel_fn dotconv;
	stp_gather_ukernel_fn gather;
};

const struct stp_kernels *stp_kernels_for(enum stp_isa isa);
/* The IGEMM kernel for a conv of cout_g output channels per group. */
struct stp_igemm_kernel stp_kernels_igemm_for(const struct stp_kernels *k, int cout_g);

/* Per-ISA variants; defined in igemm-<isa>.c. */
void stp_f32_igemm_ukernel_4x16__scalar(size_t, size_t, size_t, size_t,
	const float *const *, size_t, const float *, const float *,
	float *const *, const float *const *, unsigned, float);
void stp_f32_igemm_ukernel_6x16__avx2(size_t, size_t, size_t, size_t,
	const float *const *, size_t, const float *, const float *,
	float *const *, const float *const *, unsigned, float);
void stp_f32_igemm_ukernel_6x64__avx512(size_t, size_t, size_t, size_t,
	const float *const *, size_t, const float *, const float *,
	float *const *, const float *const *, unsigned, float);
void stp_f32_igemm_ukernel_12x32__avx512(size_t, size_t, size_t, size_t,
	const float *const *, size_t, const float *, const float *,
	float *const *, const float *const *, unsigned, float);
void stp_f32_igemm_ukernel_14x16__avx512(size_t, size_t, size_t, size_t,
	const float *const *, size_t, const float *, const float *,
	float *const *, const float *const *, unsigned, float);

void stp_f32_dotconv_ukernel_8xN__scalar(size_t, size_t, size_t, size_t,
					 const float *const *, const float *, float *const *);
void stp_f32_dotconv_ukernel_8xN__avx2(size_t, size_t, size_t, size_t,
				       const float *const *, const float *, float *const *);
void stp_f32_dotconv_ukernel_8xN__avx512(size_t, size_t, size_t, size_t,
					 const float *const *, const float *, float *const *);

#define STP_DECLARE_GATHER(name)                                                \
	void name(size_t, size_t, const float *const *, const float *, const float *, \
		  const float *, unsigned, float *, float *)
STP_DECLARE_GATHER(stp_f32_gather_ukernel__scalar);
STP_DECLARE_GATHER(stp_f32_gather_ukernel__avx2);
STP_DECLARE_GATHER(stp_f32_gather_ukernel__avx512);

/* CPU feature detection (cpu.c). */
int stp_cpu_has_avx2_fma(void);
int stp_cpu_has_avx512f(void);

#endif
