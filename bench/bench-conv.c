/*
 * bench-conv.c - single-layer convolution throughput on ResNet-50's shapes.
 *
 * For each 3x3 and 1x1 conv shape of ResNet-50 (at the given input size,
 * default 224x224), runs stp_conv_run densely and prints min and median ms
 * and GFLOP/s, per ISA level and thread count requested. Used by
 * bench/run-bench.sh to compare against the measured FMA peak.
 *
 * With --density D < 1 the conv runs on a list of D x (output pixels)
 * pixels, --pattern random (independent cells) or blocks (8x8 squares, a
 * spatially coherent mask), and the dense time is measured beside it so the
 * ratio to the ideal D x dense can be printed.
 *
 * usage: bench-conv [--size H] [--threads N] [--runs R] [--isa scalar|avx2|avx512]
 *                   [--density D] [--pattern random|blocks] [--json]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "ops/conv.h"
#include "base/threadpool.h"
#include "bench-util.h"

struct shape {
	const char *name;
	int cin, cout, k, s, stride_in; /* stride_in: input size = image / stride_in */
};

static const struct shape shapes[] = {
	{"layer1.conv2 3x3 64->64", 64, 64, 3, 1, 4},
	{"layer2.conv2 3x3 128->128", 128, 128, 3, 1, 8},
	{"layer3.conv2 3x3 256->256", 256, 256, 3, 1, 16},
	{"layer4.conv2 3x3 512->512", 512, 512, 3, 1, 32},
	{"layer1.conv1 1x1 256->64", 256, 64, 1, 1, 4},
	{"layer1.conv3 1x1 64->256", 64, 256, 1, 1, 4},
	{"layer2.conv3 1x1 128->512", 128, 512, 1, 1, 8},
	{"layer3.conv1 1x1 1024->256", 1024, 256, 1, 1, 16},
	{"layer3.conv3 1x1 256->1024", 256, 1024, 1, 1, 16},
	{"layer4.conv1 1x1 2048->512", 2048, 512, 1, 1, 32},
};

/* Fills list with about density x oh*ow pixels in row-major order:
 * independent cells, or whole 8x8 blocks (a spatially coherent mask). */
static size_t make_list(int oh, int ow, double density, int blocks, int32_t *list)
{
	size_t n = 0;
	for (int y = 0; y < oh; y++)
		for (int x = 0; x < ow; x++) {
			unsigned long long key = blocks ? (unsigned long long)(y / 8) * 1000003u + (unsigned)(x / 8)
							: (unsigned long long)y * (unsigned)ow + (unsigned)x;
			if (density >= 1 || bench_unit_hash(key) < density)
				list[n++] = y * ow + x;
		}
	return n;
}

/* Times `runs` runs (after one untimed) into t, sorted; returns the median. */
static double time_conv(const struct stp_conv *conv, const struct stp_tensor *in,
			struct stp_tensor *out, const int32_t *list, size_t n,
			const struct stp_conv_scratch *scratch, struct stp_threadpool *pool, int runs,
			double *t)
{
	stp_conv_run(conv, in, out, NULL, list, n, scratch, pool);
	for (int r = 0; r < runs; r++) {
		double t0 = bench_now_ms();
		stp_conv_run(conv, in, out, NULL, list, n, scratch, pool);
		t[r] = bench_now_ms() - t0;
	}
	qsort(t, runs, sizeof(double), bench_cmp_double);
	return t[runs / 2];
}

int main(int argc, char **argv)
{
	int size = 224, threads = 1, runs = 10, json = 0, blocks = 0;
	double density = 1.0;
	enum stp_isa isa = stp_isa_best();
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--json")) json = 1;
		else if (!strcmp(argv[i], "--density") && i + 1 < argc) density = atof(argv[++i]);
		else if (!strcmp(argv[i], "--pattern") && i + 1 < argc) blocks = !strcmp(argv[++i], "blocks");
		else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
			const char *v = argv[++i];
			isa = !strcmp(v, "scalar") ? STP_ISA_SCALAR : !strcmp(v, "avx2") ? STP_ISA_AVX2 : STP_ISA_AVX512;
		} else {
			fprintf(stderr, "usage: bench-conv [--size H] [--threads N] [--runs R] [--isa L] [--json]\n");
			return 2;
		}
	}
	if (size < 32 || threads < 1 || runs < 1 || !(density > 0 && density <= 1)) {
		fprintf(stderr, "bench-conv: bad arguments\n");
		return 2;
	}
	struct stp_threadpool *pool;
	if (stp_threadpool_create(threads, &pool) != STP_OK)
		return 1;
	const struct stp_kernels *kernels = stp_kernels_for(isa);
	double *t = malloc(sizeof(double) * runs);
	if (json)
		printf("[");
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		const struct shape *sh = &shapes[i];
		struct stp_conv_desc d = {sh->cin, sh->cout, 1, sh->k, sh->k, sh->s, sh->s,
					  sh->k / 2, sh->k / 2, 1, 1, 1, 0.0f};
		int h = size / sh->stride_in, w = size / sh->stride_in, oh, ow;
		stp_conv_output_size(&d, h, w, &oh, &ow);
		size_t wn = (size_t)sh->cout * sh->cin * sh->k * sh->k;
		float *wt = stp_calloc(wn, sizeof(float)), *bias = stp_calloc(sh->cout, sizeof(float));
		float *in = stp_calloc((size_t)h * w * sh->cin, sizeof(float));
		float *out = stp_calloc((size_t)oh * ow * sh->cout, sizeof(float));
		for (size_t j = 0; j < wn; j++) wt[j] = (float)((j * 7919) % 17) * 0.01f - 0.08f;
		for (size_t j = 0; j < (size_t)h * w * sh->cin; j++) in[j] = (float)((j * 31) % 13) * 0.1f;
		struct stp_conv *conv;
		if (stp_conv_create(&d, wt, bias, kernels, &conv) != STP_OK)
			return 1;
		float *zero = stp_calloc(stp_conv_zero_floats(conv), sizeof(float));
		const size_t table_bytes = (size_t)threads * stp_conv_table_bytes(conv) + 64;
		const struct stp_conv_scratch scratch = {zero, stp_alloc(table_bytes), table_bytes};
		struct stp_tensor tin = {in, h, w, sh->cin, sh->cin}, tout = {out, oh, ow, sh->cout, sh->cout};
		int32_t *list = malloc((size_t)oh * ow * sizeof(int32_t));
		size_t nlist = make_list(oh, ow, density, blocks, list);
		double dense_med = time_conv(conv, &tin, &tout, NULL, 0, &scratch, pool, runs, t);
		if (density < 1)
			time_conv(conv, &tin, &tout, list, nlist, &scratch, pool, runs, t);
		double flops = 2.0 * (double)nlist * (double)wn;
		double med = t[runs / 2], min = t[0];
		if (json)
			printf("%s{\"layer\": \"%s\", \"size\": %d, \"threads\": %d, \"isa\": \"%s\", "
			       "\"density\": %.4f, \"pattern\": \"%s\", \"min_ms\": %.4f, \"median_ms\": %.4f, "
			       "\"dense_median_ms\": %.4f, \"gflops_per_s_best\": %.2f, \"gflops_per_s_median\": %.2f}",
			       i ? ", " : "", sh->name, size, threads, stp_isa_name(isa),
			       (double)nlist / ((double)oh * ow), blocks ? "blocks" : "random", min, med,
			       dense_med, flops / min / 1e6, flops / med / 1e6);
		else
			printf("%-28s %4dx%-4d d=%.3f min %8.3f ms  median %8.3f ms  %7.1f GFLOP/s (best)"
			       "  %.2fx of dense (ideal %.2fx)\n",
			       sh->name, oh, ow, (double)nlist / ((double)oh * ow), min, med,
			       flops / min / 1e6, med / dense_med, (double)nlist / ((double)oh * ow));
		free(list);
		stp_conv_destroy(conv);
		stp_free(wt); stp_free(bias); stp_free(in); stp_free(out); stp_free(zero); stp_free(scratch.tables);
	}
	if (json)
		printf("]\n");
	free(t);
	stp_threadpool_destroy(pool);
	return 0;
}
