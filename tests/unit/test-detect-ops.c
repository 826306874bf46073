/*
 * test-detect-ops.c - the Faster R-CNN head's box arithmetic
 * (engine/heads/detect-ops.c) against naive references and hand-computed
 * cases: top-k with many ties, torchvision's cell
 * anchors (and rounding half to even), BoxCoder decoding and its clamp,
 * clipping, NMS (ties by index, IoU exactly at the threshold kept) and NMS
 * per category against a naive greedy NMS on grid boxes, the RoI level
 * mapping, and RoIAlign (in double, by the formula, including samples past
 * the border and the last-pixel rule; exact values at each border rule).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "heads/detect-ops.h"

static unsigned long long rng = 88172645463325252ull;

static unsigned next(void)
{
	return test_rand_u32(&rng);
}

/* Naive stable descending order: insertion sort. */
static void naive_order(const float *v, uint32_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && v[idx[j]] > v[idx[j - 1]]; j--) {
			uint32_t t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
}

static void test_sort_topk(void)
{
	enum { N = 700 };
	float v[N], work[N];
	uint32_t ref[N], got[N], scratch[2 * N];

	for (int trial = 0; trial < 20; trial++) {
		const size_t n = 1 + next() % N, k = trial == 0 ? n + 5 : next() % (n + 1);
		size_t count;

		for (size_t i = 0; i < n; i++)   /* few distinct values: many ties */
			v[i] = (float)(next() % (trial % 2 ? 7 : 1000)) - 3.0f;
		naive_order(v, ref, n);
		for (size_t i = 0; i < n; i++)
			got[i] = (uint32_t)i;
		stp_sort_desc_f32(v, got, n, scratch);
		CHECK(memcmp(ref, got, n * sizeof(*got)) == 0, "sort, trial %d (n %zu)", trial, n);
		count = stp_topk_desc(v, n, k, got, scratch, work);
		CHECK(count == (k < n ? k : n) && memcmp(ref, got, count * sizeof(*got)) == 0,
		      "top-%zu of %zu, trial %d", k, n, trial);
	}
	v[0] = NAN;
	v[1] = 1;
	v[2] = 2;
	CHECK(stp_topk_desc(v, 3, 2, got, scratch, work) == 2 && got[0] == 2 && got[1] == 1,
	      "a NaN ranks last");
}

static void test_anchors(void)
{
	const float sizes[1] = {32}, ratios[3] = {0.5f, 1.0f, 2.0f}, halves[2] = {3, 5};
	struct stp_box cell[3];

	stp_cell_anchors(sizes, 1, ratios, 3, cell);
	CHECK(cell[0].x1 == -23 && cell[0].y1 == -11 && cell[0].x2 == 23 && cell[0].y2 == 11 &&
	      cell[1].x1 == -16 && cell[1].y2 == 16 && cell[2].x1 == -11 && cell[2].y1 == -23,
	      "torchvision's P2 anchors: %g %g %g %g", cell[0].x1, cell[0].y1, cell[0].x2, cell[0].y2);
	stp_cell_anchors(halves, 2, ratios + 1, 1, cell);
	for (int i = 0; i < 2; i++)
		CHECK(cell[i].x1 == -2 && cell[i].y1 == -2 && cell[i].x2 == 2 && cell[i].y2 == 2,
		      "size %g: +-%g rounds half to even, to 2: %g %g %g %g", halves[i],
		      halves[i] / 2, cell[i].x1, cell[i].y1, cell[i].x2, cell[i].y2);
}

static void test_decode_clip(void)
{
	const struct stp_box ref = {10, 20, 30, 60};   /* 20 x 40, centre (20, 40) */
	const float ones[4] = {1, 1, 1, 1}, tv[4] = {10, 10, 5, 5};
	const float zero[4] = {0, 0, 0, 0}, shift[4] = {10, -5, 0, 0}, big[4] = {0, 0, 100, 100};
	struct stp_box b = stp_box_decode(&ref, zero, tv, 4.1351666f);

	CHECK(b.x1 == 10 && b.y1 == 20 && b.x2 == 30 && b.y2 == 60, "zero deltas keep the box");
	b = stp_box_decode(&ref, shift, tv, 4.1351666f);
	CHECK(b.x1 == 30 && b.x2 == 50 && b.y1 == 0 && b.y2 == 40, "dx 10 / 10 moves one width: "
	      "%g %g %g %g", b.x1, b.y1, b.x2, b.y2);
	b = stp_box_decode(&ref, big, ones, 4.1351666f);
	CHECK(fabsf(b.x2 - b.x1 - 20 * expf(4.1351666f)) < 1e-2f, "dw clamped at the clip: %g",
	      b.x2 - b.x1);
	b = stp_box_clip((struct stp_box){-5, 3, 120, 90}, 80, 100);
	CHECK(b.x1 == 0 && b.y1 == 3 && b.x2 == 100 && b.y2 == 80, "clip to the image");
}

static void test_nms(void)
{
	/* 0 and 1 overlap with IoU exactly 0.5 (inter 2, union 4 + 2 - 2);
	 * 2 duplicates 0 in another category; 3 is far away. */
	const struct stp_box b[4] = {{0, 0, 2, 2}, {0, 0, 2, 1}, {0, 0, 2, 2}, {5, 5, 6, 6}};
	const float score[4] = {0.9f, 0.8f, 0.9f, 0.1f};
	const int cat[4] = {0, 0, 1, 0};
	uint32_t order[4], keep[4], scratch[36], tmp[4];
	uint8_t flags[4];
	float coords[20];
	size_t n;

	for (int i = 0; i < 4; i++)
		order[i] = (uint32_t)i;
	stp_sort_desc_f32(score, order, 4, tmp);
	CHECK(order[0] == 0 && order[1] == 2 && order[2] == 1 && order[3] == 3,
	      "equal scores keep index order");
	n = stp_nms_sorted(b, order, 4, 0.5f, keep, flags, coords);
	CHECK(n == 3 && keep[0] == 0 && keep[1] == 1 && keep[2] == 3,
	      "2 suppressed by 0 (IoU 1), 1 kept (IoU 0.5 is not > 0.5): n %zu", n);
	n = stp_nms_sorted(b, order, 4, 0.49f, keep, flags, coords);
	CHECK(n == 2 && keep[0] == 0 && keep[1] == 3, "IoU 0.5 > 0.49 suppresses");
	n = stp_batched_nms(b, score, cat, 4, 2, 0.5f, keep, scratch, flags);
	CHECK(n == 4 && keep[0] == 0 && keep[1] == 2 && keep[2] == 1 && keep[3] == 3,
	      "per category: 2 is alone in its category; by score, ties by index");
	n = stp_batched_nms(b, score, cat, 0, 2, 0.5f, keep, scratch, flags);
	CHECK(n == 0, "no boxes");
}

/* Greedy NMS the naive way: in stable score order, a box is kept when no
 * box kept before it overlaps it with IoU > thresh. Marks kept[i]. */
static void naive_nms(const struct stp_box *b, const float *score, const int *cat, int c,
		      size_t n, float thresh, uint8_t *kept)
{
	uint32_t order[64];
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		kept[i] = 0;
	naive_order(score, order, n);
	for (size_t i = 0; i < n; i++)
		if (cat[order[i]] == c)
			order[m++] = order[i];
	for (size_t i = 0; i < m; i++) {
		const struct stp_box *x = &b[order[i]];
		int keep = 1;

		for (size_t j = 0; j < i && keep; j++) {
			const struct stp_box *y = &b[order[j]];
			float w = fminf(x->x2, y->x2) - fmaxf(x->x1, y->x1);
			float h = fminf(x->y2, y->y2) - fmaxf(x->y1, y->y1);
			float inter, ax, ay;

			if (!kept[order[j]])
				continue;
			w = w < 0 ? 0 : w;
			h = h < 0 ? 0 : h;
			inter = w * h;
			ay = (y->x2 - y->x1) * (y->y2 - y->y1);
			ax = (x->x2 - x->x1) * (x->y2 - x->y1);
			keep = !(inter / ((ay + ax) - inter) > thresh);
		}
		kept[order[i]] = (uint8_t)keep;
	}
}

static void test_nms_random(void)
{
	enum { N = 64, CATS = 3 };
	struct stp_box b[N];
	float score[N];
	int cat[N];
	uint32_t order[N], keep[N], ref[N], scratch[9 * N], tmp[N];
	uint8_t flags[N], kept[N], all[N];
	float coords[5 * N];

	for (int trial = 0; trial < 200; trial++) {
		/* boxes on a 2-pixel grid and 8 score levels: IoUs exactly at
		 * 0.5 and many equal scores */
		const size_t n = 1 + next() % N;
		const float thresh = trial % 2 ? 0.5f : 0.3f;
		size_t got, want = 0;

		for (size_t i = 0; i < n; i++) {
			const float x = (float)(next() % 8 * 2), y = (float)(next() % 8 * 2);

			b[i] = (struct stp_box){x, y, x + (float)(1 + next() % 4 * 2),
						y + (float)(1 + next() % 4 * 2)};
			score[i] = (float)(next() % 8) / 8.0f;
			cat[i] = 0;
			order[i] = (uint32_t)i;
		}
		stp_sort_desc_f32(score, order, n, tmp);
		got = stp_nms_sorted(b, order, n, thresh, keep, flags, coords);
		naive_nms(b, score, cat, 0, n, thresh, kept);
		naive_order(score, order, n);
		for (size_t i = 0; i < n; i++)
			if (kept[order[i]])
				ref[want++] = order[i];
		CHECK(got == want && memcmp(keep, ref, got * sizeof(*keep)) == 0,
		      "NMS against the naive one, trial %d: %zu kept, want %zu", trial, got, want);
		for (size_t i = 0; i < n; i++)
			cat[i] = (int)(next() % CATS);
		memset(all, 0, sizeof(all));
		for (int c = 0; c < CATS; c++) {
			naive_nms(b, score, cat, c, n, thresh, kept);
			for (size_t i = 0; i < n; i++)
				all[i] |= kept[i];
		}
		want = 0;
		for (size_t i = 0; i < n; i++)
			if (all[order[i]])
				ref[want++] = order[i];
		got = stp_batched_nms(b, score, cat, n, CATS, thresh, keep, scratch, flags);
		CHECK(got == want && memcmp(keep, ref, got * sizeof(*keep)) == 0,
		      "NMS per category against the naive one, trial %d: %zu kept, want %zu", trial,
		      got, want);
	}
}

static void test_levels(void)
{
	const struct stp_box at224 = {0, 0, 224, 224}, at112 = {0, 0, 112, 112};
	const struct stp_box tiny = {0, 0, 1, 1}, huge = {0, 0, 5000, 5000}, flat = {3, 3, 9, 3};
	const struct stp_box below = {0, 0, 223.9f, 223.9f};

	CHECK(stp_roi_level(&at224, 224, 4, 1e-6f, 2, 5) == 4, "224 px: level 4");
	CHECK(stp_roi_level(&at112, 224, 4, 1e-6f, 2, 5) == 3, "112 px: level 3");
	CHECK(stp_roi_level(&below, 224, 4, 1e-6f, 2, 5) == 3, "just under 224: level 3");
	CHECK(stp_roi_level(&tiny, 224, 4, 1e-6f, 2, 5) == 2, "clamped to the finest");
	CHECK(stp_roi_level(&huge, 224, 4, 1e-6f, 2, 5) == 5, "clamped to the coarsest");
	CHECK(stp_roi_level(&flat, 224, 4, 1e-6f, 2, 5) == 2, "zero area: the finest");
	{
		/* side 224 * 2^-0.3: 3.7 before eps, which is added before the floor */
		const struct stp_box mid = {0, 0, 181.9708f, 181.9708f};

		CHECK(stp_roi_level(&mid, 224, 4, 0.25f, 2, 5) == 3 &&
		      stp_roi_level(&mid, 224, 4, 0.35f, 2, 5) == 4, "eps moves 3.7 over 4");
	}
}

/* RoIAlign by the formula, in double. */
static double naive_roi(const float *f, int h, int w, int c, const struct stp_box *b,
			double scale, int p, int g, int aligned, int py, int px, int ch)
{
	const double off = aligned ? 0.5 : 0;
	const double sx = b->x1 * scale - off, sy = b->y1 * scale - off;
	double rw = b->x2 * scale - off - sx, rh = b->y2 * scale - off - sy, sum = 0;

	if (!aligned) {
		rw = fmax(rw, 1);
		rh = fmax(rh, 1);
	}
	for (int iy = 0; iy < g; iy++)
		for (int ix = 0; ix < g; ix++) {
			double y = sy + py * rh / p + (iy + 0.5) * rh / p / g;
			double x = sx + px * rw / p + (ix + 0.5) * rw / p / g;
			int y0, x0, y1, x1;

			if (y < -1 || y > h || x < -1 || x > w)
				continue;
			y = fmax(y, 0);
			x = fmax(x, 0);
			y0 = (int)y;
			x0 = (int)x;
			if (y0 >= h - 1)
				y = y0 = y1 = h - 1;
			else
				y1 = y0 + 1;
			if (x0 >= w - 1)
				x = x0 = x1 = w - 1;
			else
				x1 = x0 + 1;
#define F(yy, xx) ((double)f[((size_t)(yy) * w + (xx)) * c + ch])
			sum += (1 - (y - y0)) * (1 - (x - x0)) * F(y0, x0) +
			       (1 - (y - y0)) * (x - x0) * F(y0, x1) +
			       (y - y0) * (1 - (x - x0)) * F(y1, x0) + (y - y0) * (x - x0) * F(y1, x1);
#undef F
		}
	return sum / (g * g);
}

static void test_roi_align(void)
{
	enum { H = 13, W = 17, C = 5, P = 3 };
	static float f[H * W * C], out[P * P * C], acc[C];
	const struct stp_tensor t = {f, H, W, C, C};
	const struct stp_box boxes[] = {
		{8, 6, 40, 30},       /* inside */
		{-20, -12, 10, 9},    /* past the top-left: samples below -1 count 0 */
		{50, 30, 80, 70},     /* past the bottom-right: the last-pixel rule */
		{16, 16, 16.5f, 17},  /* smaller than a feature pixel */
		{0, 0, 68, 52},       /* the whole map */
	};
	double worst = 0;

	for (int i = 0; i < H * W * C; i++)
		f[i] = (float)(next() % 2001) / 1000.0f - 1.0f;
	for (size_t b = 0; b < sizeof(boxes) / sizeof(boxes[0]); b++)
		for (int aligned = 0; aligned < 2; aligned++)
			for (int g = 1; g <= 2; g++) {
				stp_roi_align(&t, &boxes[b], 0.25f, P, g, aligned, out, acc);
				for (int py = 0; py < P; py++)
					for (int px = 0; px < P; px++)
						for (int ch = 0; ch < C; ch++)
							worst = fmax(worst, fabs(out[(py * P + px) * C + ch] -
										 naive_roi(f, H, W, C, &boxes[b], 0.25, P,
											   g, aligned, py, px, ch)));
			}
	CHECK(worst < 1e-5, "RoIAlign against the formula in double: worst %g", worst);
	{
		const struct stp_box outside = {400, 400, 500, 500};

		stp_roi_align(&t, &outside, 0.25f, P, 2, 0, out, acc);
		CHECK(out[0] == 0 && out[P * P * C - 1] == 0, "a box beyond the map pools zeros");
	}
}

/* One sample (P = 1, g = 1, scale 1) of a 2 x 3 map at exactly known
 * places: each border rule gives a value computed by hand. */
static void test_roi_align_borders(void)
{
	/* f(y, x) = 10 y + x, channel 1 its negation */
	static const float f[2 * 3 * 2] = {0, 0, 1, -1, 2, -2, 10, -10, 11, -11, 12, -12};
	const struct stp_tensor t = {(float *)f, 2, 3, 2, 2};
	static const struct {
		struct stp_box box;   /* 1 x 1: its sample is at its centre */
		int aligned;
		float want;
		const char *what;
	} cases[] = {
		{{0.5f, 0.25f, 1.5f, 1.25f}, 0, 8.5f, "(x 1, y 0.75): 0.25 f(0,1) + 0.75 f(1,1)"},
		{{0.5f, 1.25f, 1.5f, 2.25f}, 0, 11, "y 1.75 >= H - 1: the last row"},
		{{0.5f, 1.5f, 1.5f, 2.5f}, 0, 11, "y = H: still sampled, the last row"},
		{{0.5f, 1.75f, 1.5f, 2.75f}, 0, 0, "y > H: 0"},
		{{0.5f, -1, 1.5f, 0}, 0, 1, "y -0.5 clamps to 0"},
		{{0.5f, -1.5f, 1.5f, -0.5f}, 0, 1, "y = -1: still sampled, row 0"},
		{{0.5f, -1.75f, 1.5f, -0.75f}, 0, 0, "y < -1: 0"},
		{{2, 0.25f, 3, 1.25f}, 0, 9.5f, "x 2.5 >= W - 1: the last column"},
		{{1, 0, 1, 0}, 0, 6.5f, "an empty box grows to 1 x 1: sample (1.5, 0.5)"},
		{{1, 0, 1, 0}, 1, 0.5f, "aligned, empty: sample (0.5, -0.5 -> 0)"},
	};
	float out[2], acc[2];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		stp_roi_align(&t, &cases[i].box, 1.0f, 1, 1, cases[i].aligned, out, acc);
		CHECK(out[0] == cases[i].want && out[1] == -cases[i].want, "%s: %g %g, want %g",
		      cases[i].what, out[0], out[1], cases[i].want);
	}
}

int main(void)
{
	test_sort_topk();
	test_anchors();
	test_decode_clip();
	test_nms();
	test_nms_random();
	test_levels();
	test_roi_align();
	test_roi_align_borders();
	return test_main_end();
}
