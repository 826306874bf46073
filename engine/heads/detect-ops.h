/*
 * detect-ops.h - the box arithmetic of the Faster R-CNN head, as pure
 * functions: top-k (over util/order.h), anchors, BoxCoder decoding, clipping,
 * NMS, the RoI level mapping and RoIAlign. Each follows one rule of
 * proto/model-format.md ("Faster R-CNN inference", "What an engine must
 * mirror") and the reference train/stipple_train/box_ops.py, anchors.py,
 * roi_align.py, in float32 without FMA contraction (detect-ops.c alone is
 * compiled with -ffp-contract=off, Makefile.am), so decisions match PyTorch's.
 */
#ifndef STP_DETECT_OPS_H
#define STP_DETECT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "../base/internal.h"
#include "order.h"

struct stp_box {
	float x1, y1, x2, y2;
};

/* The indices of the min(k, n) largest of v[0..n) into out, by value
 * descending (NaN as -inf), equal values by ascending index; returns their
 * count. scratch: min(k, n) uint32; work_v: n floats. */
size_t stp_topk_desc(const float *v, size_t n, size_t k, uint32_t *out, uint32_t *scratch,
		     float *work_v);

/* Cell anchors of one level: A = nratios * nsizes boxes, ratio-major,
 * round([-w, -h, w, h] / 2) half to even, h = sqrt(r) * s, w = s / sqrt(r). */
void stp_cell_anchors(const float *sizes, int nsizes, const float *ratios, int nratios,
		      struct stp_box *cell);

/* BoxCoder.decode of one delta (dx, dy, dw, dh) against ref, weights w[4],
 * dw and dh clamped above at clip. */
struct stp_box stp_box_decode(const struct stp_box *ref, const float *delta, const float *w,
			      float clip);

/* x to [0, width], y to [0, height]. */
struct stp_box stp_box_clip(struct stp_box b, float height, float width);

/* Greedy NMS over the boxes order[0..n) (already by descending score):
 * keeps a box not yet suppressed, suppresses every later one with IoU >
 * thresh. Writes the kept entries of order into keep, in order; returns
 * their count. Scratch: suppressed n bytes, coords 5n floats. */
size_t stp_nms_sorted(const struct stp_box *boxes, const uint32_t *order, size_t n,
		      float thresh, uint32_t *keep, uint8_t *suppressed, float *coords);

/* NMS per category: boxes 0..n with score[i] and category[i] in
 * [0, ncategories). Each category's boxes in input order, sorted by score
 * (stable), greedy NMS; the union of the kept indices by score descending,
 * ties by ascending index, into keep. Returns its count. scratch: 9n
 * 32-bit words (4n indices, then 5n floats for stp_nms_sorted); flags: n
 * bytes. */
size_t stp_batched_nms(const struct stp_box *boxes, const float *score, const int *category,
		       size_t n, int ncategories, float thresh, uint32_t *keep,
		       uint32_t *scratch, uint8_t *flags);

/* The feature level of a box: floor(canonical_level + log2(sqrt(area) /
 * canonical_scale) + eps) in float32, clamped to [kmin, kmax]. */
int stp_roi_level(const struct stp_box *b, float canonical_scale, int canonical_level,
		  float eps, int kmin, int kmax);

/* RoIAlign of one box on feature (NHWC, h x w, c channels, pixels
 * c_stride floats apart) at spatial scale `scale`: p x p bins of g x g
 * samples, out[(py * p + px) * c + ch]. acc: c floats of scratch. */
void stp_roi_align(const struct stp_tensor *feature, const struct stp_box *box, float scale,
		   int p, int g, int aligned, float *out, float *acc);

#endif
