/*
 * image-input.c - an 8-bit RGB image to the network's input, by the model's
 * "input" rules (proto/model-format.md, "Input (task models)"), as
 * train/stipple_train/transform.py computes it:
 *   1. scale = min(short / min(h, w), max_long / max(h, w)) in float32, the
 *      divisions as torch does them (a multiplication by the reciprocal),
 *      rh = floor(h * scale), rw = floor(w * scale) in double; bilinear
 *      resize of the 8-bit pixels with align_corners=False (the taps of
 *      stp_bilinear_taps, PyTorch's arithmetic), in float32;
 *   2. normalise at the resized size: (v - mean) / std, the channels in B,
 *      G, R order with input.channel_order "bgr";
 *   3. zero padding at the bottom and right to multiples of size_divisor.
 * Resizing first (torchvision normalises first; both are linear, so they
 * differ by float rounding only) reads the photo's bytes once and never
 * holds it in floats: a 12-megapixel photo cost 144 MB of floats and a
 * pass over them before. One task per output row, on the session's pool.
 * An image given at a reduced scale (stp_session_run_image_reduced: a JPEG
 * decoded with DCT scaling) is sized by the rules from the original's size
 * and resampled from the copy, so the network sees the same geometry.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/ops.h"
#include "image-input.h"

#define MAX_SIDE 16384

enum stp_status stp_model_input_size(const stp_model *model, int h, int w, int *rh, int *rw,
				     int *ph, int *pw)
{
	const struct stp_arch *a;
	float lo, hi, scale, by_long;
	double fh, fw;
	int div;

	if (!model || h < 1 || w < 1 || h > 65536 || w > 65536)
		return STP_ERR_INVALID_ARG;
	a = &model->arch;
	lo = (float)(h < w ? h : w);
	hi = (float)(h < w ? w : h);
	scale = (float)a->resize_short_side * (1.0f / lo);
	by_long = (float)a->resize_max_long_side * (1.0f / hi);
	if (by_long < scale)
		scale = by_long;
	fh = floor((double)h * (double)scale);
	fw = floor((double)w * (double)scale);
	if (fh < 1 || fw < 1 || fh > MAX_SIDE || fw > MAX_SIDE)
		return STP_ERR_INVALID_ARG;
	div = a->size_divisor;
	if (rh)
		*rh = (int)fh;
	if (rw)
		*rw = (int)fw;
	if (ph)
		*ph = ((int)fh + div - 1) / div * div;
	if (pw)
		*pw = ((int)fw + div - 1) / div * div;
	return STP_OK;
}

struct input_job {
	const uint8_t *rgb;
	size_t stride;               /* bytes between the photo's rows */
	int h, w, rh, rw, pw;
	float scale_h, scale_w;
	const int *ix0, *ix1;        /* [rw]: each output column's source columns */
	const float *lx;             /* [rw]: the weight of ix1 */
	int bgr;
	const float *mean, *std;
	float *out;                  /* ph x pw x 3 */
};

/* One output row: the bilinear blend of the photo's pixels (PyTorch's
 * order: width first, then height), then (v - mean) / std. */
static void input_row(void *ctx, size_t task, int thread)
{
	const struct input_job *j = ctx;
	const int oy = (int)task;
	int iy0, iy1;
	float ly;
	(void)thread;

	stp_bilinear_taps(oy, j->scale_h, j->h, &iy0, &iy1, &ly);
	{
		const uint8_t *ra = j->rgb + (size_t)iy0 * j->stride;
		const uint8_t *rb = j->rgb + (size_t)iy1 * j->stride;
		const float h0 = 1.0f - ly, h1 = ly;
		float *dst = j->out + (size_t)oy * j->pw * 3;

		for (int ox = 0; ox < j->rw; ox++) {
			const float w1 = j->lx[ox], w0 = 1.0f - w1;
			const size_t o0 = (size_t)j->ix0[ox] * 3, o1 = (size_t)j->ix1[ox] * 3;
			for (int c = 0; c < 3; c++) {
				const int sc = j->bgr ? 2 - c : c;
				const float v = ((float)ra[o0 + sc] * w0 + (float)ra[o1 + sc] * w1) * h0 +
						((float)rb[o0 + sc] * w0 + (float)rb[o1 + sc] * w1) * h1;
				dst[(size_t)ox * 3 + c] = (v - j->mean[c]) / j->std[c];
			}
		}
	}
}

enum stp_status stp_image_geometry_of(const stp_model *model, int h, int w,
				      struct stp_image_geometry *g)
{
	g->h = h;
	g->w = w;
	return stp_model_input_size(model, h, w, &g->rh, &g->rw, &g->ph, &g->pw);
}

size_t stp_image_input_floats(const struct stp_image_geometry *g)
{
	return (size_t)g->ph * (size_t)g->pw * 3 + 3 * (size_t)g->rw;
}

enum stp_status stp_image_input(struct stp_session *s, const uint8_t *rgb, int h, int w,
				size_t stride, const struct stp_image_geometry *g)
{
	const struct stp_arch *a = &s->model->arch;
	const size_t need = (size_t)g->ph * (size_t)g->pw * 3, cols = (size_t)g->rw;
	struct input_job job;
	int *taps;
	float *weights;

	if (stp_image_input_floats(g) > s->image_input_floats)
		return STP_ERR_INTERNAL;   /* not reserved for this image */
	/* the column taps live after the image (ints and floats are both 4 bytes) */
	taps = (int *)(s->image_input + need);
	weights = s->image_input + need + 2 * cols;
	job = (struct input_job){rgb, stride, h, w, g->rh, g->rw, g->pw,
				 (float)h / (float)g->rh, (float)w / (float)g->rw, taps, taps + cols,
				 weights, a->bgr, a->mean, a->std, s->image_input};
	for (int ox = 0; ox < g->rw; ox++)
		stp_bilinear_taps(ox, job.scale_w, w, &taps[ox], &taps[cols + (size_t)ox],
				  &weights[ox]);
	memset(s->image_input, 0, need * sizeof(float));   /* the padding: the mean colour */
	stp_threadpool_parallel_for(s->engine->pool, (size_t)g->rh, input_row, &job);
	return STP_OK;
}
