/*
 * dwconv.c - depthwise convolution (one filter per channel) over a list of
 * output pixels. Each output pixel accumulates its taps across all channels
 * at once (a contiguous channel loop the compiler vectorises); out-of-image
 * taps are skipped. Tasks are chunks of consecutive listed pixels.
 */
#include <assert.h>

#include "conv-impl.h"

#define PIXELS_PER_TASK 64

struct dw_job {
	const struct stp_conv *conv;
	const struct stp_tensor *in, *residual;
	struct stp_tensor *out;
	const int32_t *pixels;
	size_t npixels;
};

static void dw_task(void *ctx, size_t task, int thread)
{
	const struct dw_job *job = ctx;
	const struct stp_conv *conv = job->conv;
	const struct stp_conv_desc *d = &conv->desc;
	const struct stp_tensor *in = job->in, *out = job->out;
	const size_t c = (size_t)d->cout;
	const float *bias = conv->dw_weights + conv->ks * c;
	size_t end = (task + 1) * PIXELS_PER_TASK;
	(void)thread;

	if (end > job->npixels)
		end = job->npixels;
	for (size_t i = task * PIXELS_PER_TASK; i < end; i++) {
		const size_t p = job->pixels ? (size_t)job->pixels[i] : i;
		const int oy = (int)(p / (size_t)out->w), ox = (int)(p % (size_t)out->w);
		float *restrict dst = out->data + p * out->c_stride;
		for (size_t ch = 0; ch < c; ch++)
			dst[ch] = bias[ch];
		for (int ky = 0; ky < d->kh; ky++) {
			const int iy = oy * d->sh - d->ph + ky * d->dh;
			if (iy < 0 || iy >= in->h)
				continue;
			for (int kx = 0; kx < d->kw; kx++) {
				const int ix = ox * d->sw - d->pw + kx * d->dw;
				if (ix < 0 || ix >= in->w)
					continue;
				const float *restrict src = in->data + ((size_t)iy * in->w + ix) * in->c_stride;
				const float *restrict wt = conv->dw_weights + ((size_t)ky * d->kw + kx) * c;
				for (size_t ch = 0; ch < c; ch++)
					dst[ch] += src[ch] * wt[ch];
			}
		}
		if (job->residual) {
			const float *restrict res = job->residual->data + p * job->residual->c_stride;
			for (size_t ch = 0; ch < c; ch++)
				dst[ch] += res[ch];
		}
		if (d->relu)
			for (size_t ch = 0; ch < c; ch++)
				dst[ch] = dst[ch] >= 0.0f ? dst[ch]
					  : d->slope == 0.0f ? 0.0f : dst[ch] * d->slope;
	}
}

void stp_dwconv_run(const struct stp_conv *conv, const struct stp_tensor *in,
		    struct stp_tensor *out, const struct stp_tensor *residual,
		    const int32_t *pixels, size_t npixels, const float *zero,
		    struct stp_threadpool *pool)
{
	struct dw_job job = {conv, in, residual, out, pixels, npixels};
	(void)zero;
	assert(in->c == conv->desc.cin);
	stp_threadpool_parallel_for(pool, (npixels + PIXELS_PER_TASK - 1) / PIXELS_PER_TASK,
				    dw_task, &job);
}
