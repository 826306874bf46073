/*
 * interp.h - the interpolation module of METHOD.md section 4, evaluated only
 * at the cells that need it.
 *
 * For a feature map F, a binary sample mask M and a k x k kernel W, the
 * official module computes at every cell
 *     out = M*F + (1-M) * sum_q W(p-q) M(q) F(q) / (sum_q W(p-q) M(q) + 1e-5)
 * Stipple evaluates the second term at a list of unsampled target cells
 * only. An interpolation plan lists, for each target, its sampled
 * neighbours and their weights already divided by the target's normaliser
 * (computed once per target, not per channel); running the plan is then a
 * weighted gather vectorised over channels.
 */
#ifndef STP_SPARSE_INTERP_H
#define STP_SPARSE_INTERP_H

#include <stdint.h>

#include "../kernels/kernels.h"
#include "../src/threadpool.h"

#define STP_INTERP_EPSILON 1e-5f
/* Normalised weights below this are dropped from plans: their share of an
 * output is under float32 resolution (with a = 3, sources 3 cells away). */
#define STP_INTERP_MIN_WEIGHT 1e-7f
#define STP_INTERP_MAX_WINDOW 15

/* A k x k kernel, k odd, row-major [dy][dx] (centre at k/2). */
struct stp_interp_kernel {
	int k;
	float w[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
};

/* The RBF kernel W(dx, dy) = a^2/(2 pi) exp(-a^2/2 (dx^2 + dy^2)). */
void stp_interp_kernel_rbf(struct stp_interp_kernel *kernel, int k, float a);

struct stp_interp_plan {
	size_t ntargets;
	int32_t *targets;      /* [ntargets] cell indices (y*w + x) */
	uint32_t *nsources;    /* [ntargets] sources of each target */
	size_t stride;         /* target i's sources start at i * stride (k*k) */
	int32_t *sources;      /* sampled neighbour cells */
	float *weights;        /* normalised weights */
	size_t cap_targets, cap_sources;
};

/* (Re)builds plan for the targets listed, on an h x w mask (non-zero =
 * sampled), splitting the targets over the pool. A sampled target gets itself as its one source, weight 1 (so a
 * plan over every cell yields the module's whole output); an unsampled one
 * gets its sampled neighbours. Reuses the plan's buffers; returns
 * STP_ERR_NOMEM on allocation failure. */
enum stp_status stp_interp_plan_build(struct stp_interp_plan *plan,
				      const struct stp_interp_kernel *kernel,
				      const uint8_t *mask, int h, int w,
				      const int32_t *targets, size_t ntargets,
				      struct stp_threadpool *pool);
void stp_interp_plan_clear(struct stp_interp_plan *plan);

/* out[t][c] = sum_i weight_i * in[source_i][c], then + bias[c] (bias may be
 * NULL), + residual[t][c] (residual may be NULL), then ReLU if relu; for
 * every target t and c < in->c. in and out may be the same tensor only when
 * no target is also a source (a plan over unsampled cells). */
void stp_interp_run(const struct stp_interp_plan *plan, const struct stp_tensor *in,
		    struct stp_tensor *out, const float *bias,
		    const struct stp_tensor *residual, int relu,
		    stp_gather_ukernel_fn gather, struct stp_threadpool *pool);

#endif
