/*
 * interp.c - the interpolation module at listed cells (see interp.h).
 *
 * Each target walks its k x k window on the byte mask once and lists its
 * sampled neighbours with weight W/(sum W + epsilon) in a small array on
 * the stack: the normaliser is per target, shared by all channels, and a
 * window with no sample gives an empty list (the module's ~0 output, as in
 * the reference). The GATHER micro-kernel then runs over that list at once
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

struct interp_job {
	const struct stp_interp_kernel *kernel;
	const uint8_t *mask;
	const int32_t *targets;     /* NULL: every cell */
	size_t ntargets;
	const struct stp_tensor *in, *residual;
	struct stp_tensor *out;
	const float *bias;
	unsigned flags;             /* STP_GATHER_* */
	stp_gather_ukernel_fn gather;
};

/* Target p's sources and normalised weights; returns how many. */
static size_t target_sources(const struct interp_job *job, int32_t p, const float **src,
			     float *wt)
{
	const struct stp_interp_kernel *kernel = job->kernel;
	const struct stp_tensor *in = job->in;
	const int r = kernel->k / 2, h = in->h, w = in->w;
	const int y = p / w, x = p % w;
	const int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= h ? h - 1 : y + r;
	const int x0 = x - r < 0 ? 0 : x - r, x1 = x + r >= w ? w - 1 : x + r;
	int32_t cell[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
	size_t n = 0, kept = 0;
	float sum = 0.0f;

	if (job->mask[p]) {
		src[0] = in->data + (size_t)p * in->c_stride;
		wt[0] = 1.0f;
		return 1;
	}
	/* Branch-free: whether a window cell is sampled is a coin flip the
	 * branch predictor loses; every cell is written and only sampled ones
	 * advance n (adding 0 to sum for the others changes nothing). */
	for (int yy = y0; yy <= y1; yy++) {
		const uint8_t *row = job->mask + (size_t)yy * w;
		const float *kw = kernel->w + (yy - y + r) * kernel->k;
		for (int xx = x0; xx <= x1; xx++) {
			const int on = row[xx] != 0;
			const float k = kw[xx - x + r];
			cell[n] = yy * w + xx;
			wt[n] = k;
			sum += on ? k : 0.0f;
			n += (size_t)on;
		}
	}
	/* Normalise, dropping sources too light to matter. */
	for (size_t j = 0; j < n; j++) {
		const float wn = wt[j] / (sum + STP_INTERP_EPSILON);
		src[kept] = in->data + (size_t)cell[j] * in->c_stride;
		wt[kept] = wn;
		kept += wn >= STP_INTERP_MIN_WEIGHT;
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
	struct interp_job job = {kernel, mask, targets, ntargets, in, residual, out, bias,
				 relu ? STP_GATHER_RELU : 0u, gather};

	/* A whole large output (a block's last pass) goes around the caches. */
	if (!targets && ntargets * (size_t)out->c_stride * sizeof(float) > STP_STREAM_OUTPUT_BYTES)
		job.flags |= STP_GATHER_STREAM;
	stp_threadpool_parallel_for(pool, (ntargets + TARGETS_PER_TASK - 1) / TARGETS_PER_TASK,
				    interp_task, &job);
}
