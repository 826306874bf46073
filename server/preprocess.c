/*
 * preprocess.c - see preprocess.h. Resizing precomputes, per output row and
 * column, the two source indices and weights (separable bilinear), then
 * normalises as it writes, so the image is read once.
 */
#include <math.h>
#include <stdlib.h>

#include "preprocess.h"

#define MAX_SIDE 16384

struct taps {
	int *i0, *i1;
	float *w1;   /* weight of i1; i0 gets 1 - w1 */
};

/* Source taps for out samples over in, align_corners = false. */
static int make_taps(int in, int out, struct taps *t)
{
	const double ratio = (double)in / out;

	t->i0 = malloc((size_t)out * sizeof(int));
	t->i1 = malloc((size_t)out * sizeof(int));
	t->w1 = malloc((size_t)out * sizeof(float));
	if (!t->i0 || !t->i1 || !t->w1)
		return -1;
	for (int o = 0; o < out; o++) {
		double src = (o + 0.5) * ratio - 0.5;
		int i;

		if (src < 0)
			src = 0;
		i = (int)src;
		if (i > in - 1)
			i = in - 1;
		t->i0[o] = i;
		t->i1[o] = i + 1 < in ? i + 1 : in - 1;
		t->w1[o] = (float)(src - i);
	}
	return 0;
}

static void free_taps(struct taps *t)
{
	free(t->i0);
	free(t->i1);
	free(t->w1);
}

int preprocess_image(const uint8_t *rgb, int h, int w, const struct preprocess *p,
		     struct model_input *out)
{
	struct taps ty = {0}, tx = {0};
	double scale = 1;
	int rh = h, rw = w, ph, pw, div = p->size_divisor > 0 ? p->size_divisor : 1, rc = -1;
	float inv_std[3];

	out->data = NULL;
	if (p->short_side > 0) {
		/* torchvision's rule, in float32 as it computes it
		 * (proto/model-format.md, Heads: rule 7). */
		const float lo = (float)(h < w ? h : w), hi = (float)(h < w ? w : h);
		/* torch divides a number by a tensor as number * (1 / tensor) */
		const float by_short = (float)p->short_side * (1.0f / lo);
		const float by_long = (float)p->max_long_side * (1.0f / hi);
		float f = by_short;

		if (p->max_long_side > 0 && by_long < f)
			f = by_long;
		scale = f;
		rh = (int)floor((double)h * scale);
		rw = (int)floor((double)w * scale);
	}
	if (rh < 1 || rw < 1 || rh > MAX_SIDE || rw > MAX_SIDE)
		return -1;
	ph = (rh + div - 1) / div * div;
	pw = (rw + div - 1) / div * div;
	out->data = calloc((size_t)ph * pw * 3, sizeof(float));
	if (!out->data || make_taps(h, rh, &ty) || make_taps(w, rw, &tx))
		goto done;
	for (int c = 0; c < 3; c++)
		inv_std[c] = 1.0f / p->std[c];
	for (int y = 0; y < rh; y++) {
		const uint8_t *r0 = rgb + (size_t)ty.i0[y] * w * 3, *r1 = rgb + (size_t)ty.i1[y] * w * 3;
		const float wy = ty.w1[y];
		float *dst = out->data + (size_t)y * pw * 3;

		for (int x = 0; x < rw; x++) {
			const int a = tx.i0[x] * 3, b = tx.i1[x] * 3;
			const float wx = tx.w1[x];

			for (int c = 0; c < 3; c++) {
				float top = r0[a + c] + wx * (r0[b + c] - r0[a + c]);
				float bot = r1[a + c] + wx * (r1[b + c] - r1[a + c]);

				dst[x * 3 + c] = (top + wy * (bot - top) - p->mean[c]) * inv_std[c];
			}
		}
	}
	out->h = ph;
	out->w = pw;
	out->resized_h = rh;
	out->resized_w = rw;
	rc = 0;
done:
	free_taps(&ty);
	free_taps(&tx);
	if (rc) {
		free(out->data);
		out->data = NULL;
	}
	return rc;
}
