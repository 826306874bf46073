/*
 * resize.c - nearest and bilinear resizing of NHWC tensors, bit for bit as
 * PyTorch's F.interpolate(size=...) computes them on the CPU.
 *
 * Source coordinates follow PyTorch's float arithmetic: the scale is
 * (float)in / out; nearest takes floor(dst * scale) in float, clamped to
 * in - 1; bilinear (align_corners=False) takes src = scale * (dst + 0.5) -
 * 0.5 in double, clamped below at 0, splits it into floor(src) and a float
 * weight, and clamps the second tap to the last pixel. Bilinear blends
 * width first, then height; it agrees with PyTorch to about one ulp (the
 * order of PyTorch's vectorised blend differs).
 *
 * A task is a chunk of output rows; per output pixel the source taps are
 * found once and the channel loop (a copy, or a four-tap blend) runs over
 * contiguous floats.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "ops.h"

#define TASK_FLOATS 16384   /* output floats per task, at least */

struct resize_job {
	const struct stp_tensor *in;
	struct stp_tensor *out;
	float scale_h, scale_w;  /* input pixels per output pixel */
	int rows_per_task;
};

static int nearest_src(int dst, float scale, int n)
{
	const int i = (int)floorf((float)dst * scale);

	return i < n - 1 ? i : n - 1;
}

void stp_bilinear_taps(int dst, float scale, int n, int *i0, int *i1, float *l1)
{
	double src = (double)scale * ((double)dst + 0.5) - 0.5;
	float l;

	if (src < 0.0)
		src = 0.0;
	*i0 = (int)src;
	*i1 = *i0 < n - 1 ? *i0 + 1 : *i0;
	l = (float)(src - *i0);
	*l1 = l < 0.0f ? 0.0f : (l > 1.0f ? 1.0f : l);
}

static void job_rows(const struct resize_job *job, size_t task, int *y0, int *y1)
{
	*y0 = (int)task * job->rows_per_task;
	*y1 = *y0 + job->rows_per_task < job->out->h ? *y0 + job->rows_per_task
						      : job->out->h;
}

static void nearest_task(void *ctx, size_t task, int thread)
{
	const struct resize_job *job = ctx;
	const struct stp_tensor *in = job->in, *out = job->out;
	const size_t c = (size_t)in->c;
	int y0, y1;
	(void)thread;

	job_rows(job, task, &y0, &y1);
	for (int oy = y0; oy < y1; oy++) {
		const int iy = nearest_src(oy, job->scale_h, in->h);
		const float *irow = in->data + (size_t)iy * in->w * in->c_stride;
		float *orow = out->data + (size_t)oy * out->w * out->c_stride;
		for (int ox = 0; ox < out->w; ox++) {
			const int ix = nearest_src(ox, job->scale_w, in->w);
			memcpy(orow + (size_t)ox * out->c_stride,
			       irow + (size_t)ix * in->c_stride, c * sizeof(float));
		}
	}
}

static void blend(float *restrict dst, const float *restrict a0, const float *restrict a1,
		  const float *restrict b0, const float *restrict b1,
		  float w0, float w1, float h0, float h1, size_t c)
{
	for (size_t ch = 0; ch < c; ch++)
		dst[ch] = (a0[ch] * w0 + a1[ch] * w1) * h0 + (b0[ch] * w0 + b1[ch] * w1) * h1;
}

static void bilinear_task(void *ctx, size_t task, int thread)
{
	const struct resize_job *job = ctx;
	const struct stp_tensor *in = job->in, *out = job->out;
	const size_t c = (size_t)in->c, row = (size_t)in->w * in->c_stride;
	int y0, y1;
	(void)thread;

	job_rows(job, task, &y0, &y1);
	for (int oy = y0; oy < y1; oy++) {
		int iy0, iy1;
		float h1;
		stp_bilinear_taps(oy, job->scale_h, in->h, &iy0, &iy1, &h1);
		const float *ra = in->data + (size_t)iy0 * row;
		const float *rb = in->data + (size_t)iy1 * row;
		float *orow = out->data + (size_t)oy * out->w * out->c_stride;
		for (int ox = 0; ox < out->w; ox++) {
			int ix0, ix1;
			float w1;
			stp_bilinear_taps(ox, job->scale_w, in->w, &ix0, &ix1, &w1);
			const size_t o0 = (size_t)ix0 * in->c_stride, o1 = (size_t)ix1 * in->c_stride;
			blend(orow + (size_t)ox * out->c_stride, ra + o0, ra + o1, rb + o0, rb + o1,
			      1.0f - w1, w1, 1.0f - h1, h1, c);
		}
	}
}

static void resize_run(const struct stp_tensor *in, struct stp_tensor *out,
		       stp_task_fn fn, struct stp_threadpool *pool)
{
	struct resize_job job = {in, out, 0.0f, 0.0f, 1};
	size_t row_floats;

	assert(in->h >= 1 && in->w >= 1 && out->h >= 1 && out->w >= 1);
	assert(out->c == in->c && in->c_stride >= in->c && out->c_stride >= out->c);
	assert(in->data != out->data);

	job.scale_h = (float)in->h / (float)out->h;
	job.scale_w = (float)in->w / (float)out->w;
	row_floats = (size_t)out->w * (size_t)out->c;
	if (row_floats < TASK_FLOATS)
		job.rows_per_task = (int)(TASK_FLOATS / row_floats);
	stp_threadpool_parallel_for(pool,
		((size_t)out->h + job.rows_per_task - 1) / job.rows_per_task, fn, &job);
}

void stp_resize_nearest(const struct stp_tensor *in, struct stp_tensor *out,
			struct stp_threadpool *pool)
{
	resize_run(in, out, nearest_task, pool);
}

void stp_resize_bilinear(const struct stp_tensor *in, struct stp_tensor *out,
			 struct stp_threadpool *pool)
{
	resize_run(in, out, bilinear_task, pool);
}
