/*
 * preprocess.h - turns a decoded RGB image into the engine's input, by the
 * rules the model file carries (repo.h struct preprocess):
 *   scale = min(short_side / min(h, w), max_long_side / max(h, w)), in float32
 *   exactly as torchvision computes it (375 x 500 gives 799 x 1066),
 *   resized = floor(h * scale) x floor(w * scale), bilinear with
 *   align_corners = false (torchvision's GeneralizedRCNNTransform);
 *   (pixel - mean) / std per channel, in 0-255 units;
 *   zero padding at the bottom and right to a multiple of size_divisor.
 */
#ifndef STIPPLE_SERVER_PREPROCESS_H
#define STIPPLE_SERVER_PREPROCESS_H

#include <stdint.h>

#include "repo.h"

struct model_input {
	float *data;          /* h x w x 3, NHWC; owned, free() */
	int h, w;             /* padded size given to the engine */
	int resized_h, resized_w;
};

/* 0, or -1 when out of memory or the result would be empty or too large. */
int preprocess_image(const uint8_t *rgb, int h, int w, const struct preprocess *p,
		     struct model_input *out);

#endif
