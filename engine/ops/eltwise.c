/*
 * eltwise.c - element-wise addition of two NHWC tensors, with optional ReLU,
 * and a copy between channel slices (concatenations).
 *
 * When all three tensors are dense (c_stride == c) the data is one flat
 * array cut into fixed-size chunks; otherwise a task is a chunk of pixels
 * and each pixel is one run of c floats, leaving the padding between pixels
 * untouched. The output may be one of the inputs (same data and stride):
 * that case runs an in-place accumulate so every loop keeps restrict
 * pointers and vectorises.
 */
#include <assert.h>
#include <string.h>

#include "ops.h"

#define TASK_FLOATS 16384   /* floats per task, at least */

struct add_job {
	const float *a, *b;  /* b is NULL when out aliases an input (then a is the other) */
	float *out;
	size_t c;            /* floats per run */
	size_t stride_a, stride_b, stride_out;  /* floats between runs */
	size_t runs, runs_per_task;
	size_t tail;         /* floats in the last run (dense case), else c */
	int relu;
};

static void add_run(float *restrict out, const float *restrict a, const float *restrict b,
		    size_t n, int relu)
{
	if (relu) {
		for (size_t i = 0; i < n; i++) {
			const float v = a[i] + b[i];
			out[i] = v > 0.0f ? v : 0.0f;
		}
	} else {
		for (size_t i = 0; i < n; i++)
			out[i] = a[i] + b[i];
	}
}

static void acc_run(float *restrict acc, const float *restrict a, size_t n, int relu)
{
	if (relu) {
		for (size_t i = 0; i < n; i++) {
			const float v = acc[i] + a[i];
			acc[i] = v > 0.0f ? v : 0.0f;
		}
	} else {
		for (size_t i = 0; i < n; i++)
			acc[i] += a[i];
	}
}

static void add_task(void *ctx, size_t task, int thread)
{
	const struct add_job *job = ctx;
	const size_t r0 = task * job->runs_per_task;
	const size_t r1 = r0 + job->runs_per_task < job->runs ? r0 + job->runs_per_task
							       : job->runs;
	(void)thread;

	for (size_t r = r0; r < r1; r++) {
		const size_t n = r + 1 == job->runs ? job->tail : job->c;
		float *out = job->out + r * job->stride_out;
		const float *a = job->a + r * job->stride_a;
		if (job->b)
			add_run(out, a, job->b + r * job->stride_b, n, job->relu);
		else
			acc_run(out, a, n, job->relu);
	}
}

void stp_add(const struct stp_tensor *a, const struct stp_tensor *b,
	     struct stp_tensor *out, int relu, struct stp_threadpool *pool)
{
	struct add_job job;
	const size_t npix = (size_t)out->h * (size_t)out->w;

	assert(out->c >= 1);
	assert(a->h == out->h && a->w == out->w && a->c == out->c);
	assert(b->h == out->h && b->w == out->w && b->c == out->c);
	assert(a->c_stride >= a->c && b->c_stride >= b->c && out->c_stride >= out->c);
	assert(out->data != a->data || out->c_stride == a->c_stride);
	assert(out->data != b->data || out->c_stride == b->c_stride);

	job.a = a->data;
	job.b = b->data;
	job.out = out->data;
	job.stride_a = (size_t)a->c_stride;
	job.stride_b = (size_t)b->c_stride;
	job.relu = relu;
	if (out->data == a->data) {
		job.a = b->data;
		job.stride_a = (size_t)b->c_stride;
		job.b = NULL;
	} else if (out->data == b->data) {
		job.b = NULL;
	}

	if (a->c == a->c_stride && b->c == b->c_stride && out->c == out->c_stride) {
		const size_t total = npix * (size_t)out->c;
		job.c = TASK_FLOATS;
		job.runs = (total + TASK_FLOATS - 1) / TASK_FLOATS;
		job.tail = total - (job.runs ? job.runs - 1 : 0) * TASK_FLOATS;
		job.stride_a = job.stride_b = job.stride_out = TASK_FLOATS;
		job.runs_per_task = 1;
	} else {
		job.c = (size_t)out->c;
		job.runs = npix;
		job.tail = job.c;
		job.stride_out = (size_t)out->c_stride;
		job.runs_per_task = out->c < TASK_FLOATS ? TASK_FLOATS / (size_t)out->c : 1;
	}
	stp_threadpool_parallel_for(pool, (job.runs + job.runs_per_task - 1) / job.runs_per_task,
				    add_task, &job);
}

void stp_copy(const struct stp_tensor *src, struct stp_tensor *dst)
{
	const size_t npix = (size_t)src->h * (size_t)src->w;

	assert(src->h == dst->h && src->w == dst->w && src->c == dst->c);
	for (size_t i = 0; i < npix; i++)
		memcpy(dst->data + i * dst->c_stride, src->data + i * src->c_stride,
		       (size_t)src->c * sizeof(float));
}
