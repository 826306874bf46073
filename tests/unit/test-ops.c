/*
 * test-ops.c - max pool, nearest and bilinear resize, add and global average
 * pool against naive references written plainly below.
 *
 * Every case runs on a 1-thread and a 2-thread pool, over channel counts
 * around the vector widths, odd image sizes, and both dense tensors and
 * channel slices of wider buffers (c_stride > c), where the floats between
 * slices and a guard after the buffer must stay untouched. Max pool,
 * nearest and add must match bit for bit; bilinear and GAP to 1e-6.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/ops.h"
#include "testutil.h"

#define GUARD 16               /* sentinel floats after every buffer */
#define SENTINEL_IN -777.25f   /* padding of inputs ... */
#define SENTINEL_OUT 12345.678f /* ... and of outputs, so copied padding shows */

static const int channels[] = {1, 3, 16, 17, 64, 65};
static const int sizes[][2] = {{1, 1}, {1, 7}, {5, 3}, {13, 17}, {33, 40}};
#define NCHANNELS (int)(sizeof(channels) / sizeof(channels[0]))
#define NSIZES (int)(sizeof(sizes) / sizeof(sizes[0]))

static unsigned long long rng = 0x9e3779b97f4a7c15ULL;

/* A tensor in its own buffer. fill: an input, random channel data and
 * padding and guard set to SENTINEL_IN; else an output, all SENTINEL_OUT.
 * Harness errors exit. */
static struct stp_tensor tensor_new(int h, int w, int c, int c_stride, int fill)
{
	struct stp_tensor t = {NULL, h, w, c, c_stride};
	const size_t n = (size_t)h * w * c_stride + GUARD;
	const float sentinel = fill ? SENTINEL_IN : SENTINEL_OUT;

	t.data = malloc(n * sizeof(float));
	if (!t.data)
		HARNESS_ERROR("out of memory");
	for (size_t i = 0; i < n; i++)
		t.data[i] = sentinel;
	for (size_t p = 0; fill && p < (size_t)h * w; p++)
		for (int ch = 0; ch < c; ch++)
			t.data[p * c_stride + ch] = test_randf(&rng);
	return t;
}

static float at(const struct stp_tensor *t, int y, int x, int ch)
{
	return t->data[((size_t)y * t->w + x) * t->c_stride + ch];
}

/* Copies the channel data of t into a dense h*w*c array. */
static float *dense_copy(const struct stp_tensor *t)
{
	float *d = malloc((size_t)t->h * t->w * t->c * sizeof(float) + 1);
	if (!d)
		HARNESS_ERROR("out of memory");
	for (int y = 0; y < t->h; y++)
		for (int x = 0; x < t->w; x++)
			for (int ch = 0; ch < t->c; ch++)
				d[((size_t)y * t->w + x) * t->c + ch] = at(t, y, x, ch);
	return d;
}

/* 1 when every padding and guard float of t still holds s. */
static int padding_intact(const struct stp_tensor *t, float s)
{
	const size_t npix = (size_t)t->h * t->w;

	for (size_t p = 0; p < npix; p++)
		for (int ch = t->c; ch < t->c_stride; ch++)
			if (memcmp(&t->data[p * t->c_stride + ch], &s, sizeof(s)))
				return 0;
	for (size_t i = 0; i < GUARD; i++)
		if (memcmp(&t->data[npix * t->c_stride + i], &s, sizeof(s)))
			return 0;
	return 1;
}

/* Largest |got - want| / max(|want|, 1) over the dense arrays. */
static double max_rel_err(const float *got, const float *want, size_t n)
{
	double worst = 0;
	for (size_t i = 0; i < n; i++) {
		const double d = fabs((double)got[i] - want[i]) / fmax(fabs(want[i]), 1.0);
		if (!(d <= worst))
			worst = d;
	}
	return worst;
}

/* ---- references ---------------------------------------------------------- */

/* PyTorch max_pool2d: out-of-image taps ignored, ties keep the first. */
static void ref_maxpool(const struct stp_tensor *in, float *out, int oh, int ow,
			int k, int s, int p)
{
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int ch = 0; ch < in->c; ch++) {
				float m = -INFINITY;
				for (int ky = 0; ky < k; ky++)
					for (int kx = 0; kx < k; kx++) {
						int iy = oy * s - p + ky, ix = ox * s - p + kx;
						if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w)
							continue;
						float v = at(in, iy, ix, ch);
						if (v > m)
							m = v;
					}
				out[((size_t)oy * ow + ox) * in->c + ch] = m;
			}
}

/* PyTorch nearest: scale = (float)in / out, src = floor(dst * scale) in float. */
static int ref_nearest_index(int dst, int in, int out)
{
	float scale = (float)in / (float)out;
	int src = (int)floorf((float)dst * scale);
	return src < in - 1 ? src : in - 1;
}

static void ref_nearest(const struct stp_tensor *in, float *out, int oh, int ow)
{
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int ch = 0; ch < in->c; ch++)
				out[((size_t)oy * ow + ox) * in->c + ch] =
					at(in, ref_nearest_index(oy, in->h, oh),
					   ref_nearest_index(ox, in->w, ow), ch);
}

/* align_corners=False: src = (dst + 0.5) * scale - 0.5, clamped at 0. As in
 * PyTorch, scale = (float)in / out, rounded to float, and src is evaluated
 * in double (an exact in/out, or src rounded to float, moves src by up to
 * ~1e-5 pixel and the result by more than the tolerance). */
static void ref_linear_index(int dst, int in, int out, int *i0, int *i1, double *l)
{
	float scale = (float)in / (float)out;
	double src = ((double)dst + 0.5) * scale - 0.5;
	if (src < 0)
		src = 0;
	*i0 = (int)floor(src);
	*i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
	*l = src - *i0;
}

static void ref_bilinear(const struct stp_tensor *in, float *out, int oh, int ow)
{
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++) {
			int y0, y1, x0, x1;
			double ly, lx;
			ref_linear_index(oy, in->h, oh, &y0, &y1, &ly);
			ref_linear_index(ox, in->w, ow, &x0, &x1, &lx);
			for (int ch = 0; ch < in->c; ch++) {
				double v = (1 - ly) * (1 - lx) * at(in, y0, x0, ch) +
					   (1 - ly) * lx * at(in, y0, x1, ch) +
					   ly * (1 - lx) * at(in, y1, x0, ch) +
					   ly * lx * at(in, y1, x1, ch);
				out[((size_t)oy * ow + ox) * in->c + ch] = (float)v;
			}
		}
}

/* ---- cases --------------------------------------------------------------- */

static void check_maxpool(struct stp_threadpool *pool, int h, int w, int c, int pad,
			  int k, int s, int p)
{
	const int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
	struct stp_tensor in = tensor_new(h, w, c, c + pad, 1);
	struct stp_tensor out = tensor_new(oh, ow, c, c + 2 * pad, 0);
	float *want = malloc((size_t)oh * ow * c * sizeof(float)), *got;

	if (!want)
		HARNESS_ERROR("out of memory");
	ref_maxpool(&in, want, oh, ow, k, s, p);
	stp_maxpool2d(&in, &out, k, s, p, pool);
	got = dense_copy(&out);
	CHECK(!memcmp(got, want, (size_t)oh * ow * c * sizeof(float)),
	      "maxpool %dx%dx%d pad %d k%d s%d p%d threads %d: mismatch",
	      h, w, c, pad, k, s, p, stp_threadpool_threads(pool));
	CHECK(padding_intact(&out, SENTINEL_OUT) && padding_intact(&in, SENTINEL_IN),
	      "maxpool %dx%dx%d pad %d: padding written", h, w, c, pad);
	free(got);
	free(want);
	free(out.data);
	free(in.data);
}

static void check_resize(struct stp_threadpool *pool, int h, int w, int oh, int ow,
			 int c, int pad, int bilinear)
{
	struct stp_tensor in = tensor_new(h, w, c, c + pad, 1);
	struct stp_tensor out = tensor_new(oh, ow, c, c + 2 * pad, 0);
	const size_t n = (size_t)oh * ow * c;
	float *want = malloc(n * sizeof(float)), *got;

	if (!want)
		HARNESS_ERROR("out of memory");
	if (bilinear) {
		ref_bilinear(&in, want, oh, ow);
		stp_resize_bilinear(&in, &out, pool);
	} else {
		ref_nearest(&in, want, oh, ow);
		stp_resize_nearest(&in, &out, pool);
	}
	got = dense_copy(&out);
	if (bilinear) {
		double err = max_rel_err(got, want, n);
		CHECK(err <= 1e-6, "bilinear %dx%d->%dx%d c%d pad %d threads %d: err %g",
		      h, w, oh, ow, c, pad, stp_threadpool_threads(pool), err);
	} else {
		CHECK(!memcmp(got, want, n * sizeof(float)),
		      "nearest %dx%d->%dx%d c%d pad %d threads %d: mismatch",
		      h, w, oh, ow, c, pad, stp_threadpool_threads(pool));
	}
	CHECK(padding_intact(&out, SENTINEL_OUT) && padding_intact(&in, SENTINEL_IN),
	      "resize %dx%d->%dx%d c%d pad %d: padding written", h, w, oh, ow, c, pad);
	free(got);
	free(want);
	free(out.data);
	free(in.data);
}

enum { ALIAS_NONE, ALIAS_A, ALIAS_B };

static void check_add(struct stp_threadpool *pool, int h, int w, int c, int pad,
		      int relu, int alias)
{
	struct stp_tensor a = tensor_new(h, w, c, c + pad, 1);
	struct stp_tensor b = tensor_new(h, w, c, c + 2 * pad, 1);
	struct stp_tensor out = tensor_new(h, w, c, c + 3 * pad, 0);
	struct stp_tensor *dst = alias == ALIAS_A ? &a : alias == ALIAS_B ? &b : &out;
	const size_t n = (size_t)h * w * c;
	float *da = dense_copy(&a), *db = dense_copy(&b), *got;

	for (size_t i = 0; i < n; i++) {
		da[i] = da[i] + db[i];
		if (relu && !(da[i] > 0.0f))
			da[i] = 0.0f;
	}
	stp_add(&a, &b, dst, relu, pool);
	got = dense_copy(dst);
	CHECK(!memcmp(got, da, n * sizeof(float)),
	      "add %dx%dx%d pad %d relu %d alias %d threads %d: mismatch",
	      h, w, c, pad, relu, alias, stp_threadpool_threads(pool));
	CHECK(padding_intact(&a, SENTINEL_IN) && padding_intact(&b, SENTINEL_IN) &&
	      padding_intact(&out, SENTINEL_OUT),
	      "add %dx%dx%d pad %d alias %d: padding written", h, w, c, pad, alias);
	free(got);
	free(db);
	free(da);
	free(out.data);
	free(b.data);
	free(a.data);
}

static void check_gap(struct stp_threadpool *pool, int h, int w, int c, int pad)
{
	struct stp_tensor in = tensor_new(h, w, c, c + pad, 1);
	struct stp_tensor out = tensor_new(1, 1, c, c + pad, 0);
	float *want = malloc((size_t)c * sizeof(float)), *got;

	if (!want)
		HARNESS_ERROR("out of memory");
	/* Non-negative, as after a ReLU, so that the mean is far from 0 and the
	 * relative error measures the accumulation. */
	for (size_t i = 0; i < (size_t)h * w * in.c_stride; i++)
		if (i % in.c_stride < (size_t)c)
			in.data[i] = fabsf(in.data[i]);
	for (int ch = 0; ch < c; ch++) {
		double sum = 0;
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
				sum += at(&in, y, x, ch);
		want[ch] = (float)(sum / ((double)h * w));
	}
	stp_global_avgpool(&in, &out, pool);
	got = dense_copy(&out);
	double err = max_rel_err(got, want, (size_t)c);
	CHECK(err <= 1e-6, "gap %dx%dx%d pad %d threads %d: err %g",
	      h, w, c, pad, stp_threadpool_threads(pool), err);
	CHECK(padding_intact(&out, SENTINEL_OUT), "gap %dx%dx%d pad %d: padding written", h, w, c, pad);
	free(got);
	free(want);
	free(out.data);
	free(in.data);
}

static const int pool_params[][3] = {{3, 2, 1}, {1, 2, 0}, {2, 2, 0}, {3, 1, 1}};

/* Output sizes per input size: up, down, fractional and identity ratios.
 * 2->50 and 6->38 (some dst * scale rounds up to an integer in float but
 * not in double) and 2->82, 3->123 (float rounds below the exact quotient)
 * pin PyTorch's float arithmetic for nearest. */
static const int resize_pairs[][4] = {
	{1, 1, 1, 1}, {1, 1, 3, 2}, {1, 7, 2, 14}, {1, 7, 1, 3}, {5, 3, 10, 6},
	{5, 3, 9, 5}, {5, 3, 2, 1}, {13, 17, 25, 33}, {13, 17, 7, 9}, {13, 17, 13, 17},
	{25, 13, 50, 25}, {7, 13, 13, 25}, {50, 25, 25, 13}, {33, 40, 17, 20},
	{33, 40, 16, 21}, {33, 40, 66, 80}, {3, 5, 11, 7}, {2, 2, 50, 82},
	{6, 3, 38, 123},
};

static void run_all(struct stp_threadpool *pool)
{
	const int npairs = (int)(sizeof(resize_pairs) / sizeof(resize_pairs[0]));

	for (int ci = 0; ci < NCHANNELS; ci++) {
		const int c = channels[ci];
		for (int pad = 0; pad <= 3; pad += 3) {
			for (int si = 0; si < NSIZES; si++) {
				const int h = sizes[si][0], w = sizes[si][1];
				for (int pi = 0; pi < 4; pi++) {
					const int k = pool_params[pi][0], s = pool_params[pi][1],
						  p = pool_params[pi][2];
					if (h + 2 * p >= k && w + 2 * p >= k)
						check_maxpool(pool, h, w, c, pad, k, s, p);
				}
				for (int relu = 0; relu <= 1; relu++)
					for (int alias = ALIAS_NONE; alias <= ALIAS_B; alias++)
						check_add(pool, h, w, c, pad, relu, alias);
				check_gap(pool, h, w, c, pad);
			}
			for (int ri = 0; ri < npairs; ri++)
				for (int bl = 0; bl <= 1; bl++)
					check_resize(pool, resize_pairs[ri][0], resize_pairs[ri][1],
						     resize_pairs[ri][2], resize_pairs[ri][3], c, pad, bl);
		}
	}
	/* A large map (double accumulation matters) and many channel blocks. */
	check_gap(pool, 100, 120, 129, 0);
	check_gap(pool, 7, 7, 2048, 0);
	/* ResNet's stem pool and FPN's 2x upsample at real widths. */
	check_maxpool(pool, 100, 100, 64, 0, 3, 2, 1);
	check_resize(pool, 25, 34, 50, 68, 256, 0, 0);
	check_add(pool, 50, 68, 256, 0, 1, ALIAS_A);
}

int main(void)
{
	for (int threads = 1; threads <= 2; threads++) {
		struct stp_threadpool *pool;
		if (stp_threadpool_create(threads, &pool) != STP_OK)
			HARNESS_ERROR("cannot create a %d-thread pool", threads);
		run_all(pool);
		stp_threadpool_destroy(pool);
	}
	return test_main_end();
}
