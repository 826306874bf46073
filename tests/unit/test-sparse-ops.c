/*
 * test-sparse-ops.c - the sparse engine's building blocks against naive
 * references: mask sampling (grid prior, deterministic and seeded
 * stochastic modes, noise statistics) and interpolation plans (the module's
 * formula evaluated densely, with grid-only, all-one, single-cell, random
 * and blocky masks, odd sizes, RBF and arbitrary kernels, fused epilogue;
 * an output large enough to be written with streaming stores), and the
 * GATHER kernels' streaming stores against their plain ones.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "sparse/interp.h"
#include "sparse/mask.h"
#include "sparse-ref.h"
#include "testutil.h"

static unsigned long long rng = 0x2545F4914F6CDD1Dull;

static void test_mask_sampling(void)
{
	const int h = 23, w = 31, grid = 5;
	float logits[23 * 31 * 2];
	uint8_t mask[23 * 31];
	int32_t list[23 * 31];
	for (int i = 0; i < h * w * 2; i++)
		logits[i] = test_randf(&rng) * 3.0f;

	size_t n = stp_mask_sample(logits + 1, 2, h, w, grid, STP_SAMPLE_DETERMINISTIC, 0, 0,
				   mask, list);
	size_t count = 0;
	int ok = 1;
	for (int p = 0; p < h * w; p++) {
		int y = p / w, x = p % w;
		int want = logits[p * 2 + 1] >= 0.0f || (y % grid == 0 && x % grid == 0);
		ok &= mask[p] == want;
		if (want)
			ok &= (count < n && list[count++] == p);
	}
	CHECK(ok && count == n, "deterministic mask = logit >= 0 OR grid, listed in order");

	/* Logits at -inf still sample exactly the grid. */
	for (int i = 0; i < h * w; i++)
		logits[i] = -1e30f;
	n = stp_mask_sample(logits, 1, h, w, grid, STP_SAMPLE_STOCHASTIC, 7, 3, mask, list);
	CHECK(n == (size_t)(((h + grid - 1) / grid) * ((w + grid - 1) / grid)),
	      "grid-only mask has %zu cells", n);

	/* Stochastic: same key, same noise; noise is logistic(0, 1). */
	CHECK(stp_mask_noise(1, 2, 3) == stp_mask_noise(1, 2, 3), "noise is a pure function");
	CHECK(stp_mask_noise(1, 2, 3) != stp_mask_noise(2, 2, 3) &&
	      stp_mask_noise(1, 2, 3) != stp_mask_noise(1, 3, 3) &&
	      stp_mask_noise(1, 2, 3) != stp_mask_noise(1, 2, 4), "noise depends on every key part");
	double mean = 0, var = 0, below = 0;
	const int N = 200000;
	for (int i = 0; i < N; i++) {
		double v = stp_mask_noise(42, 0, (uint32_t)i);
		mean += v;
		var += v * v;
		below += v < 1.0;
	}
	mean /= N;
	var = var / N - mean * mean;
	/* Logistic(0,1): mean 0, variance pi^2/3, P(L < 1) = sigmoid(1). */
	CHECK(fabs(mean) < 0.02 && fabs(var - 3.28987) < 0.05 && fabs(below / N - 0.731059) < 0.005,
	      "noise statistics: mean %.4f var %.4f P(<1) %.4f", mean, var, below / N);
}

/* Top-k: the grid plus exactly k - grid of the best off-grid logits. */
static void test_mask_topk(void)
{
	const int h = 19, w = 26, grid = 4;
	const size_t cells = (size_t)h * w, gc = stp_mask_grid_cells(h, w, grid);
	float logits[19 * 26], scratch[19 * 26];
	uint8_t mask[19 * 26];
	int32_t list[19 * 26];
	for (size_t i = 0; i < cells; i++)
		logits[i] = (float)(int)(test_randf(&rng) * 8.0f);  /* many ties */
	logits[5] = NAN;
	const size_t ks[] = {0, gc, gc + 1, 100, cells - 1, cells, cells + 10};
	for (size_t t = 0; t < sizeof(ks) / sizeof(ks[0]); t++) {
		size_t n = stp_mask_sample_topk(logits, 1, h, w, grid, ks[t], scratch, mask, list);
		size_t want = ks[t] < gc ? gc : ks[t] > cells ? cells : ks[t];
		int ok = n == want, ordered = 1;
		float min_on = INFINITY, max_off = -INFINITY;
		for (size_t p = 0; p < cells; p++) {
			int g = (p / w) % grid == 0 && (p % w) % grid == 0;
			float v = logits[p] == logits[p] ? logits[p] : -INFINITY;
			if (g)
				ok &= mask[p] == 1;
			else if (mask[p] && v < min_on)
				min_on = v;
			else if (!mask[p] && v > max_off)
				max_off = v;
		}
		for (size_t i = 1; i < n; i++)
			ordered &= list[i] > list[i - 1];
		CHECK(ok && ordered && (min_on >= max_off || want == gc || want == cells),
		      "top-k k=%zu: %zu cells (want %zu), min kept %.1f, max dropped %.1f", ks[t], n,
		      want, min_on, max_off);
	}
}

enum mask_kind { MASK_GRID, MASK_ALL, MASK_SINGLE, MASK_RANDOM, MASK_BLOCKY };

static void make_mask(enum mask_kind kind, int h, int w, uint8_t *m)
{
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			int on = 0;
			switch (kind) {
			case MASK_GRID: on = y % 3 == 0 && x % 3 == 0; break;
			case MASK_ALL: on = 1; break;
			case MASK_SINGLE: on = y == h / 2 && x == w / 3; break;
			case MASK_RANDOM: on = test_randf(&rng) > 0.4f; break;
			case MASK_BLOCKY: on = (y / 4 + x / 5) % 2 == 0; break;
			}
			m[y * w + x] = (uint8_t)on;
		}
}

/* Largest |out - ReLU(ref + bias + res)|: the module with the fused epilogue. */
static double fused_err(const float *out, const float *ref, const float *bias,
			const float *res, size_t n, int c)
{
	double max_err = 0;

	for (size_t i = 0; i < n; i++) {
		double want = ref[i] + bias[i % (size_t)c] + res[i];
		double e;

		want = want > 0 ? want : 0;
		e = fabs(out[i] - want);
		if (e > max_err)
			max_err = e;
	}
	return max_err;
}

/* Builds test kernel kt: RBF 7x7 a = 3 (the trained kind: reach 2), RBF
 * 5x5 a = 0.7 (wide: every tap kept), a random learned |K| (3x3, not
 * separable), average pooling 7x7 (separable, reach 3). */
#define TEST_KERNELS 4
static void make_kernel(int kt, struct stp_interp_kernel *k)
{
	if (kt == 0) {
		stp_interp_kernel_rbf(k, 7, 3.0f);
	} else if (kt == 1) {
		stp_interp_kernel_rbf(k, 5, 0.7f);
	} else if (kt == 2) {
		k->k = 3;
		for (int i = 0; i < 9; i++)
			k->w[i] = fabsf(test_randf(&rng)) + 0.01f;
	} else {
		k->k = 7;
		for (int i = 0; i < 49; i++)
			k->w[i] = 1.0f;
	}
}

/* Runs the module with exec, checks which form ran: SEPARABLE when asked
 * for it on a separable kernel (kt != 2) with targets, GATHER when asked
 * for that. */
static void apply_checked(const struct stp_interp_kernel *k, int kt, const uint8_t *m,
			  const int32_t *targets, size_t nt, const struct stp_tensor *in,
			  struct stp_tensor *out, const float *bias, const struct stp_tensor *res,
			  int relu, struct stp_interp_exec *exec, struct stp_threadpool *pool)
{
	CHECK(stp_interp_apply(k, m, targets, nt, in, out, bias, res, relu, exec, pool) == STP_OK,
	      "interp_apply status");
	if (exec->form == STP_INTERP_FORM_GATHER)
		CHECK(exec->used == STP_INTERP_FORM_GATHER, "gather form asked, %d ran", exec->used);
	if (exec->form == STP_INTERP_FORM_SEPARABLE && nt > 0)
		CHECK(exec->used == (kt == 2 ? STP_INTERP_FORM_GATHER : STP_INTERP_FORM_SEPARABLE),
		      "separable form asked for kernel %d, %d ran", kt, exec->used);
}

/* Largest error of the dots (interp.h) of the h*w x c output out against
 * sums in double, relative to the sum of |w x out| of each. */
static double dots_err(const float *dots, const float *wrows, size_t nrows, const float *out,
		       size_t cells, int c)
{
	double max_err = 0;

	for (size_t p = 0; p < cells; p++)
		for (size_t j = 0; j < nrows; j++) {
			double sum = 0, mag = 1e-30, e;
			for (int ch = 0; ch < c; ch++) {
				const double t = (double)wrows[j * c + ch] * out[p * c + ch];
				sum += t;
				mag += fabs(t);
			}
			e = fabs(dots[p * nrows + j] - sum) / mag;
			if (e > max_err)
				max_err = e;
		}
	return max_err;
}

/* A whole-map pass with dots: the output as without them, and every
 * cell's dots; dots with a target list are refused. */
static void check_dots(const struct stp_interp_kernel *k, int kt, const uint8_t *m,
		       const struct stp_tensor *in, struct stp_tensor *out, const float *bias,
		       const struct stp_tensor *res, const float *plain, struct stp_interp_exec *exec,
		       stp_dotconv_ukernel_fn dotconv, struct stp_threadpool *pool)
{
	const size_t cells = (size_t)in->h * in->w, n = cells * (size_t)in->c;
	const size_t nrows[] = {9, 18, 27};
	float *wrows = malloc(27 * (size_t)in->c * sizeof(float));
	float *dots = malloc(cells * 27 * sizeof(float));
	const int32_t first = 0;

	for (size_t i = 0; i < 27 * (size_t)in->c; i++)
		wrows[i] = test_randf(&rng);
	for (size_t ni = 0; ni < sizeof(nrows) / sizeof(nrows[0]); ni++) {
		struct stp_interp_dots d = {wrows, nrows[ni], dots, dotconv};
		exec->dots = &d;
		memset(out->data, 0, n * sizeof(float));
		apply_checked(k, kt, m, NULL, cells, in, out, bias, res, 1, exec, pool);
		CHECK(!memcmp(out->data, plain, n * sizeof(float)),
		      "dots change the output: %dx%dx%d kernel %d form %d", in->h, in->w, in->c, kt,
		      exec->form);
		CHECK(dots_err(dots, wrows, nrows[ni], out->data, cells, in->c) < 1e-5,
		      "dots %dx%dx%d x %zu rows kernel %d form %d: rel err %.3g", in->h, in->w,
		      in->c, nrows[ni], kt, exec->form,
		      dots_err(dots, wrows, nrows[ni], out->data, cells, in->c));
		CHECK(stp_interp_apply(k, m, &first, 1, in, out, bias, res, 1, exec, pool) ==
			      STP_ERR_INVALID_ARG,
		      "dots with a target list are refused");
	}
	exec->dots = NULL;
	free(wrows);
	free(dots);
}

static void test_interp(struct stp_threadpool *pool, const struct stp_kernels *kernels)
{
	const stp_gather_ukernel_fn gather = kernels->gather;
	const int sizes[][3] = {{1, 1, 3}, {7, 9, 16}, {13, 11, 17}, {20, 33, 64}, {9, 10, 150}};
	const enum stp_interp_form forms[] = {STP_INTERP_FORM_GATHER, STP_INTERP_FORM_SEPARABLE,
					      STP_INTERP_FORM_AUTO};
	struct stp_interp_buffer buffer = {NULL, 0};
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		const int h = sizes[si][0], w = sizes[si][1], c = sizes[si][2];
		const size_t n = (size_t)h * w * c;
		float *f = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
		float *out = malloc(n * sizeof(float)), *res = malloc(n * sizeof(float));
		float *bias = malloc(c * sizeof(float));
		uint8_t *m = malloc((size_t)h * w);
		int32_t *all = malloc((size_t)h * w * sizeof(int32_t));
		int32_t *unsampled = malloc((size_t)h * w * sizeof(int32_t));
		for (size_t i = 0; i < n; i++) {
			f[i] = test_randf(&rng);
			res[i] = test_randf(&rng);
		}
		for (int i = 0; i < c; i++)
			bias[i] = test_randf(&rng);
		for (int i = 0; i < h * w; i++)
			all[i] = i;
		for (int kind = MASK_GRID; kind <= MASK_BLOCKY; kind++) {
			for (int kt = 0; kt < TEST_KERNELS; kt++) {
				struct stp_interp_kernel k;
				make_kernel(kt, &k);
				make_mask((enum mask_kind)kind, h, w, m);
				interp_ref(f, m, h, w, c, &k, ref);
				for (size_t fi = 0; fi < sizeof(forms) / sizeof(forms[0]); fi++) {
					struct stp_interp_exec exec = {gather, &buffer, forms[fi],
								       STP_INTERP_FORM_AUTO, NULL};
					struct stp_tensor tf = {f, h, w, c, c}, to = {out, h, w, c, c};
					struct stp_tensor tr = {res, h, w, c, c};
					double max_err;
					size_t nu = 0;

					/* Every cell (a list, or NULL for all) gives the
					 * whole module output, with the fused epilogue. */
					for (int listed = 1; listed >= 0; listed--) {
						memset(out, 0, n * sizeof(float));
						apply_checked(&k, kt, m, listed ? all : NULL, (size_t)h * w,
							      &tf, &to, bias, &tr, 1, &exec, pool);
						max_err = fused_err(out, ref, bias, res, n, c);
						CHECK(max_err < 2e-5,
						      "every cell (%s) %dx%dx%d mask %d kernel %d form %d: err %.3g",
						      listed ? "list" : "NULL", h, w, c, kind, kt, forms[fi],
						      max_err);
					}
					if (kind == MASK_RANDOM) {
						memcpy(ref, out, n * sizeof(float));
						check_dots(&k, kt, m, &tf, &to, bias, &tr, ref, &exec,
							   kernels->dotconv, pool);
						interp_ref(f, m, h, w, c, &k, ref);
					}

					/* The unsampled cells only, in place. */
					for (int p = 0; p < h * w; p++)
						if (!m[p])
							unsampled[nu++] = p;
					memcpy(out, f, n * sizeof(float));
					apply_checked(&k, kt, m, unsampled, nu, &to, &to, NULL, NULL, 0,
						      &exec, pool);
					max_err = 0;
					for (size_t i = 0; i < n; i++) {
						double e = fabs(out[i] - ref[i]);
						if (e > max_err)
							max_err = e;
					}
					CHECK(max_err < 2e-5,
					      "in place %dx%dx%d mask %d kernel %d form %d: err %.3g", h, w,
					      c, kind, kt, forms[fi], max_err);
				}
			}
		}
		free(f); free(ref); free(out); free(res); free(bias); free(m); free(all); free(unsampled);
	}
	stp_interp_buffer_free(&buffer);
}

/* The STREAM hint changes how dst is stored, never what: every channel
 * count (register blocks and tail), source count (none, a copy-through,
 * several) and alignment of dst gives the same bits as without it; a copy
 * destination gets the same bits too, streamed or not. */
static void test_gather_stream(stp_gather_ukernel_fn gather, const char *isa)
{
	const size_t cs[] = {16, 64, 150, 256};
	float *src_rows = malloc(5 * 256 * sizeof(float)), *res = malloc(256 * sizeof(float));
	float *bias = malloc(256 * sizeof(float)), *plain = malloc(256 * sizeof(float));
	float *stream = aligned_alloc(64, 320 * sizeof(float)), *copy = malloc(256 * sizeof(float));
	const float *src[5];
	float wt[5];
	for (int j = 0; j < 5; j++) {
		src[j] = src_rows + j * 256;
		wt[j] = j ? test_randf(&rng) : 1.0f;
	}
	for (size_t i = 0; i < 5 * 256; i++)
		src_rows[i] = test_randf(&rng);
	for (size_t i = 0; i < 256; i++) {
		res[i] = test_randf(&rng);
		bias[i] = test_randf(&rng);
	}
	for (size_t ci = 0; ci < sizeof(cs) / sizeof(cs[0]); ci++)
		for (size_t n = 0; n <= 5; n += n == 1 ? 4 : 1)
			for (size_t offset = 0; offset <= 1; offset++) {
				const size_t c = cs[ci];
				float *dst = stream + offset;
				gather(c, n, src, wt, bias, res, STP_GATHER_RELU, plain, NULL);
				gather(c, n, src, wt, bias, res, STP_GATHER_RELU | STP_GATHER_STREAM, dst, NULL);
				CHECK(!memcmp(plain, dst, c * sizeof(float)),
				      "%s gather, streaming stores: c %zu, %zu sources, dst offset %zu",
				      isa, c, n, offset);
				for (unsigned stream_flag = 0; stream_flag <= STP_GATHER_STREAM;
				     stream_flag += STP_GATHER_STREAM) {
					memset(dst, 0, c * sizeof(float));
					memset(copy, 0, c * sizeof(float));
					gather(c, n, src, wt, bias, res, STP_GATHER_RELU | stream_flag, dst,
					       copy);
					CHECK(!memcmp(plain, dst, c * sizeof(float)) &&
					      !memcmp(plain, copy, c * sizeof(float)),
					      "%s gather with a copy (stream %u): c %zu, %zu sources, "
					      "dst offset %zu", isa, stream_flag, c, n, offset);
				}
			}
	free(src_rows); free(res); free(bias); free(plain); free(stream); free(copy);
}

/* An output larger than STP_STREAM_OUTPUT_BYTES, which the module writes
 * with streaming stores, against the reference. */
static void test_interp_large(struct stp_threadpool *pool, const struct stp_kernels *kernels,
			      const char *isa)
{
	const stp_gather_ukernel_fn gather = kernels->gather;
	const int h = 48, w = 96, c = 1000;
	const size_t n = (size_t)h * w * c;
	float *f = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
	float *out = aligned_alloc(64, n * sizeof(float)), *res = malloc(n * sizeof(float));
	float *bias = calloc(c, sizeof(float));
	uint8_t *m = malloc((size_t)h * w);
	struct stp_interp_kernel k;
	if (n * sizeof(float) <= STP_STREAM_OUTPUT_BYTES)
		HARNESS_ERROR("the large case is not larger than the streaming threshold");
	for (size_t i = 0; i < n; i++) {
		f[i] = test_randf(&rng);
		res[i] = test_randf(&rng);
	}
	stp_interp_kernel_rbf(&k, 7, 3.0f);
	make_mask(MASK_RANDOM, h, w, m);
	interp_ref(f, m, h, w, c, &k, ref);
	struct stp_tensor tf = {f, h, w, c, c}, to = {out, h, w, c, c}, tr = {res, h, w, c, c};
	for (int form = STP_INTERP_FORM_GATHER; form <= STP_INTERP_FORM_SEPARABLE; form++) {
		struct stp_interp_buffer buffer = {NULL, 0};
		struct stp_interp_exec exec = {gather, &buffer, (enum stp_interp_form)form,
					       STP_INTERP_FORM_AUTO, NULL};
		memset(out, 0, n * sizeof(float));
		apply_checked(&k, 0, m, NULL, (size_t)h * w, &tf, &to, bias, &tr, 1, &exec, pool);
		double max_err = fused_err(out, ref, bias, res, n, c);
		CHECK(max_err < 2e-5, "%s every cell of a %dx%dx%d output (streamed), form %d: err %.3g",
		      isa, h, w, c, form, max_err);
		{
			float *plain = malloc(n * sizeof(float));
			memcpy(plain, out, n * sizeof(float));
			check_dots(&k, 0, m, &tf, &to, bias, &tr, plain, &exec, kernels->dotconv, pool);
			free(plain);
		}
		stp_interp_buffer_free(&buffer);
	}
	free(f); free(ref); free(out); free(res); free(bias); free(m);
}

int main(void)
{
	test_mask_sampling();
	test_mask_topk();
	for (int threads = 1; threads <= 2; threads++) {
		struct stp_threadpool *pool;
		if (stp_threadpool_create(threads, &pool) != STP_OK)
			HARNESS_ERROR("thread pool");
		test_interp(pool, stp_kernels_for(STP_ISA_SCALAR));
		if (stp_cpu_has_avx2_fma())
			test_interp(pool, stp_kernels_for(STP_ISA_AVX2));
		if (stp_cpu_has_avx512f())
			test_interp(pool, stp_kernels_for(STP_ISA_AVX512));
		stp_threadpool_destroy(pool);
	}
	{
		struct stp_threadpool *pool;
		if (stp_threadpool_create(2, &pool) != STP_OK)
			HARNESS_ERROR("thread pool");
		for (int isa = STP_ISA_SCALAR; isa <= STP_ISA_AVX512; isa++) {
			if ((isa == STP_ISA_AVX2 && !stp_cpu_has_avx2_fma()) ||
			    (isa == STP_ISA_AVX512 && !stp_cpu_has_avx512f()))
				continue;
			const struct stp_kernels *kernels = stp_kernels_for((enum stp_isa)isa);
			test_gather_stream(kernels->gather, stp_isa_name((enum stp_isa)isa));
			test_interp_large(pool, kernels, stp_isa_name((enum stp_isa)isa));
		}
		stp_threadpool_destroy(pool);
	}
	return test_main_end();
}
