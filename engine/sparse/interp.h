/*
 * interp.h - the interpolation module of docs/method.md section 4, evaluated only
 * at the cells that need it.
 *
 * For a feature map F, a binary sample mask M and a k x k kernel W, the
 * official module computes at every cell
 *     out = M*F + (1-M) * sum_q W(p-q) M(q) F(q) / (sum_q W(p-q) M(q) + 1e-5)
 * Stipple evaluates it at a list of target cells only: for each target, its
 * sampled neighbours and their weights already divided by the target's
 * normaliser (computed once per target, not per channel), then a weighted
 * gather vectorised over channels; or, for separable kernels when that
 * needs fewer FMAs (wide windows, dense masks), two 1-D passes.
 */
#ifndef STP_SPARSE_INTERP_H
#define STP_SPARSE_INTERP_H

#include <stdint.h>

#include "../kernels/kernels.h"
#include "../base/threadpool.h"

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

/* How stp_interp_apply evaluates the module (both give the module's output
 * to float32 rounding, the epsilon behaviour included):
 *   GATHER     per target, its sampled neighbours in one weighted gather;
 *   SEPARABLE  for kernels that factor as W(dy, dx) = u(dy) v(dx) (RBF,
 *              average pooling): a horizontal pass over the sampled cells
 *              of each row, then a vertical pass at the targets, in row
 *              bands (falls back to GATHER for other kernels, unsorted
 *              target lists or no buffer);
 *   AUTO       the cheaper of the two by a count of their FMAs. */
enum stp_interp_form { STP_INTERP_FORM_AUTO, STP_INTERP_FORM_GATHER, STP_INTERP_FORM_SEPARABLE };

/* The tiles of dots and the working rows of the separable form: reserved
 * by the owner before a run (stp_interp_apply grows it where it is short,
 * for callers that reserve nothing), then reused. */
struct stp_interp_buffer {
	float *data;
	size_t floats;
};

/* The most floats stp_interp_apply asks of its buffer for maps w cells wide
 * with c channels on `threads` threads (either form, with dots). */
size_t stp_interp_buffer_floats(const struct stp_interp_kernel *kernel, int w, int c,
				int threads);
/* Makes buffer hold at least floats floats (it only grows). */
enum stp_status stp_interp_buffer_reserve(struct stp_interp_buffer *buffer, size_t floats);
void stp_interp_buffer_free(struct stp_interp_buffer *buffer);

/* An extra output of a whole-map pass (targets NULL): at every output cell
 * p, the dot products of out[p] with n weight rows of out->c floats,
 * dots[p * n + j] = sum_c w[j][c] out[p][c], by the DOTCONV micro-kernel
 * (the next sparse block's logit partials, block.h). */
struct stp_interp_dots {
	const float *w;
	size_t n;
	float *out;
	stp_dotconv_ukernel_fn dotconv;
};

/* What runs the module: the GATHER micro-kernel of the engine's ISA, the
 * working buffer (NULL: gather only, no dots), the form asked for and the
 * dots to take (NULL: none); stp_interp_apply sets used to the form it ran
 * (GATHER or SEPARABLE). */
struct stp_interp_exec {
	stp_gather_ukernel_fn gather;
	struct stp_interp_buffer *buffer;
	enum stp_interp_form form;
	enum stp_interp_form used;
	const struct stp_interp_dots *dots;
};

/* For each target cell t (targets[i], or cell i for i < ntargets when
 * targets is NULL) of the h x w maps in and out, with mask (h x w bytes,
 * non-zero = sampled):
 *     out[t][c] = (sampled t ? in[t][c] : interp(in, mask)[t][c])
 *                 + bias[c] (bias may be NULL) + residual[t][c] (may be NULL),
 * then ReLU if relu, for c < in->c. in and out may be the same tensor only
 * when no target is sampled (targets are then never sources). Returns
 * STP_ERR_NOMEM if the buffer cannot grow, STP_ERR_INVALID_ARG for dots
 * with a target list or without a buffer. */
enum stp_status stp_interp_apply(const struct stp_interp_kernel *kernel, const uint8_t *mask,
				 const int32_t *targets, size_t ntargets,
				 const struct stp_tensor *in, struct stp_tensor *out,
				 const float *bias, const struct stp_tensor *residual, int relu,
				 struct stp_interp_exec *exec, struct stp_threadpool *pool);

#endif
