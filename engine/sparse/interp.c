/*
 * interp.c - the interpolation module at listed cells (see interp.h).
 *
 * Each target walks the kernel's taps that can matter (list_taps) on the
 * byte mask once and lists its sampled neighbours with weight
 * W/(sum W + epsilon) in a small array on the stack: the normaliser is per
 * target, shared by all channels, and a window with no sample gives an
 * empty list (the module's ~0 output, as in the reference). The GATHER
 * micro-kernel then runs over that list at once
 * (vectorised over channels for the engine's ISA) with the bias / residual
 * / ReLU epilogue fused. Tasks are chunks of targets; no per-target state
 * outlives its gather, so nothing is stored between the two steps. A whole
 * output larger than the caches is written with streaming stores.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"

#define TARGETS_PER_TASK 64

void stp_interp_kernel_rbf(struct stp_interp_kernel *kernel, int k, float a)
{
	const double c = (double)a * a / 2.0, pref = (double)a * a / (2.0 * M_PI);
	kernel->k = k;
	for (int dy = 0; dy < k; dy++)
		for (int dx = 0; dx < k; dx++) {
			const double y = dy - k / 2, x = dx - k / 2;
			kernel->w[dy * k + dx] = (float)(pref * exp(-c * (x * x + y * y)));
		}
}

/* The kernel's taps that can matter, row-major: a tap lighter than
 * NEGLIGIBLE_TAP can never be a source (its normalised weight stays under
 * STP_INTERP_MIN_WEIGHT, since the normaliser is at least the epsilon), and
 * all of them together move the normaliser by less than float32 resolves
 * next to the epsilon. With the trained RBF kernels (a near 3) 21 of the
 * 7x7 window's 49 taps remain. */
#define NEGLIGIBLE_TAP(k) (STP_INTERP_EPSILON * 0x1p-25f / (float)((k) * (k)))

struct interp_taps {
	int n, reach;               /* reach: the largest |dy| or |dx| kept */
	int32_t offset[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW]; /* dy*w + dx */
	int8_t dy[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
	int8_t dx[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
	float w[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
};

struct interp_job {
	struct interp_taps taps;      /* the kernel's taps that can matter */
	const uint8_t *mask;
	const int32_t *targets;       /* NULL: every cell */
	size_t ntargets;
	const struct stp_tensor *in, *residual;
	struct stp_tensor *out;
	const float *bias;
	unsigned flags;               /* STP_GATHER_* */
	stp_gather_ukernel_fn gather;
};

static void list_taps(const struct stp_interp_kernel *kernel, int w, struct interp_taps *taps)
{
	const int k = kernel->k, r = k / 2;
	taps->n = taps->reach = 0;
	for (int dy = -r; dy <= r; dy++)
		for (int dx = -r; dx <= r; dx++) {
			const float wt = kernel->w[(dy + r) * k + dx + r];
			const int reach = abs(dy) > abs(dx) ? abs(dy) : abs(dx);
			if (wt < NEGLIGIBLE_TAP(k))
				continue;
			taps->offset[taps->n] = dy * w + dx;
			taps->dy[taps->n] = (int8_t)dy;
			taps->dx[taps->n] = (int8_t)dx;
			taps->w[taps->n++] = wt;
			if (reach > taps->reach)
				taps->reach = reach;
		}
}

/* Target p's sources and normalised weights; returns how many. */
static size_t target_sources(const struct interp_job *job, int32_t p, const float **src,
			     float *wt)
{
	const struct interp_taps *taps = &job->taps;
	const struct stp_tensor *in = job->in;
	const int h = in->h, w = in->w, y = p / w, x = p % w, r = taps->reach;
	int32_t cell[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
	float sum0 = 0.0f, sum1 = 0.0f;
	size_t n = 0, kept = 0;

	if (job->mask[p]) {
		src[0] = in->data + (size_t)p * in->c_stride;
		wt[0] = 1.0f;
		return 1;
	}
	/* Branch-free: whether a tap is sampled is a coin flip the branch
	 * predictor loses; every tap is written and only sampled ones advance
	 * n. Two partial sums halve the chain of dependent adds. */
	if (y >= r && y < h - r && x >= r && x < w - r) {
		const uint8_t *centre = job->mask + p;
		int t = 0;
#define INTERIOR_TAP(acc)                                        \
	do {                                                     \
		const int on = centre[taps->offset[t]] != 0;     \
		cell[n] = p + taps->offset[t];                   \
		wt[n] = taps->w[t];                              \
		acc += on ? taps->w[t] : 0.0f;                   \
		n += (size_t)on;                                 \
		t++;                                             \
	} while (0)
		while (t + 1 < taps->n) {
			INTERIOR_TAP(sum0);
			INTERIOR_TAP(sum1);
		}
		if (t < taps->n)
			INTERIOR_TAP(sum0);
#undef INTERIOR_TAP
	} else {
		for (int t = 0; t < taps->n; t++) {
			const int yy = y + taps->dy[t], xx = x + taps->dx[t];
			int on;
			if (yy < 0 || yy >= h || xx < 0 || xx >= w)
				continue;
			on = job->mask[p + taps->offset[t]] != 0;
			cell[n] = p + taps->offset[t];
			wt[n] = taps->w[t];
			sum0 += on ? taps->w[t] : 0.0f;
			n += (size_t)on;
		}
	}
	/* Normalise, dropping sources too light to matter. */
	{
		const float inv = 1.0f / (sum0 + sum1 + STP_INTERP_EPSILON);
		for (size_t j = 0; j < n; j++) {
			const float wn = wt[j] * inv;
			src[kept] = in->data + (size_t)cell[j] * in->c_stride;
			wt[kept] = wn;
			kept += wn >= STP_INTERP_MIN_WEIGHT;
		}
	}
	return kept;
}

static void interp_task(void *ctx, size_t task, int thread)
{
	const struct interp_job *job = ctx;
	const struct stp_tensor *out = job->out, *res = job->residual;
	const size_t c = (size_t)job->in->c;
	size_t end = (task + 1) * TARGETS_PER_TASK;
	const float *src[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
	float wt[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
	(void)thread;

	if (end > job->ntargets)
		end = job->ntargets;
	for (size_t i = task * TARGETS_PER_TASK; i < end; i++) {
		const int32_t p = job->targets ? job->targets[i] : (int32_t)i;
		const size_t n = target_sources(job, p, src, wt);

		job->gather(c, n, src, wt, job->bias,
			    res ? res->data + (size_t)p * res->c_stride : NULL, job->flags,
			    out->data + (size_t)p * out->c_stride);
	}
}

void stp_interp_apply(const struct stp_interp_kernel *kernel, const uint8_t *mask,
		      const int32_t *targets, size_t ntargets, const struct stp_tensor *in,
		      struct stp_tensor *out, const float *bias, const struct stp_tensor *residual,
		      int relu, stp_gather_ukernel_fn gather, struct stp_threadpool *pool)
{
	struct interp_job job = {.mask = mask, .targets = targets, .ntargets = ntargets,
				 .in = in, .residual = residual, .out = out, .bias = bias,
				 .flags = relu ? STP_GATHER_RELU : 0u, .gather = gather};

	list_taps(kernel, in->w, &job.taps);
	/* A whole large output (a block's last pass) goes around the caches. */
	if (!targets && ntargets * (size_t)out->c_stride * sizeof(float) > STP_STREAM_OUTPUT_BYTES)
		job.flags |= STP_GATHER_STREAM;
	stp_threadpool_parallel_for(pool, (ntargets + TARGETS_PER_TASK - 1) / TARGETS_PER_TASK,
				    interp_task, &job);
}
