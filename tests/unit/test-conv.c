/*
 * test-conv.c - stp_conv against a naive direct convolution, at every ISA
 * level the CPU supports, on 1 and 2 threads.
 *
 * Sweeps channel tails (1, 3, 17, 65, 130 channels against the kernels'
 * 16/64 blocks), 1x1/3x3/5x5/7x7 kernels, stride 1/2, dilation 2, padding,
 * odd image sizes, groups (grouped and depthwise), 1..4 output channels
 * (the dot-product path), fused residual, ReLU and LeakyReLU,
 * channel-sliced tensors (c_stride > c), and pixel lists (sparse subsets:
 * listed pixels equal the dense result, unlisted ones stay untouched).
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "ops/conv.h"
#include "base/threadpool.h"
#include "testutil.h"

#define SENTINEL 12345.0f

static unsigned long long rng = 0x9E3779B97F4A7C15ull;

static void fill(float *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = test_randf(&rng);
}

/* Naive reference in double: out[oy][ox][o]. */
static void conv_ref(const struct stp_conv_desc *d, const float *in, int ih, int iw,
		     const float *w, const float *bias, const float *res, float *out,
		     int oh, int ow)
{
	const int cin_g = d->cin / d->groups, cout_g = d->cout / d->groups;
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int o = 0; o < d->cout; o++) {
				const int g = o / cout_g;
				double acc = bias ? bias[o] : 0.0;
				for (int i = 0; i < cin_g; i++)
					for (int ky = 0; ky < d->kh; ky++)
						for (int kx = 0; kx < d->kw; kx++) {
							int iy = oy * d->sh - d->ph + ky * d->dh;
							int ix = ox * d->sw - d->pw + kx * d->dw;
							if (iy < 0 || iy >= ih || ix < 0 || ix >= iw)
								continue;
							acc += (double)in[((size_t)iy * iw + ix) * d->cin + g * cin_g + i] *
							       w[(((size_t)o * cin_g + i) * d->kh + ky) * d->kw + kx];
						}
				size_t idx = ((size_t)oy * ow + ox) * d->cout + o;
				if (res)
					acc += res[idx];
				if (d->relu && acc < 0)
					acc *= d->slope;
				out[idx] = (float)acc;
			}
}

struct conv_case {
	int cin, cout, groups, k, s, p, dil, h, w;
	int relu;       /* 0 none, 1 ReLU, 2 LeakyReLU with slope 0.1 */
	int residual;
};

/* tables: 0 runs the conv without tile tables (one tile at a time from
 * the stack), else with tables sized by stp_conv_table_bytes(). */
static void run_case(const struct conv_case *cc, const struct stp_kernels *kernels,
		     struct stp_threadpool *pool, int sparse, int slice, int tables)
{
	struct stp_conv_desc d = {cc->cin, cc->cout, cc->groups, cc->k, cc->k, cc->s, cc->s,
				  cc->p, cc->p, cc->dil, cc->dil, cc->relu != 0,
				  cc->relu == 2 ? 0.1f : 0.0f};
	struct stp_conv *conv = NULL;
	int oh, ow;
	const int pad_c = slice ? 5 : 0; /* extra floats per pixel: a channel slice */

	if (!stp_conv_output_size(&d, cc->h, cc->w, &oh, &ow))
		HARNESS_ERROR("empty output");
	size_t wn = (size_t)cc->cout * (cc->cin / cc->groups) * cc->k * cc->k;
	size_t in_n = (size_t)cc->h * cc->w * cc->cin, out_n = (size_t)oh * ow * cc->cout;
	float *w = malloc(wn * sizeof(float)), *bias = malloc(cc->cout * sizeof(float));
	float *in = malloc(in_n * sizeof(float)), *res = malloc(out_n * sizeof(float));
	float *ref = malloc(out_n * sizeof(float));
	int in_stride = cc->cin + pad_c, out_stride = cc->cout + pad_c;
	float *in_buf = calloc((size_t)cc->h * cc->w * in_stride, sizeof(float));
	float *out_buf = malloc((size_t)oh * ow * out_stride * sizeof(float));
	float *res_buf = calloc((size_t)oh * ow * out_stride, sizeof(float));
	int32_t *list = malloc((size_t)oh * ow * sizeof(int32_t));
	fill(w, wn);
	fill(bias, cc->cout);
	fill(in, in_n);
	fill(res, out_n);
	for (size_t px = 0; px < (size_t)cc->h * cc->w; px++)
		memcpy(in_buf + px * in_stride, in + px * cc->cin, cc->cin * sizeof(float));
	for (size_t px = 0; px < (size_t)oh * ow; px++)
		memcpy(res_buf + px * out_stride, res + px * cc->cout, cc->cout * sizeof(float));
	for (size_t i = 0; i < (size_t)oh * ow * out_stride; i++)
		out_buf[i] = SENTINEL;
	conv_ref(&d, in, cc->h, cc->w, w, bias, cc->residual ? res : NULL, ref, oh, ow);

	size_t nlist = 0;
	if (sparse) /* a pseudo-random half, always including the last pixel */
		for (int px = 0; px < oh * ow; px++)
			if ((rng = rng * 6364136223846793005ull + 1442695040888963407ull) >> 63 ||
			    px == oh * ow - 1)
				list[nlist++] = px;

	enum stp_status st = stp_conv_create(&d, w, bias, kernels, &conv);
	CHECK(st == STP_OK, "create: %s", stp_status_str(st));
	if (st == STP_OK) {
		size_t zn = stp_conv_zero_floats(conv);
		float *zero = calloc(zn + 64, sizeof(float));
		const size_t table_bytes = tables ? (size_t)stp_threadpool_threads(pool) *
							    stp_conv_table_bytes(conv) + 64 : 0;
		void *table = tables ? malloc(table_bytes) : NULL;
		const struct stp_conv_scratch scratch = {zero, table, table_bytes};
		struct stp_tensor tin = {in_buf, cc->h, cc->w, cc->cin, in_stride};
		struct stp_tensor tout = {out_buf, oh, ow, cc->cout, out_stride};
		struct stp_tensor tres = {res_buf, oh, ow, cc->cout, out_stride};
		stp_conv_run(conv, &tin, &tout, cc->residual ? &tres : NULL,
			     sparse ? list : NULL, nlist, &scratch, pool);
		double max_err = 0;
		int untouched_ok = 1, listed = 0;
		size_t li = 0;
		for (int px = 0; px < oh * ow; px++) {
			int on = !sparse || (li < nlist && list[li] == px);
			if (on)
				li++;
			for (int o = 0; o < cc->cout; o++) {
				float got = out_buf[(size_t)px * out_stride + o];
				float want = ref[(size_t)px * cc->cout + o];
				if (on) {
					double e = fabs((double)got - want) / (1.0 + fabs(want));
					if (e > max_err)
						max_err = e;
					listed++;
				} else if (got != SENTINEL) {
					untouched_ok = 0;
				}
			}
			for (int o = cc->cout; o < out_stride; o++)
				if (out_buf[(size_t)px * out_stride + o] != SENTINEL)
					untouched_ok = 0;
		}
		/* FP32 summation error grows with the number of terms per output. */
		double tol = 2e-6 * sqrt((double)(cc->cin / cc->groups) * cc->k * cc->k);
		CHECK(max_err < tol && untouched_ok && listed > 0,
		      "%s cin=%d cout=%d g=%d k=%d s=%d p=%d d=%d %dx%d relu=%d res=%d sparse=%d slice=%d threads=%d: "
		      "max err %.3g, untouched %d",
		      stp_isa_name(kernels->isa), cc->cin, cc->cout, cc->groups, cc->k, cc->s, cc->p,
		      cc->dil, cc->h, cc->w, cc->relu, cc->residual, sparse, slice,
		      stp_threadpool_threads(pool), max_err, untouched_ok);
		free(zero);
		free(table);
	}
	stp_conv_destroy(conv);
	free(w); free(bias); free(in); free(res); free(ref);
	free(in_buf); free(out_buf); free(res_buf); free(list);
}

static const struct conv_case cases[] = {
	/* cin cout g  k  s  p  d   h   w relu res */
	{ 1,   1, 1, 1, 1, 0, 1,  1,  1, 0, 0},
	{ 3,  64, 1, 7, 2, 3, 1, 23, 19, 1, 0},   /* ResNet stem shape */
	{16,  16, 1, 3, 1, 1, 1,  7,  9, 1, 0},
	{17,  65, 1, 3, 1, 1, 1,  5, 11, 0, 1},   /* tails everywhere */
	{64,  64, 1, 3, 2, 1, 1, 13, 17, 1, 0},
	{64, 256, 1, 1, 1, 0, 1,  9,  7, 1, 1},   /* bottleneck conv3 + residual */
	{65, 130, 1, 1, 2, 0, 1, 10,  9, 0, 0},   /* downsample-like */
	{32,  48, 1, 3, 1, 2, 2, 11, 12, 1, 0},   /* dilation 2 */
	{ 8,  24, 1, 5, 1, 2, 1,  6,  6, 0, 1},
	{24,  36, 3, 3, 1, 1, 1,  7,  5, 1, 0},   /* grouped */
	{64,  64, 2, 1, 1, 0, 1,  4,  6, 0, 0},   /* grouped 1x1 */
	{32,  32, 32, 3, 1, 1, 1,  9,  8, 1, 1},  /* depthwise */
	{19,  19, 19, 3, 2, 1, 1, 10,  7, 0, 0},  /* depthwise stride 2, odd channels */
	{ 5,   7, 1, 3, 1, 0, 1,  3,  3, 0, 0},   /* one output pixel */
	{128, 64, 1, 3, 1, 1, 1,  3, 40, 1, 0},
	/* 1..4 output channels: the dot-product path (mask logits) */
	{256,  2, 1, 3, 1, 1, 1,  9, 11, 0, 0},
	{256,  1, 1, 3, 2, 1, 1, 12,  9, 0, 0},
	{17,   3, 1, 3, 1, 1, 1,  7,  6, 1, 1},
	{64,   4, 1, 1, 1, 0, 1,  5,  5, 0, 1},
	{ 5,   2, 1, 7, 2, 3, 2, 13, 14, 1, 0},
	{32,   2, 1, 3, 1, 1, 1, 12, 40, 0, 1},   /* wide rows: whole tiles inside */
	{24,   3, 1, 3, 2, 1, 1, 11, 45, 1, 0},
	/* output over 16 MiB: the streaming-store path */
	{ 4, 256, 1, 1, 1, 0, 1, 130, 131, 1, 1},
	/* few input channels: row patches at even indices (dense pixels), the
	 * same shapes tap by tap at odd ones (a channel slice) */
	{ 3,  64, 1, 7, 2, 3, 1, 23, 19, 1, 1},
	{ 3,  64, 1, 7, 2, 3, 1, 23, 19, 1, 1},
	{ 6,  70, 1, 5, 1, 2, 1,  9,  7, 1, 0},
	{ 6,  70, 1, 5, 1, 2, 1,  9,  7, 1, 0},
	{ 3,  16, 1, 7, 1, 3, 1,  3,  2, 0, 1},   /* narrower than the kernel */
	{ 3,  16, 1, 7, 1, 3, 1,  3,  2, 0, 1},
	/* LeakyReLU fused into the store: IGEMM full and tail blocks, with and
	 * without a residual, the stem's row patches, dot-product, depthwise */
	{64, 128, 1, 3, 2, 1, 1, 11, 13, 2, 0},
	{17,  65, 1, 3, 1, 1, 1,  5, 11, 2, 1},
	{ 3,  32, 1, 3, 2, 1, 1, 17, 15, 2, 0},
	{ 3,  32, 1, 3, 2, 1, 1, 17, 15, 2, 0},
	{32,   3, 1, 3, 1, 1, 1,  9, 10, 2, 1},
	{16,  16, 16, 3, 1, 1, 1,  7,  6, 2, 0},
};

int main(void)
{
	enum stp_isa levels[] = {STP_ISA_SCALAR, STP_ISA_AVX2, STP_ISA_AVX512};
	int supported[] = {1, stp_cpu_has_avx2_fma(), stp_cpu_has_avx512f()};

	for (int threads = 1; threads <= 2; threads++) {
		struct stp_threadpool *pool;
		if (stp_threadpool_create(threads, &pool) != STP_OK)
			HARNESS_ERROR("thread pool");
		for (int l = 0; l < 3; l++) {
			if (!supported[l])
				continue;
			const struct stp_kernels *k = stp_kernels_for(levels[l]);
			CHECK(k->isa == levels[l], "kernel table for %s", stp_isa_name(levels[l]));
			for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
				for (int sparse = 0; sparse <= 1; sparse++)
					run_case(&cases[i], k, pool, sparse, (int)(i % 2),
						 (int)((i + (size_t)sparse) % 3 != 0));
		}
		stp_threadpool_destroy(pool);
	}
	return test_main_end();
}
