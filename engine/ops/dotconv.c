/*
 * dotconv.c - convolutions with 1..4 output channels (mask logits, tiny
 * heads) as dot products over input channels: IGEMM would pad the output
 * channels to a whole register block and waste most of its FMAs.
 *
 * Pixels go STP_DOTCONV_MR at a time through the DOTCONV micro-kernel with
 * the same pointer table as IGEMM; bias, residual and ReLU are applied
 * here, on the few outputs. Tasks are chunks of consecutive listed pixels.
 */
#include <assert.h>

#include "conv-impl.h"

#define TILES_PER_TASK 16
#define MAX_TAPS 64

struct dot_job {
	const struct stp_conv *conv;
	const struct stp_tensor *in, *residual;
	struct stp_tensor *out;
	const int32_t *pixels;
	size_t npixels;
	const float *zero;
};

/* The pointer table of a whole tile of consecutive pixels p0.. whose every
 * tap lies inside the input: one division, then each pixel's taps are the
 * previous pixel's moved by the stride. Returns 0 (and writes nothing) for
 * any other tile. A tile that wraps to the next output row always fails
 * the ix1 test: counted along row oy its last pixel is at column ow or
 * beyond, whose taps reach input column w + padding or beyond. */
static int interior_tile(const struct stp_conv_desc *d, const struct stp_tensor *in, int ow,
			 size_t p0, const float **a, size_t *px)
{
	const size_t mr = STP_DOTCONV_MR;
	const int oy = (int)(p0 / (size_t)ow), ox = (int)(p0 % (size_t)ow);
	const int iy0 = oy * d->sh - d->ph, ix0 = ox * d->sw - d->pw;
	const int iy1 = iy0 + (d->kh - 1) * d->dh;
	const int ix1 = ix0 + (int)(mr - 1) * d->sw + (d->kw - 1) * d->dw;
	const size_t step = (size_t)d->sw * in->c_stride;
	size_t t = 0;

	if (iy0 < 0 || ix0 < 0 || iy1 >= in->h || ix1 >= in->w)
		return 0;
	for (int ky = 0; ky < d->kh; ky++)
		for (int kx = 0; kx < d->kw; kx++, t++) {
			const float *first = in->data + ((size_t)(iy0 + ky * d->dh) * in->w +
							 (size_t)(ix0 + kx * d->dw)) * in->c_stride;
			for (size_t i = 0; i < mr; i++)
				a[t * mr + i] = first + i * step;
		}
	for (size_t i = 0; i < mr; i++)
		px[i] = p0 + i;
	return 1;
}

/* The pointer table of any tile: pixels p0 .. p0 + mr - 1 of the job (listed
 * or consecutive), taps outside the input at the zero row; rows past mr
 * repeat the last pixel. */
static void any_tile(const struct dot_job *job, size_t p0, size_t mr, const float **a, size_t *px)
{
	const struct stp_conv_desc *d = &job->conv->desc;
	const struct stp_tensor *in = job->in, *out = job->out;
	const size_t mr_max = STP_DOTCONV_MR;

	for (size_t i = 0; i < mr_max; i++) {
		const size_t q = p0 + (i < mr ? i : mr - 1);
		const size_t p = job->pixels ? (size_t)job->pixels[q] : q;
		const int oy = (int)(p / (size_t)out->w), ox = (int)(p % (size_t)out->w);
		size_t t = 0;
		px[i] = p;
		for (int ky = 0; ky < d->kh; ky++) {
			const int iy = oy * d->sh - d->ph + ky * d->dh;
			for (int kx = 0; kx < d->kw; kx++, t++) {
				const int ix = ox * d->sw - d->pw + kx * d->dw;
				a[t * mr_max + i] =
					(iy >= 0 && iy < in->h && ix >= 0 && ix < in->w)
						? in->data + ((size_t)iy * in->w + ix) * in->c_stride
						: job->zero;
			}
		}
	}
}

static void dot_task(void *ctx, size_t task, int thread)
{
	const struct dot_job *job = ctx;
	const struct stp_conv *conv = job->conv;
	const struct stp_conv_desc *d = &conv->desc;
	const struct stp_tensor *in = job->in, *out = job->out;
	const size_t nc = (size_t)d->cout, ks = conv->ks, mr_max = STP_DOTCONV_MR;
	const float *bias = conv->dot_weights + nc * ks * (size_t)conv->cin_g;
	const size_t ntiles = (job->npixels + mr_max - 1) / mr_max;
	size_t tile_end = (task + 1) * TILES_PER_TASK;
	const float *a[MAX_TAPS * STP_DOTCONV_MR];
	float acc[STP_DOTCONV_MR][STP_DOTCONV_MAX_NC];
	float *c[STP_DOTCONV_MR];
	size_t px[STP_DOTCONV_MR];
	(void)thread;

	for (size_t i = 0; i < mr_max; i++)
		c[i] = acc[i];
	if (tile_end > ntiles)
		tile_end = ntiles;
	for (size_t tile = task * TILES_PER_TASK; tile < tile_end; tile++) {
		const size_t p0 = tile * mr_max;
		const size_t mr = job->npixels - p0 < mr_max ? job->npixels - p0 : mr_max;
		if (job->pixels || mr < mr_max || !interior_tile(d, in, out->w, p0, a, px))
			any_tile(job, p0, mr, a, px);
		conv->dotconv(mr, nc, (size_t)conv->cin_g, ks, a, conv->dot_weights, c);
		for (size_t i = 0; i < mr; i++) {
			float *dst = out->data + px[i] * out->c_stride;
			const float *res = job->residual
						   ? job->residual->data + px[i] * job->residual->c_stride
						   : NULL;
			for (size_t n = 0; n < nc; n++) {
				float v = acc[i][n] + bias[n];
				if (res)
					v += res[n];
				if (d->relu && v < 0.0f)
					v = d->slope == 0.0f ? 0.0f : v * d->slope;
				dst[n] = v;
			}
		}
	}
}

void stp_dotconv_run(const struct stp_conv *conv, const struct stp_tensor *in,
		     struct stp_tensor *out, const struct stp_tensor *residual,
		     const int32_t *pixels, size_t npixels, const float *zero,
		     struct stp_threadpool *pool)
{
	struct dot_job job = {conv, in, residual, out, pixels, npixels, zero};
	const size_t ntiles = (npixels + STP_DOTCONV_MR - 1) / STP_DOTCONV_MR;
	assert(conv->ks <= MAX_TAPS);
	stp_threadpool_parallel_for(pool, (ntiles + TILES_PER_TASK - 1) / TILES_PER_TASK,
				    dot_task, &job);
}
