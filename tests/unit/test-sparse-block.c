/*
 * test-sparse-block.c - a sparse residual block against the official
 * module order evaluated densely:
 *   y = conv(x) everywhere, then interp(y, M) over the whole map, for each
 *   conv; out = ReLU(shift + interp'd last conv + shortcut)
 * where the sparse block computes convs only at sampled cells and
 * interpolates only where the next conv reads. Covers bottleneck variants
 * (a), (b), (c) and BasicBlock (a), (b); strides 1 and 2, with and without a
 * downsample; odd sizes; deterministic and seeded stochastic masks; mask
 * logits from near-all-on to grid-only. A downsampling bottleneck's mask
 * convs run in one pass (mask_fused) and, again, one pass each: the same
 * masks and output bits. Logit partials (block.h): a block given partials
 * of its input (computed here in double) samples the same masks as from its
 * mask convs, and a block with a next block leaves that block's partials of
 * its output, without changing the output.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "sparse/block.h"
#include "sparse-ref.h"
#include "testutil.h"

static unsigned long long rng = 0xD1B54A32D192ED03ull;

static float *rand_array(size_t n, float scale)
{
	float *p = malloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		p[i] = test_randf(&rng) * scale;
	return p;
}

static struct stp_conv *conv_from(int cin, int cout, int k, int s, int relu, const float *w,
				  const float *b, const struct stp_kernels *kernels)
{
	struct stp_conv_desc d = {cin, cout, 1, k, k, s, s, k / 2, k / 2, 1, 1, relu, 0.0f};
	struct stp_conv *c = NULL;
	if (stp_conv_create(&d, w, b, kernels, &c) != STP_OK)
		HARNESS_ERROR("conv create");
	return c;
}

/* Random weights (OIHW) and biases (+ bias_shift) for a conv. */
static void rand_conv(int cin, int cout, int k, float bias_shift, float **w, float **b)
{
	*w = rand_array((size_t)cout * cin * k * k, 1.0f / sqrtf((float)cin * k * k));
	*b = rand_array((size_t)cout, 0.3f);
	for (int i = 0; i < cout; i++)
		(*b)[i] += bias_shift;
}

static struct stp_conv *make_conv(int cin, int cout, int k, int s, int relu, float bias_shift,
				  const struct stp_kernels *kernels)
{
	float *w, *b;
	rand_conv(cin, cout, k, bias_shift, &w, &b);
	struct stp_conv *c = conv_from(cin, cout, k, s, relu, w, b, kernels);
	free(w);
	free(b);
	return c;
}

/* A downsampling bottleneck's mask convs at strides 1 and 2, and the
 * engine's single-pass form of both (block.h, mask_fused), whose weights
 * and biases are left in w and bias. */
static void make_strided_masks(struct stp_sparse_block *b, int cin, int n0, int n1, int stride,
			       float shift, const struct stp_kernels *kernels, float *w, float *bias)
{
	const size_t wn = (size_t)cin * 9;
	float *w0, *b0, *w1, *b1;
	rand_conv(cin, n0, 3, shift, &w0, &b0);
	rand_conv(cin, n1, 3, shift, &w1, &b1);
	b->mask_conv[0] = conv_from(cin, n0, 3, 1, 0, w0, b0, kernels);
	b->mask_conv[1] = conv_from(cin, n1, 3, stride, 0, w1, b1, kernels);
	memcpy(w, w0, (size_t)n0 * wn * sizeof(float));
	memcpy(w + (size_t)n0 * wn, w1, (size_t)n1 * wn * sizeof(float));
	memcpy(bias, b0, (size_t)n0 * sizeof(float));
	memcpy(bias + n0, b1, (size_t)n1 * sizeof(float));
	b->mask_fused = conv_from(cin, n0 + n1, 3, 1, 0, w, bias, kernels);
	free(w0); free(b0); free(w1); free(b1);
}

/* The partials of an h x w x c map x for rows [k][9][c] (block.h), in double. */
static void partials_ref(const float *x, int cells, int c, const float *rows, int k, float *out)
{
	for (int p = 0; p < cells; p++)
		for (int j = 0; j < k * 9; j++) {
			double sum = 0;
			for (int ch = 0; ch < c; ch++)
				sum += (double)rows[(size_t)j * c + ch] * x[(size_t)p * c + ch];
			out[(size_t)p * k * 9 + j] = (float)sum;
		}
}

static double rel_diff(const float *a, const float *b, size_t n)
{
	double num = 0, den = 1e-30;
	for (size_t i = 0; i < n; i++) {
		num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		den += (double)b[i] * b[i];
	}
	return sqrt(num / den);
}

struct block_case {
	int bottleneck;
	char variant;
	int cin, planes, stride, h, w, grid;
	float logit_shift;  /* mask conv bias: + dense, - sparse */
	enum stp_sample_mode mode;
};

/* Output of a conv everywhere (dense), as a plain array; no tile tables
 * (one tile at a time), unlike the block's runs. */
static float *dense_conv(const struct stp_conv *conv, const float *in, int h, int w,
			 int *oh, int *ow, const float *zero, struct stp_threadpool *pool)
{
	const struct stp_conv_scratch scratch = {zero, NULL, 0};
	const struct stp_conv_desc *d = stp_conv_get_desc(conv);
	stp_conv_output_size(d, h, w, oh, ow);
	float *out = malloc((size_t)*oh * *ow * d->cout * sizeof(float));
	struct stp_tensor ti = {(float *)in, h, w, d->cin, d->cin};
	struct stp_tensor to = {out, *oh, *ow, d->cout, d->cout};
	stp_conv_run(conv, &ti, &to, NULL, NULL, 0, &scratch, pool);
	return out;
}

/* Logit partials, after a run of b on in into out (block.h): given
 * partials of its input, b uses them (once) and samples the same masks, so
 * gives the same output bits; with a next block and partials on,
 * b leaves that block's partials of its output and the same output bits. */
static void check_partials(struct stp_sparse_block *b, const struct block_case *bc,
			   const struct stp_tensor *in, const struct stp_tensor *out,
			   struct stp_sparse_scratch *sc, const struct stp_sparse_options *opts,
			   const struct stp_kernels *kernels, struct stp_threadpool *pool)
{
	const size_t cells = (size_t)in->h * in->w, nout = (size_t)out->h * out->w * out->c;
	float *got = malloc(nout * sizeof(float));
	struct stp_tensor tgot = {got, out->h, out->w, out->c, out->c};
	struct stp_sparse_options with = *opts;
	struct stp_sparse_block next = {0};
	struct stp_sparse_stats stats;
	uint8_t *masks[3];
	enum stp_status st;

	for (int m = 0; m < b->nmasks; m++) {
		masks[m] = malloc(cells);
		memcpy(masks[m], sc->mask[m], cells);
	}
	if (b->partial_k > 0) {
		int same = 1;
		partials_ref(in->data, (int)cells, in->c, b->partial_w, b->partial_k, sc->partials);
		sc->partials_for = b;
		sc->partials_of = in->data;
		st = stp_sparse_block_run(b, in, &tgot, sc, opts, &stats, pool);
		for (int m = 0; m < b->nmasks; m++) {
			int mh, mw;
			stp_sparse_block_mask_size(b, m, in->h, in->w, &mh, &mw);
			same &= !memcmp(masks[m], sc->mask[m], (size_t)mh * mw);
		}
		CHECK(st == STP_OK && same && !memcmp(got, out->data, nout * sizeof(float)) &&
		      stats.partials_used && sc->partials_for == NULL,
		      "%s (%c) stride %d %dx%d mode %d: logits from partials, same masks %d, rel diff %.3g",
		      stp_isa_name(kernels->isa), bc->variant, bc->stride, bc->h, bc->w, bc->mode, same,
		      rel_diff(got, out->data, nout));
	}

	/* A next block taking 2 mask channels of this one's output. */
	float *rows = rand_array((size_t)18 * out->c, 1.0f);
	float *ref = malloc((size_t)out->h * out->w * 18 * sizeof(float));
	const float bias[2] = {0, 0};
	stp_sparse_block_set_partials(&next, rows, bias, 2, out->c, kernels->dotconv);
	free(rows);
	b->next = &next;
	with.partials = 1;
	st = stp_sparse_block_run(b, in, &tgot, sc, &with, &stats, pool);
	b->next = NULL;
	partials_ref(got, out->h * out->w, out->c, next.partial_w, 2, ref);
	CHECK(st == STP_OK && sc->partials_for == &next && sc->partials_of == got &&
	      !memcmp(got, out->data, nout * sizeof(float)) &&
	      rel_diff(sc->partials, ref, (size_t)out->h * out->w * 18) < 1e-5,
	      "%s (%c) stride %d %dx%d: the next block's partials (rel diff %.3g)",
	      stp_isa_name(kernels->isa), bc->variant, bc->stride, bc->h, bc->w,
	      rel_diff(sc->partials, ref, (size_t)out->h * out->w * 18));
	sc->partials_for = NULL;
	stp_free(next.partial_w);
	for (int m = 0; m < b->nmasks; m++)
		free(masks[m]);
	free(ref);
	free(got);
}

/* Runs the block with the interpolation form given (every kernel here is
 * RBF, so SEPARABLE runs the separable form) against the dense reference. */
static void run_case(const struct block_case *bc, const struct stp_kernels *kernels,
		     struct stp_threadpool *pool, enum stp_interp_form form)
{
	struct stp_sparse_block *b = calloc(1, sizeof(*b));
	const int expansion = bc->bottleneck ? 4 : 1, cout = bc->planes * expansion;
	const int nconvs = bc->bottleneck ? 3 : 2;

	/* Masks per variant: (a) one mask, (b) two, (c) three (bottleneck). */
	b->nmasks = bc->variant == 'a' ? 1 : bc->variant == 'b' ? 2 : 3;
	b->nconvs = nconvs;
	b->grid = bc->grid;
	b->gather = kernels->gather;
	b->mask_index = 5;
	if (bc->bottleneck) {
		b->conv[0] = make_conv(bc->cin, bc->planes, 1, 1, 1, 0.2f, kernels);
		b->conv[1] = make_conv(bc->planes, bc->planes, 3, bc->stride, 1, 0.2f, kernels);
		b->conv[2] = make_conv(bc->planes, cout, 1, 1, 0, 0.0f, kernels);
	} else {
		b->conv[0] = make_conv(bc->cin, bc->planes, 3, bc->stride, 1, 0.2f, kernels);
		b->conv[1] = make_conv(bc->planes, cout, 3, 1, 0, 0.0f, kernels);
	}
	const int mstride_first = bc->bottleneck ? 1 : bc->stride;
	if (bc->variant == 'a') {
		b->mask_of[0] = b->mask_of[1] = b->mask_of[2] = 0;
		b->interp_of[0] = b->interp_of[1] = b->interp_of[2] = 0;
	} else if (bc->variant == 'b') {
		b->mask_of[0] = 0; b->mask_of[1] = 1; b->mask_of[2] = 1;
		b->interp_of[0] = 0; b->interp_of[1] = 1; b->interp_of[2] = 1;
	} else {
		b->mask_of[0] = 0; b->mask_of[1] = 1; b->mask_of[2] = 2;
		b->interp_of[0] = 0; b->interp_of[1] = 1; b->interp_of[2] = 2;
	}
	/* Mask convs: masks at the same stride share one fused conv. Mask 0 is
	 * at conv1's stride; the others at the block's. */
	{
		int nch_first = 0, nch_second = 0;
		for (int m = 0; m < b->nmasks; m++) {
			if (m == 0 || !bc->bottleneck || bc->stride == 1) {
				b->mask_source[m] = 0;
				b->mask_channel[m] = nch_first++;
			} else {
				b->mask_source[m] = 1;
				b->mask_channel[m] = nch_second++;
			}
		}
		if (nch_second && mstride_first == 1 && bc->stride == 2) {
			float *w = malloc((size_t)(nch_first + nch_second) * bc->cin * 9 * sizeof(float));
			float bias[3];
			make_strided_masks(b, bc->cin, nch_first, nch_second, bc->stride,
					   bc->logit_shift, kernels, w, bias);
			stp_sparse_block_set_partials(b, w, bias, nch_first + nch_second, bc->cin,
						      kernels->dotconv);
			free(w);
		} else {
			float *w, *bias;
			rand_conv(bc->cin, nch_first, 3, bc->logit_shift, &w, &bias);
			b->mask_conv[0] = conv_from(bc->cin, nch_first, 3, mstride_first, 0, w, bias,
						    kernels);
			if (nch_second)
				b->mask_conv[1] = make_conv(bc->cin, nch_second, 3, bc->stride, 0,
							    bc->logit_shift, kernels);
			else if (mstride_first == 1)
				stp_sparse_block_set_partials(b, w, bias, nch_first, bc->cin,
							      kernels->dotconv);
			free(w);
			free(bias);
		}
	}
	stp_interp_kernel_rbf(&b->kernel[0], 7, 3.0f);
	stp_interp_kernel_rbf(&b->kernel[1], 5, 1.2f);
	stp_interp_kernel_rbf(&b->kernel[2], 3, 2.0f);
	b->last_shift = rand_array((size_t)cout, 0.5f);
	if (bc->stride != 1 || bc->cin != cout)
		b->downsample = make_conv(bc->cin, cout, 1, bc->stride, 0, 0.0f, kernels);

	/* Scratch, generously sized. */
	const size_t cells = (size_t)bc->h * bc->w, maxc = (size_t)(cout > bc->cin ? cout : bc->cin);
	struct stp_sparse_scratch sc = {0};
	for (int j = 0; j < 3; j++) {
		sc.feature[j] = malloc(cells * maxc * sizeof(float));
		sc.logits[j] = malloc(cells * 3 * sizeof(float));
		sc.mask[j] = malloc(cells);
		sc.list[j] = malloc(cells * sizeof(int32_t));
	}
	sc.shortcut = malloc(cells * maxc * sizeof(float));
	sc.partials = malloc(cells * 9 * 3 * sizeof(float));
	sc.targets = malloc(cells * sizeof(int32_t));
	sc.need = malloc(cells);
	float *zero = calloc(maxc + 64, sizeof(float));
	const size_t table_bytes =
		(size_t)stp_threadpool_threads(pool) * stp_sparse_block_table_bytes(b) + 64;
	void *tables = malloc(table_bytes);
	const struct stp_conv_scratch conv_scratch = {zero, tables, table_bytes};
	sc.conv = &conv_scratch;

	float *x = rand_array(cells * bc->cin, 1.0f);
	struct stp_tensor tin = {x, bc->h, bc->w, bc->cin, bc->cin};
	int oh, ow, h1, w1;  /* the output size is the conv chain's */
	stp_conv_output_size(stp_conv_get_desc(b->conv[0]), bc->h, bc->w, &h1, &w1);
	stp_conv_output_size(stp_conv_get_desc(b->conv[1]), h1, w1, &oh, &ow);
	float *out = malloc((size_t)oh * ow * cout * sizeof(float));
	struct stp_tensor tout = {out, oh, ow, cout, cout};
	struct stp_sparse_options opts = {0, NULL, bc->mode, 1234, NULL, form, 0};
	struct stp_sparse_stats stats;
	enum stp_status st = stp_sparse_block_run(b, &tin, &tout, &sc, &opts, &stats, pool);
	CHECK(st == STP_OK, "run: %s", stp_status_str(st));

	/* Dense reference with the masks the block sampled (mask sampling itself
	 * is tested in test-sparse-ops). */
	const float *cur = x;
	float *owned = NULL;
	int ch = bc->h, cw = bc->w;
	for (int j = 0; j < nconvs; j++) {
		int yh, yw;
		float *y = dense_conv(b->conv[j], cur, ch, cw, &yh, &yw, zero, pool);
		const int c = stp_conv_get_desc(b->conv[j])->cout;
		float *yi = malloc((size_t)yh * yw * c * sizeof(float));
		interp_ref(y, sc.mask[b->mask_of[j]], yh, yw, c, &b->kernel[b->interp_of[j]], yi);
		free(y);
		free(owned);
		owned = yi;
		cur = yi;
		ch = yh;
		cw = yw;
	}
	float *sc_ref = x;
	int sh, sw;
	if (b->downsample)
		sc_ref = dense_conv(b->downsample, x, bc->h, bc->w, &sh, &sw, zero, pool);
	double num = 0, den = 0;
	size_t sampled_total = 0, cells_total = 0;
	for (size_t i = 0; i < (size_t)oh * ow * cout; i++) {
		double want = owned[i] + b->last_shift[i % cout] + sc_ref[i];
		want = want > 0 ? want : 0;
		num += (out[i] - want) * (out[i] - want);
		den += want * want;
	}
	for (int m = 0; m < b->nmasks; m++) {
		sampled_total += stats.sampled[m];
		cells_total += stats.cells[m];
	}
	CHECK(sqrt(num / (den + 1e-30)) < 1e-5,
	      "%s %s(%c) cin=%d planes=%d stride=%d %dx%d grid=%d shift=%.1f mode=%d form=%d: rel err %.3g, density %.2f",
	      stp_isa_name(kernels->isa), bc->bottleneck ? "bottleneck" : "basic", bc->variant, bc->cin,
	      bc->planes, bc->stride, bc->h, bc->w, bc->grid, bc->logit_shift, bc->mode, form,
	      sqrt(num / (den + 1e-30)), (double)sampled_total / cells_total);
	CHECK(sampled_total > 0 && sampled_total <= cells_total, "stats");

	/* The single mask pass gives the same masks and output bits as one
	 * pass per mask conv. */
	if (b->mask_fused) {
		struct stp_conv *fused = b->mask_fused;
		float *out2 = malloc((size_t)oh * ow * cout * sizeof(float));
		uint8_t *masks[3];
		struct stp_tensor tout2 = {out2, oh, ow, cout, cout};
		for (int m = 0; m < b->nmasks; m++) {
			masks[m] = malloc(cells);
			memcpy(masks[m], sc.mask[m], cells);
		}
		b->mask_fused = NULL;
		st = stp_sparse_block_run(b, &tin, &tout2, &sc, &opts, &stats, pool);
		b->mask_fused = fused;
		int same = st == STP_OK && !memcmp(out, out2, (size_t)oh * ow * cout * sizeof(float));
		for (int m = 0; m < b->nmasks; m++) {
			int mh, mw;
			stp_sparse_block_mask_size(b, m, bc->h, bc->w, &mh, &mw);
			same &= !memcmp(masks[m], sc.mask[m], (size_t)mh * mw);
			free(masks[m]);
		}
		CHECK(same, "%s (%c) stride 2 %dx%d: one mask pass = a pass per mask conv",
		      stp_isa_name(kernels->isa), bc->variant, bc->h, bc->w);
		free(out2);
	}

	check_partials(b, bc, &tin, &tout, &sc, &opts, kernels, pool);

	if (b->downsample)
		free(sc_ref);
	free(owned); free(x); free(out); free(zero); free(tables);
	for (int j = 0; j < 3; j++) {
		free(sc.feature[j]); free(sc.logits[j]); free(sc.mask[j]); free(sc.list[j]);
	}
	free(sc.shortcut); free(sc.partials); free(sc.targets); free(sc.need);
	stp_interp_buffer_free(&sc.interp_rows);
	stp_sparse_block_destroy(b);
}

static const struct block_case cases[] = {
	/* bottleneck variant (b), the default */
	{1, 'b', 32, 16, 1, 15, 13, 4, 0.0f, STP_SAMPLE_DETERMINISTIC},
	{1, 'b', 64, 16, 1, 12, 12, 11, 0.0f, STP_SAMPLE_STOCHASTIC},   /* identity shortcut */
	{1, 'b', 32, 16, 2, 17, 14, 3, -0.5f, STP_SAMPLE_DETERMINISTIC},
	{1, 'b', 24, 8, 2, 9, 11, 2, 2.0f, STP_SAMPLE_STOCHASTIC},       /* nearly dense */
	{1, 'b', 16, 8, 1, 10, 9, 5, -1e4f, STP_SAMPLE_DETERMINISTIC},   /* grid only */
	{1, 'a', 32, 16, 1, 11, 16, 4, 0.0f, STP_SAMPLE_DETERMINISTIC},
	{1, 'c', 32, 16, 1, 13, 13, 4, 0.3f, STP_SAMPLE_STOCHASTIC},
	{1, 'c', 32, 16, 2, 14, 15, 3, 0.0f, STP_SAMPLE_DETERMINISTIC},
	{1, 'b', 32, 16, 2, 16, 12, 3, 0.0f, STP_SAMPLE_STOCHASTIC},     /* even x even */
	/* BasicBlock */
	{0, 'b', 16, 16, 1, 13, 12, 4, 0.0f, STP_SAMPLE_DETERMINISTIC},
	{0, 'b', 16, 32, 2, 15, 17, 3, 0.0f, STP_SAMPLE_STOCHASTIC},
	{0, 'a', 24, 24, 1, 9, 10, 3, -0.3f, STP_SAMPLE_DETERMINISTIC},
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
			for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
				run_case(&cases[i], stp_kernels_for(levels[l]), pool,
					 STP_INTERP_FORM_GATHER);
				run_case(&cases[i], stp_kernels_for(levels[l]), pool,
					 STP_INTERP_FORM_SEPARABLE);
			}
		}
		stp_threadpool_destroy(pool);
	}
	return test_main_end();
}
