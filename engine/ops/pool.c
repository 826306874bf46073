/*
 * pool.c - max pooling and global average pooling on NHWC tensors.
 *
 * Max pooling: a task is a chunk of output rows. For each output pixel the
 * window is clipped to the image once (padding taps are skipped, never
 * compared), the first valid tap is copied and the others are max-ed in,
 * each as one contiguous channel loop that the compiler vectorises to
 * max instructions. Ties keep the earlier tap, as in PyTorch; unlike
 * PyTorch, a NaN wins only as the first valid tap (full NaN propagation
 * costs this loop about half its speed, and the engine's ReLUs map NaN
 * to 0 anyway).
 *
 * Global average pooling: a task is a block of channels; it sums every
 * pixel's slice of the block into double accumulators (so large maps lose
 * no precision) and writes the means.
 */
#include <assert.h>
#include <string.h>

#include "ops.h"

#define TASK_FLOATS 16384   /* output floats per max-pool task, at least */
#define GAP_BLOCK 64        /* channels per global-average-pool task */

struct maxpool_job {
	const struct stp_tensor *in;
	struct stp_tensor *out;
	int k, s, p;
	int rows_per_task;
};

static void max_into(float *restrict dst, const float *restrict src, size_t c)
{
	for (size_t ch = 0; ch < c; ch++)
		dst[ch] = src[ch] > dst[ch] ? src[ch] : dst[ch];
}

/* Clips the window starting at o*s - p to [0, n): taps [*t0, *t1). */
static void window_clip(int o, int s, int p, int k, int n, int *t0, int *t1)
{
	const int start = o * s - p;

	*t0 = start < 0 ? -start : 0;
	*t1 = start + k > n ? n - start : k;
}

static void maxpool_task(void *ctx, size_t task, int thread)
{
	const struct maxpool_job *job = ctx;
	const struct stp_tensor *in = job->in, *out = job->out;
	const size_t c = (size_t)in->c;
	const int y0 = (int)task * job->rows_per_task;
	const int y1 = y0 + job->rows_per_task < out->h ? y0 + job->rows_per_task : out->h;
	(void)thread;

	for (int oy = y0; oy < y1; oy++) {
		int ky0, ky1;
		window_clip(oy, job->s, job->p, job->k, in->h, &ky0, &ky1);
		const int iy0 = oy * job->s - job->p;
		float *orow = out->data + (size_t)oy * out->w * out->c_stride;
		for (int ox = 0; ox < out->w; ox++) {
			int kx0, kx1;
			window_clip(ox, job->s, job->p, job->k, in->w, &kx0, &kx1);
			const int ix0 = ox * job->s - job->p;
			float *restrict dst = orow + (size_t)ox * out->c_stride;
			int first = 1;
			assert(ky0 < ky1 && kx0 < kx1);
			for (int ky = ky0; ky < ky1; ky++) {
				const float *irow = in->data +
					(size_t)(iy0 + ky) * in->w * in->c_stride;
				for (int kx = kx0; kx < kx1; kx++) {
					const float *src = irow + (size_t)(ix0 + kx) * in->c_stride;
					if (first)
						memcpy(dst, src, c * sizeof(float));
					else
						max_into(dst, src, c);
					first = 0;
				}
			}
		}
	}
}

void stp_maxpool2d(const struct stp_tensor *in, struct stp_tensor *out,
		   int k, int s, int p, struct stp_threadpool *pool)
{
	struct maxpool_job job = {in, out, k, s, p, 1};
	size_t row_floats;

	assert(k >= 1 && s >= 1 && p >= 0 && 2 * p <= k);
	assert(in->h + 2 * p >= k && in->w + 2 * p >= k);
	assert(out->h == (in->h + 2 * p - k) / s + 1);
	assert(out->w == (in->w + 2 * p - k) / s + 1);
	assert(out->c == in->c && in->c_stride >= in->c && out->c_stride >= out->c);
	assert(in->data != out->data);

	row_floats = (size_t)out->w * (size_t)out->c;
	if (row_floats < TASK_FLOATS)
		job.rows_per_task = (int)(TASK_FLOATS / row_floats);
	stp_threadpool_parallel_for(pool,
		((size_t)out->h + job.rows_per_task - 1) / job.rows_per_task,
		maxpool_task, &job);
}

struct gap_job {
	const struct stp_tensor *in;
	struct stp_tensor *out;
};

static void gap_task(void *ctx, size_t task, int thread)
{
	const struct gap_job *job = ctx;
	const struct stp_tensor *in = job->in;
	const size_t c0 = task * GAP_BLOCK;
	const size_t c = (size_t)in->c - c0 < GAP_BLOCK ? (size_t)in->c - c0 : GAP_BLOCK;
	const size_t npix = (size_t)in->h * (size_t)in->w;
	double acc[GAP_BLOCK] = {0};
	(void)thread;

	for (size_t i = 0; i < npix; i++) {
		const float *restrict src = in->data + i * in->c_stride + c0;
		for (size_t ch = 0; ch < c; ch++)
			acc[ch] += (double)src[ch];
	}
	for (size_t ch = 0; ch < c; ch++)
		job->out->data[c0 + ch] = (float)(acc[ch] / (double)npix);
}

void stp_global_avgpool(const struct stp_tensor *in, struct stp_tensor *out,
			struct stp_threadpool *pool)
{
	struct gap_job job = {in, out};

	assert(in->h >= 1 && in->w >= 1 && in->c_stride >= in->c);
	assert(out->h == 1 && out->w == 1 && out->c == in->c);
	assert(in->data != out->data);
	stp_threadpool_parallel_for(pool, ((size_t)in->c + GAP_BLOCK - 1) / GAP_BLOCK,
				    gap_task, &job);
}
