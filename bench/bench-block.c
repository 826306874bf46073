/*
 * bench-block.c - whole sparse ResNet-50 blocks at a mask density.
 *
 * Builds bottleneck blocks of ResNet-50 at 800x1216 as the model loader
 * does (variant b, RBF 7x7 a = 3, grid 11, random weights) whose mask
 * convs read one input channel at the centre tap, so that the masks are
 * whatever pattern that channel holds: random cells or whole squares
 * (spatially coherent: 32x32 image pixels, 8x8 cells at stride 4 and 4x4
 * at stride 8; 2x2 cells at strides 16 and 32, whose maps are too small
 * for wider squares to hit the density) at densities 0.5, 0.25 and 0.1,
 * plus the grid prior. Times stp_sparse_block_run at each density beside the same block
 * run densely (every cell, no masks: the dense network's block), so that
 * the ratio can be read against the ideal (the masks' mean density), with
 * the mean time of each phase (block.h's profile phases). The
 * mask convs here read the block input from memory, as the first sparse
 * block of a network does (later blocks take logit partials, block.h).
 * Prints one JSON array (--json) or a text table.
 *
 * usage: bench-block [--threads N] [--runs R] [--pattern random|blocks] [--json]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "sparse/block.h"
#include "base/threadpool.h"
#include "bench-util.h"

#define GRID 11

struct block_shape {
	const char *name;
	int h, w, cin, planes, stride;  /* the block input's size */
};

static const struct block_shape shapes[] = {
	{"layer1.1", 200, 304, 256, 64, 1},
	{"layer2.0 (stride 2)", 200, 304, 256, 128, 2},
	{"layer2.1", 100, 152, 512, 128, 1},
	{"layer3.1", 50, 76, 1024, 256, 1},
	{"layer4.1", 25, 38, 2048, 512, 1},
};
static const double densities[] = {0.5, 0.25, 0.1};

/* A conv with small deterministic weights and biases. */
static struct stp_conv *make_conv(int cin, int cout, int k, int s, int relu,
				  const struct stp_kernels *kernels)
{
	const size_t wn = (size_t)cout * cin * k * k;
	struct stp_conv_desc d = {cin, cout, 1, k, k, s, s, k / 2, k / 2, 1, 1, relu, 0.0f};
	float *w = malloc(wn * sizeof(float)), *b = malloc((size_t)cout * sizeof(float));
	struct stp_conv *conv = NULL;
	for (size_t i = 0; i < wn; i++)
		w[i] = (float)(bench_unit_hash(i * 7 + (size_t)cout) - 0.5) / (float)(cin * k);
	for (int i = 0; i < cout; i++)
		b[i] = 0.1f;
	if (stp_conv_create(&d, w, b, kernels, &conv) != STP_OK) {
		fprintf(stderr, "bench-block: cannot build a conv\n");
		exit(1);
	}
	free(w);
	free(b);
	return conv;
}

/* A 3x3 mask conv of n channels whose logits are input channel 0 (centre
 * tap weight 1, everything else 0). */
static struct stp_conv *pattern_conv(int cin, int n, int s, const struct stp_kernels *kernels)
{
	struct stp_conv_desc d = {cin, n, 1, 3, 3, s, s, 1, 1, 1, 1, 0, 0.0f};
	float *w = calloc((size_t)n * cin * 9, sizeof(float)), bias[2] = {0, 0};
	struct stp_conv *conv = NULL;
	for (int j = 0; j < n; j++)
		w[(size_t)j * cin * 9 + 4] = 1.0f;
	if (stp_conv_create(&d, w, bias, kernels, &conv) != STP_OK) {
		fprintf(stderr, "bench-block: cannot build a mask conv\n");
		exit(1);
	}
	free(w);
	return conv;
}

/* A variant-(b) bottleneck as sparse-block.c builds it: M1 (stride 1) for
 * conv1, M2 (the block's stride) for conv2 and conv3; one 2-channel mask
 * conv at stride 1, or at stride 2 the two convs and their one-pass form. */
static struct stp_sparse_block *make_block(const struct block_shape *sh,
					   const struct stp_kernels *kernels)
{
	struct stp_sparse_block *b = calloc(1, sizeof(*b));
	const int cout = sh->planes * 4;
	b->nconvs = 3;
	b->nmasks = 2;
	b->conv[0] = make_conv(sh->cin, sh->planes, 1, 1, 1, kernels);
	b->conv[1] = make_conv(sh->planes, sh->planes, 3, sh->stride, 1, kernels);
	b->conv[2] = make_conv(sh->planes, cout, 1, 1, 0, kernels);
	b->mask_of[0] = b->interp_of[0] = 0;
	b->mask_of[1] = b->mask_of[2] = b->interp_of[1] = b->interp_of[2] = 1;
	b->last_shift = calloc((size_t)cout, sizeof(float));
	if (sh->stride != 1 || sh->cin != cout)
		b->downsample = make_conv(sh->cin, cout, 1, sh->stride, 0, kernels);
	if (sh->stride == 1) {
		b->mask_conv[0] = pattern_conv(sh->cin, 2, 1, kernels);
		b->mask_channel[1] = 1;
	} else {
		b->mask_conv[0] = pattern_conv(sh->cin, 1, 1, kernels);
		b->mask_conv[1] = pattern_conv(sh->cin, 1, 2, kernels);
		b->mask_fused = pattern_conv(sh->cin, 2, 1, kernels);
		b->mask_source[1] = 1;
	}
	for (int m = 0; m < 2; m++)
		stp_interp_kernel_rbf(&b->kernel[m], 7, 3.0f);
	b->grid = GRID;
	b->gather = kernels->gather;
	return b;
}

/* Scratch for a block whose input has `cells` cells and at most maxc
 * channels anywhere (as the session sizes it). */
static void alloc_scratch(struct stp_sparse_scratch *sc, size_t cells, size_t maxc,
			  const struct stp_conv_scratch *conv)
{
	memset(sc, 0, sizeof(*sc));
	for (int j = 0; j < STP_BLOCK_MAX_CONVS; j++)
		sc->feature[j] = stp_alloc(cells * maxc * sizeof(float));
	for (int m = 0; m < STP_BLOCK_MAX_MASKS; m++) {
		sc->logits[m] = malloc(cells * STP_BLOCK_MAX_MASKS * sizeof(float));
		sc->mask[m] = malloc(cells);
		sc->list[m] = malloc(cells * sizeof(int32_t));
	}
	sc->shortcut = stp_alloc(cells * maxc * sizeof(float));
	sc->targets = malloc(cells * sizeof(int32_t));
	sc->need = malloc(cells);
	sc->rank = malloc(cells * STP_BLOCK_MAX_MASKS * sizeof(float));
	sc->conv = conv;
}

static void free_scratch(struct stp_sparse_scratch *sc)
{
	for (int j = 0; j < STP_BLOCK_MAX_CONVS; j++)
		stp_free(sc->feature[j]);
	for (int m = 0; m < STP_BLOCK_MAX_MASKS; m++) {
		free(sc->logits[m]);
		free(sc->mask[m]);
		free(sc->list[m]);
	}
	stp_free(sc->shortcut);
	free(sc->targets);
	free(sc->need);
	free(sc->rank);
	stp_interp_buffer_free(&sc->interp_rows);
}

/* Times `runs` runs (after one untimed) into t, sorted, and their mean
 * time per phase into phase_ms; returns the masks' mean density (sampled /
 * cells over both masks). */
static double time_block(const struct stp_sparse_block *b, const struct stp_tensor *in,
			 struct stp_tensor *out, struct stp_sparse_scratch *sc,
			 struct stp_sparse_options *opts, struct stp_threadpool *pool, int runs,
			 double *t, double *phase_ms)
{
	struct stp_sparse_stats stats;
	double sampled = 0, cells = 0;
	memset(phase_ms, 0, STP_PHASE_COUNT * sizeof(double));
	for (int r = -1; r < runs; r++) {
		const double t0 = bench_now_ms();
		opts->phase_ms = r >= 0 ? phase_ms : NULL;
		if (stp_sparse_block_run(b, in, out, sc, opts, &stats, pool) != STP_OK) {
			fprintf(stderr, "bench-block: run failed\n");
			exit(1);
		}
		if (r >= 0)
			t[r] = bench_now_ms() - t0;
	}
	opts->phase_ms = NULL;
	for (int p = 0; p < STP_PHASE_COUNT; p++)
		phase_ms[p] /= runs;
	qsort(t, (size_t)runs, sizeof(double), bench_cmp_double);
	for (int m = 0; m < b->nmasks; m++) {
		sampled += (double)stats.sampled[m];
		cells += (double)stats.cells[m];
	}
	return sampled / cells;
}

int main(int argc, char **argv)
{
	int threads = 1, runs = 5, json = 0, blocks = 0, first = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--json")) json = 1;
		else if (!strcmp(argv[i], "--pattern") && i + 1 < argc) blocks = !strcmp(argv[++i], "blocks");
		else {
			fprintf(stderr, "usage: bench-block [--threads N] [--runs R] "
					"[--pattern random|blocks] [--json]\n");
			return 2;
		}
	}
	if (threads < 1 || threads > 256 || runs < 1 || runs > 1000) {
		fprintf(stderr, "bench-block: bad arguments\n");
		return 2;
	}
	struct stp_threadpool *pool;
	if (stp_threadpool_create(threads, &pool) != STP_OK)
		return 1;
	const struct stp_kernels *kernels = stp_kernels_for(stp_isa_best());
	double *t = malloc(sizeof(double) * (size_t)runs);
	if (json)
		printf("[");
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		const struct block_shape *sh = &shapes[i];
		const int cout = sh->planes * 4, oh = (sh->h + sh->stride - 1) / sh->stride;
		const int ow = (sh->w + sh->stride - 1) / sh->stride;
		const size_t cells = (size_t)sh->h * sh->w;
		const size_t maxc = (size_t)(cout > sh->cin ? cout : sh->cin);
		struct stp_sparse_block *b = make_block(sh, kernels);
		float *zero = stp_calloc(maxc + 64, sizeof(float));
		float *x = stp_alloc(cells * (size_t)sh->cin * sizeof(float));
		float *y = stp_alloc((size_t)oh * ow * cout * sizeof(float));
		struct stp_tensor tin = {x, sh->h, sh->w, sh->cin, sh->cin};
		struct stp_tensor tout = {y, oh, ow, cout, cout};
		const size_t table_bytes = (size_t)threads * stp_sparse_block_table_bytes(b) + 64;
		const struct stp_conv_scratch conv = {zero, stp_alloc(table_bytes), table_bytes};
		struct stp_sparse_scratch sc;
		struct stp_sparse_options opts = {1, NULL, STP_SAMPLE_DETERMINISTIC, 0, NULL,
						  STP_INTERP_FORM_AUTO, 0};
		alloc_scratch(&sc, cells, maxc, &conv);
		for (size_t j = 0; j < cells * (size_t)sh->cin; j++)
			x[j] = (float)bench_unit_hash(j);
		double phase_ms[STP_PHASE_COUNT];
		time_block(b, &tin, &tout, &sc, &opts, pool, runs, t, phase_ms);
		const double dense_med = t[runs / 2], dense_min = t[0];
		opts.dense = 0;
		const int side = sh->h >= 200 ? 8 : sh->h >= 100 ? 4 : 2;  /* of the squares */
		for (size_t di = 0; di < sizeof(densities) / sizeof(densities[0]); di++) {
			/* Channel 0, the logits: +1 on sampled cells, -1 elsewhere. */
			for (int yy = 0; yy < sh->h; yy++)
				for (int xx = 0; xx < sh->w; xx++) {
					const unsigned long long key =
						blocks ? (unsigned long long)(yy / side) * 1000003u +
								 (unsigned)(xx / side)
						       : (unsigned long long)yy * (unsigned)sh->w + (unsigned)xx;
					x[((size_t)yy * sh->w + xx) * sh->cin] =
						bench_unit_hash(key ^ 0x5bd1e995ull) < densities[di] ? 1.0f : -1.0f;
				}
			const double d = time_block(b, &tin, &tout, &sc, &opts, pool, runs, t, phase_ms);
			const double *ph = phase_ms;
			if (json)
				printf("%s{\"block\": \"%s\", \"threads\": %d, \"pattern\": \"%s\", "
				       "\"density\": %.4f, \"min_ms\": %.4f, \"median_ms\": %.4f, "
				       "\"dense_min_ms\": %.4f, \"dense_median_ms\": %.4f, "
				       "\"phase_ms\": {\"mask\": %.3f, \"conv\": %.3f, \"interp\": %.3f, "
				       "\"shortcut\": %.3f, \"final\": %.3f}}",
				       first ? "" : ", ", sh->name, threads, blocks ? "blocks" : "random", d,
				       t[0], t[runs / 2], dense_min, dense_med, ph[STP_PHASE_MASK],
				       ph[STP_PHASE_CONV], ph[STP_PHASE_INTERP], ph[STP_PHASE_SHORTCUT],
				       ph[STP_PHASE_FINAL]);
			else
				printf("%-20s %s d=%.3f  median %8.3f ms (min %8.3f)  dense %8.3f ms  "
				       "%.2fx of dense (ideal %.2fx); mask %.2f conv %.2f interp %.2f "
				       "shortcut %.2f final %.2f ms\n", sh->name,
				       blocks ? "blocks" : "random", d, t[runs / 2], t[0], dense_med,
				       t[runs / 2] / dense_med, d, ph[STP_PHASE_MASK], ph[STP_PHASE_CONV],
				       ph[STP_PHASE_INTERP], ph[STP_PHASE_SHORTCUT], ph[STP_PHASE_FINAL]);
			first = 0;
		}
		free_scratch(&sc);
		stp_sparse_block_destroy(b);
		stp_free(conv.tables);
		stp_free(zero);
		stp_free(x);
		stp_free(y);
	}
	if (json)
		printf("]\n");
	free(t);
	stp_threadpool_destroy(pool);
	return 0;
}
