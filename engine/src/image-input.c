/*
 * image-input.c - an 8-bit RGB image to the network's input, by the model's
 * "input" rules, exactly as torchvision's GeneralizedRCNNTransform does in
 * eval mode (proto/model-format.md, "Input (task models)"):
 *   0. with input.channel_order "bgr", the channels in B, G, R order;
 *   1. normalise at the original size, float32: (pixel - mean) / std;
 *   2. scale = min(short / min(h, w), max_long / max(h, w)) in float32, the
 *      divisions as torch does them (a multiplication by the reciprocal),
 *      rh = floor(h * scale), rw = floor(w * scale) in double; bilinear
 *      resize with align_corners=False (stp_resize_bilinear, PyTorch's
 *      arithmetic);
 *   3. zero padding at the bottom and right to multiples of size_divisor.
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

enum stp_status stp_image_input(struct stp_session *s, const uint8_t *rgb, int h, int w,
				size_t stride, struct stp_image_geometry *g)
{
	const struct stp_arch *a = &s->model->arch;
	struct stp_tensor norm, resized;
	size_t need;
	enum stp_status st;

	if (a->in_channels != 3)
		return STP_ERR_UNSUPPORTED;
	if (!rgb || stride < (size_t)w * 3)
		return STP_ERR_INVALID_ARG;
	g->h = h;
	g->w = w;
	st = stp_model_input_size(s->model, h, w, &g->rh, &g->rw, &g->ph, &g->pw);
	if (st != STP_OK)
		return st;
	need = (size_t)g->ph * (size_t)g->pw * 3;
	if (need > s->image_input_floats) {
		free(s->image_input);
		s->image_input_floats = 0;
		s->image_input = malloc(need * sizeof(float));
		if (!s->image_input)
			return STP_ERR_NOMEM;
		s->image_input_floats = need;
	}
	norm = (struct stp_tensor){malloc((size_t)h * (size_t)w * 3 * sizeof(float)), h, w, 3, 3};
	resized = (struct stp_tensor){malloc((size_t)g->rh * (size_t)g->rw * 3 * sizeof(float)),
				      g->rh, g->rw, 3, 3};
	if (!norm.data || !resized.data) {
		free(norm.data);
		free(resized.data);
		return STP_ERR_NOMEM;
	}
	for (int y = 0; y < h; y++) {
		const uint8_t *src = rgb + (size_t)y * stride;
		float *dst = norm.data + (size_t)y * w * 3;

		for (int x = 0; x < w; x++)
			for (int c = 0; c < 3; c++)
				dst[x * 3 + c] = ((float)src[x * 3 + (a->bgr ? 2 - c : c)] - a->mean[c]) /
						 a->std[c];
	}
	stp_resize_bilinear(&norm, &resized, s->engine->pool);
	memset(s->image_input, 0, need * sizeof(float));
	for (int y = 0; y < g->rh; y++)
		memcpy(s->image_input + (size_t)y * g->pw * 3, resized.data + (size_t)y * g->rw * 3,
		       (size_t)g->rw * 3 * sizeof(float));
	free(norm.data);
	free(resized.data);
	return STP_OK;
}
