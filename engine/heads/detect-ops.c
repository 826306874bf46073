/*
 * detect-ops.c - see detect-ops.h. Every expression keeps the reference's
 * float32 operation order; comments name the rule where it is not obvious.
 * NaN logits (a broken model) never crash anything: sorting and selection
 * see them as -inf.
 */
#include <math.h>
#include <string.h>

#include "detect-ops.h"

size_t stp_topk_desc(const float *v, size_t n, size_t k, uint32_t *out, uint32_t *scratch,
		     float *work_v)
{
	size_t count = 0;
	float threshold;

	if (k > n)
		k = n;
	if (k == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		work_v[i] = stp_rank_f32(v[i]);
	threshold = stp_kth_largest_f32(work_v, n, k);
	/* the values above the k-th, then as many equal to it as fit, in index
	 * order: ties go to the lower index */
	for (size_t i = 0; i < n; i++)
		if (stp_rank_f32(v[i]) > threshold)
			out[count++] = (uint32_t)i;
	for (size_t i = 0; i < n && count < k; i++)
		if (stp_rank_f32(v[i]) == threshold)
			out[count++] = (uint32_t)i;
	stp_sort_desc_f32(v, out, count, scratch);
	return count;
}

void stp_cell_anchors(const float *sizes, int nsizes, const float *ratios, int nratios,
		      struct stp_box *cell)
{
	for (int r = 0; r < nratios; r++) {
		const float hr = sqrtf(ratios[r]), wr = 1.0f / hr;

		for (int s = 0; s < nsizes; s++) {
			const float w = wr * sizes[s], h = hr * sizes[s];

			/* torch.round: half to even, the default rounding mode */
			cell[r * nsizes + s] = (struct stp_box){nearbyintf(-w / 2), nearbyintf(-h / 2),
								nearbyintf(w / 2), nearbyintf(h / 2)};
		}
	}
}

struct stp_box stp_box_decode(const struct stp_box *ref, const float *delta, const float *w,
			      float clip)
{
	const float width = ref->x2 - ref->x1, height = ref->y2 - ref->y1;
	const float cx = ref->x1 + 0.5f * width, cy = ref->y1 + 0.5f * height;
	const float dx = delta[0] / w[0], dy = delta[1] / w[1];
	float dw = delta[2] / w[2], dh = delta[3] / w[3];
	float px, py, pw, ph, hw, hh;

	if (dw > clip)
		dw = clip;
	if (dh > clip)
		dh = clip;
	px = dx * width + cx;
	py = dy * height + cy;
	pw = expf(dw) * width;
	ph = expf(dh) * height;
	hw = 0.5f * pw;
	hh = 0.5f * ph;
	return (struct stp_box){px - hw, py - hh, px + hw, py + hh};
}

static float clamp(float x, float hi)
{
	x = x < 0.0f ? 0.0f : x;
	return x > hi ? hi : x;
}

struct stp_box stp_box_clip(struct stp_box b, float height, float width)
{
	return (struct stp_box){clamp(b.x1, width), clamp(b.y1, height), clamp(b.x2, width),
				clamp(b.y2, height)};
}

static float fmax2(float a, float b)
{
	return a > b ? a : b;
}

static float fmin2(float a, float b)
{
	return a < b ? a : b;
}

size_t stp_nms_sorted(const struct stp_box *boxes, const uint32_t *order, size_t n,
		      float thresh, uint32_t *keep, uint8_t *suppressed, float *coords)
{
	/* The boxes in score order as columns, with their areas: the inner
	 * loop then runs over contiguous floats, branch-free (a box already
	 * suppressed is tested again, harmlessly), and the compiler
	 * vectorises it; every IoU is the same float expression as before. */
	float *x1 = coords, *y1 = coords + n, *x2 = coords + 2 * n, *y2 = coords + 3 * n;
	float *area = coords + 4 * n;
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		const struct stp_box *b = &boxes[order[i]];
		x1[i] = b->x1;
		y1[i] = b->y1;
		x2[i] = b->x2;
		y2[i] = b->y2;
		area[i] = (b->x2 - b->x1) * (b->y2 - b->y1);
	}
	memset(suppressed, 0, n);
	for (size_t i = 0; i < n; i++) {
		const float ax1 = x1[i], ay1 = y1[i], ax2 = x2[i], ay2 = y2[i], area_a = area[i];

		if (suppressed[i])
			continue;
		keep[kept++] = order[i];
		for (size_t j = i + 1; j < n; j++) {
			float w = fmin2(ax2, x2[j]) - fmax2(ax1, x1[j]);
			float h = fmin2(ay2, y2[j]) - fmax2(ay1, y1[j]);
			float inter;

			w = w < 0.0f ? 0.0f : w;
			h = h < 0.0f ? 0.0f : h;
			inter = w * h;
			suppressed[j] |= (uint8_t)(inter / ((area_a + area[j]) - inter) > thresh);
		}
	}
	return kept;
}

size_t stp_batched_nms(const struct stp_box *boxes, const float *score, const int *category,
		       size_t n, int ncategories, float thresh, uint32_t *keep,
		       uint32_t *scratch, uint8_t *flags)
{
	uint32_t *members = scratch, *kept = scratch + n, *sort_tmp = scratch + 2 * n;
	uint32_t *local = scratch + 3 * n;
	float *coords = (float *)(scratch + 4 * n);   /* 5n floats */
	size_t nkept = 0, out = 0;

	for (int c = 0; c < ncategories; c++) {
		size_t m = 0, k;

		for (size_t i = 0; i < n; i++)
			if (category[i] == c)
				members[m++] = (uint32_t)i;
		if (m == 0)
			continue;
		stp_sort_desc_f32(score, members, m, sort_tmp);
		k = stp_nms_sorted(boxes, members, m, thresh, local, flags, coords);
		memcpy(kept + nkept, local, k * sizeof(*kept));
		nkept += k;
	}
	/* the kept boxes in index order, then by score: ties by index */
	memset(flags, 0, n);
	for (size_t i = 0; i < nkept; i++)
		flags[kept[i]] = 1;
	for (size_t i = 0; i < n; i++)
		if (flags[i])
			keep[out++] = (uint32_t)i;
	stp_sort_desc_f32(score, keep, out, sort_tmp);
	return out;
}

int stp_roi_level(const struct stp_box *b, float canonical_scale, int canonical_level,
		  float eps, int kmin, int kmax)
{
	const float s = sqrtf((b->x2 - b->x1) * (b->y2 - b->y1));
	float t = (float)canonical_level + log2f(s / canonical_scale);

	t = floorf(t + eps);
	if (!(t >= (float)kmin))   /* also NaN: a degenerate box */
		return kmin;
	return t > (float)kmax ? kmax : (int)t;
}

/* Sample coordinate i of bin p along one axis of n pixels: taps lo, hi,
 * their weights, and whether it lies in [-1, n]. */
struct tap {
	int lo, hi;
	float wlo, whi;
	int valid;
};

static struct tap axis_tap(float start, float bin, int p, int i, int g, int n)
{
	float c = (start + (float)p * bin) + (((float)i + 0.5f) * bin) / (float)g;
	struct tap t;

	t.valid = c >= -1.0f && c <= (float)n;
	if (!t.valid) {   /* contributes 0; never convert a huge or NaN c */
		t.lo = t.hi = 0;
		t.wlo = t.whi = 0.0f;
		return t;
	}
	if (c <= 0.0f)
		c = 0.0f;
	t.lo = (int)c;
	if (t.lo >= n - 1) {
		t.lo = t.hi = n - 1;
		c = (float)t.lo;
	} else {
		t.hi = t.lo + 1;
	}
	t.whi = c - (float)t.lo;
	t.wlo = 1.0f - t.whi;
	return t;
}

/* acc[ch] += the bilinear sample of four taps, in the reference's order. */
static void add_sample(float *restrict acc, const float *restrict f00, const float *restrict f01,
		       const float *restrict f10, const float *restrict f11, float w00, float w01,
		       float w10, float w11, int c)
{
	for (int ch = 0; ch < c; ch++)
		acc[ch] += ((w00 * f00[ch] + w01 * f01[ch]) + w10 * f10[ch]) + w11 * f11[ch];
}

void stp_roi_align(const struct stp_tensor *feature, const struct stp_box *box, float scale,
		   int p, int g, int aligned, float *out, float *acc)
{
	const float off = aligned ? 0.5f : 0.0f;
	const float sx = box->x1 * scale - off, sy = box->y1 * scale - off;
	const float ex = box->x2 * scale - off, ey = box->y2 * scale - off;
	const int c = feature->c;
	const size_t cs = feature->c_stride, row = (size_t)feature->w * cs;
	float rw = ex - sx, rh = ey - sy, bw, bh;

	if (!aligned) {
		rw = fmax2(rw, 1.0f);
		rh = fmax2(rh, 1.0f);
	}
	bw = rw / (float)p;
	bh = rh / (float)p;
	for (int py = 0; py < p; py++) {
		for (int px = 0; px < p; px++) {
			/* the reference sums every sample from the first; a sample
			 * out of range adds an exact 0, and 0 + v == v */
			memset(acc, 0, (size_t)c * sizeof(*acc));
			for (int iy = 0; iy < g; iy++) {
				const struct tap ty = axis_tap(sy, bh, py, iy, g, feature->h);
				const float *r0 = feature->data + (size_t)ty.lo * row;
				const float *r1 = feature->data + (size_t)ty.hi * row;

				if (!ty.valid)
					continue;
				for (int ix = 0; ix < g; ix++) {
					const struct tap tx = axis_tap(sx, bw, px, ix, g, feature->w);

					if (tx.valid)
						add_sample(acc, r0 + (size_t)tx.lo * cs, r0 + (size_t)tx.hi * cs,
							   r1 + (size_t)tx.lo * cs, r1 + (size_t)tx.hi * cs,
							   ty.wlo * tx.wlo, ty.wlo * tx.whi, ty.whi * tx.wlo,
							   ty.whi * tx.whi, c);
				}
			}
			for (int ch = 0; ch < c; ch++)
				out[(size_t)(py * p + px) * c + ch] = acc[ch] / (float)(g * g);
		}
	}
}
