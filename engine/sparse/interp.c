/*
 * interp.c - building and running interpolation plans (see interp.h).
 *
 * Building walks each target's k x k window on the byte mask once, in
 * parallel (each target owns a slot of k*k entries), and stores the
 * sampled neighbours with weight W/(sum W + epsilon): the
 * normaliser is per target, shared by all channels, and a window with no
 * sample gives an empty list (the module's ~0 output, as in the reference).
 * Running is the GATHER micro-kernel over those lists (vectorised over
 * channels for the engine's ISA), with the bias / residual / ReLU epilogue
 * fused; tasks are chunks of targets.
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

/* Grows buf (of *cap elements of elem bytes) to hold at least need. */
static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 1024, bytes;
	void *p;
	if (need <= *cap)
		return 1;
	while (n < need)
		n *= 2;
	if (!stp_mul_size(n, elem, &bytes) || !(p = realloc(*buf, bytes)))
		return 0;
	*buf = p;
	*cap = n;
	return 1;
}

struct build_job {
	struct stp_interp_plan *plan;
	const struct stp_interp_kernel *kernel;
	const uint8_t *mask;
	int h, w;
	const int32_t *targets;
};

/* Target i's sources, in its own slot of k*k entries. */
static void build_target(const struct build_job *job, size_t i)
{
	struct stp_interp_plan *plan = job->plan;
	const struct stp_interp_kernel *kernel = job->kernel;
	const int r = kernel->k / 2, h = job->h, w = job->w;
	const int32_t p = job->targets[i];
	const int y = p / w, x = p % w;
	const int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= h ? h - 1 : y + r;
	const int x0 = x - r < 0 ? 0 : x - r, x1 = x + r >= w ? w - 1 : x + r;
	int32_t *src = plan->sources + i * plan->stride;
	float *wt = plan->weights + i * plan->stride;
	uint32_t n = 0, kept = 0;
	float sum = 0.0f;

	plan->targets[i] = p;
	if (job->mask[p]) {
		src[0] = p;
		wt[0] = 1.0f;
		plan->nsources[i] = 1;
		return;
	}
	for (int yy = y0; yy <= y1; yy++) {
		const uint8_t *row = job->mask + (size_t)yy * w;
		const float *kw = kernel->w + (yy - y + r) * kernel->k;
		for (int xx = x0; xx <= x1; xx++) {
			if (!row[xx])
				continue;
			src[n] = yy * w + xx;
			wt[n] = kw[xx - x + r];
			sum += kw[xx - x + r];
			n++;
		}
	}
	/* Normalise, dropping sources too light to matter. */
	for (uint32_t j = 0; j < n; j++) {
		const float wn = wt[j] / (sum + STP_INTERP_EPSILON);
		if (wn >= STP_INTERP_MIN_WEIGHT) {
			src[kept] = src[j];
			wt[kept++] = wn;
		}
	}
	plan->nsources[i] = kept;
}

static void build_task(void *ctx, size_t task, int thread)
{
	const struct build_job *job = ctx;
	size_t end = (task + 1) * TARGETS_PER_TASK;
	(void)thread;
	if (end > job->plan->ntargets)
		end = job->plan->ntargets;
	for (size_t i = task * TARGETS_PER_TASK; i < end; i++)
		build_target(job, i);
}

enum stp_status stp_interp_plan_build(struct stp_interp_plan *plan,
				      const struct stp_interp_kernel *kernel,
				      const uint8_t *mask, int h, int w,
				      const int32_t *targets, size_t ntargets,
				      struct stp_threadpool *pool)
{
	struct build_job job = {plan, kernel, mask, h, w, targets};
	size_t cap = plan->cap_targets, need;

	if (!grow((void **)&plan->targets, &cap, ntargets + 1, sizeof(int32_t)))
		return STP_ERR_NOMEM;
	cap = plan->cap_targets;
	if (!grow((void **)&plan->nsources, &cap, ntargets + 1, sizeof(uint32_t)))
		return STP_ERR_NOMEM;
	plan->cap_targets = cap;
	/* A slot of k*k sources per target: targets are built independently. */
	plan->stride = (size_t)kernel->k * kernel->k;
	if (!stp_mul_size(ntargets + 1, plan->stride, &need))
		return STP_ERR_NOMEM;
	cap = plan->cap_sources;
	if (!grow((void **)&plan->sources, &cap, need, sizeof(int32_t)))
		return STP_ERR_NOMEM;
	cap = plan->cap_sources;
	if (!grow((void **)&plan->weights, &cap, need, sizeof(float)))
		return STP_ERR_NOMEM;
	plan->cap_sources = cap;
	plan->ntargets = ntargets;
	stp_threadpool_parallel_for(pool, (ntargets + TARGETS_PER_TASK - 1) / TARGETS_PER_TASK,
				    build_task, &job);
	return STP_OK;
}

void stp_interp_plan_clear(struct stp_interp_plan *plan)
{
	if (!plan)
		return;
	free(plan->targets);
	free(plan->nsources);
	free(plan->sources);
	free(plan->weights);
	memset(plan, 0, sizeof(*plan));
}

struct interp_job {
	const struct stp_interp_plan *plan;
	const struct stp_tensor *in, *residual;
	struct stp_tensor *out;
	const float *bias;
	int relu;
	stp_gather_ukernel_fn gather;
};

static void interp_task(void *ctx, size_t task, int thread)
{
	const struct interp_job *job = ctx;
	const struct stp_interp_plan *plan = job->plan;
	const size_t c = (size_t)job->in->c;
	size_t end = (task + 1) * TARGETS_PER_TASK;
	const float *src[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
	(void)thread;

	if (end > plan->ntargets)
		end = plan->ntargets;
	for (size_t i = task * TARGETS_PER_TASK; i < end; i++) {
		const size_t p = (size_t)plan->targets[i];
		const size_t j0 = i * plan->stride, n = plan->nsources[i];
		for (size_t j = 0; j < n; j++)
			src[j] = job->in->data + (size_t)plan->sources[j0 + j] * job->in->c_stride;
		job->gather(c, n, src, plan->weights + j0, job->bias,
			    job->residual ? job->residual->data + p * job->residual->c_stride : NULL,
			    job->relu, job->out->data + p * job->out->c_stride);
	}
}

void stp_interp_run(const struct stp_interp_plan *plan, const struct stp_tensor *in,
		    struct stp_tensor *out, const float *bias,
		    const struct stp_tensor *residual, int relu,
		    stp_gather_ukernel_fn gather, struct stp_threadpool *pool)
{
	struct interp_job job = {plan, in, residual, out, bias, relu, gather};
	stp_threadpool_parallel_for(pool, (plan->ntargets + TARGETS_PER_TASK - 1) / TARGETS_PER_TASK,
				    interp_task, &job);
}
