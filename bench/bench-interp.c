/*
 * bench-interp.c - the interpolation module's two forms side by side.
 *
 * For kernels the method uses (RBF a = 3, 7x7, as trained; average pooling
 * 7x7; a wide 11x11 average pooling) and mask densities 0.1 .. 0.7 (random
 * cells plus the grid prior, stride 11), times stp_interp_apply in the
 * gather form and in the separable form, and reports which one AUTO takes,
 * on a ResNet-50 layer2 map at 800x1216 (100x152) for the module's two
 * uses in a block: between convs (128 channels, the unsampled cells, in
 * place) and the last pass (512 channels, every cell, bias + shortcut +
 * ReLU). Prints one JSON array (--json) or a text table.
 *
 * usage: bench-interp [--threads N] [--runs R] [--json]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "sparse/interp.h"
#include "base/threadpool.h"
#include "bench-util.h"

#define H 100
#define W 152
#define GRID 11

struct kernel_case {
	const char *name;
	int k;
	float a;  /* RBF parameter; 0: average pooling */
};

static const struct kernel_case kernels[] = {
	{"rbf a=3 7x7", 7, 3.0f},
	{"avgpool 7x7", 7, 0.0f},
	{"avgpool 11x11", 11, 0.0f},
};
static const double densities[] = {0.1, 0.3, 0.5, 0.7};

/* Random cells at density d (a fixed hash of the cell) plus the grid. */
static void make_mask(double d, uint8_t *m)
{
	for (int p = 0; p < H * W; p++) {
		m[p] = bench_unit_hash((unsigned long long)p) < d ||
		       ((p / W) % GRID == 0 && (p % W) % GRID == 0);
	}
}

/* Best of `runs` runs (after one untimed) of one form; *used = the form run. */
static double time_form(const struct stp_interp_kernel *k, const uint8_t *m, const int32_t *targets,
			size_t nt, const struct stp_tensor *in, struct stp_tensor *out,
			const float *bias, const struct stp_tensor *res, int last,
			struct stp_interp_exec *exec, struct stp_threadpool *pool, int runs)
{
	double best = 1e30;
	for (int r = 0; r <= runs; r++) {
		const double t0 = bench_now_ms();
		double t;
		if (stp_interp_apply(k, m, last ? NULL : targets, nt, in, out, last ? bias : NULL,
				     last ? res : NULL, last, exec, pool) != STP_OK) {
			fprintf(stderr, "bench-interp: out of memory\n");
			exit(1);
		}
		t = bench_now_ms() - t0;
		if (r > 0 && t < best)
			best = t;
	}
	return best;
}

int main(int argc, char **argv)
{
	int threads = 1, runs = 10, json = 0, first = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--json")) json = 1;
		else {
			fprintf(stderr, "usage: bench-interp [--threads N] [--runs R] [--json]\n");
			return 2;
		}
	}
	if (threads < 1 || runs < 1) {
		fprintf(stderr, "bench-interp: bad arguments\n");
		return 2;
	}
	struct stp_threadpool *pool;
	if (stp_threadpool_create(threads, &pool) != STP_OK)
		return 1;
	const stp_gather_ukernel_fn gather = stp_kernels_for(stp_isa_best())->gather;
	const size_t cells = (size_t)H * W, cmax = 512;
	float *f = stp_calloc(cells * cmax, sizeof(float)), *o = stp_calloc(cells * cmax, sizeof(float));
	float *res = stp_calloc(cells * cmax, sizeof(float)), *bias = stp_calloc(cmax, sizeof(float));
	uint8_t *m = malloc(cells);
	int32_t *targets = malloc(cells * sizeof(int32_t));
	struct stp_interp_buffer buffer = {NULL, 0};
	if (!f || !o || !res || !bias || !m || !targets)
		return 1;
	for (size_t i = 0; i < cells * cmax; i++) {
		f[i] = (float)(i % 17) * 0.1f - 0.8f;
		res[i] = (float)(i % 5) * 0.1f;
	}
	if (json)
		printf("[");
	for (size_t ki = 0; ki < sizeof(kernels) / sizeof(kernels[0]); ki++) {
		struct stp_interp_kernel k;
		if (kernels[ki].a > 0) {
			stp_interp_kernel_rbf(&k, kernels[ki].k, kernels[ki].a);
		} else {
			k.k = kernels[ki].k;
			for (int i = 0; i < k.k * k.k; i++)
				k.w[i] = 1.0f;
		}
		for (size_t di = 0; di < sizeof(densities) / sizeof(densities[0]); di++) {
			size_t nt = 0;
			make_mask(densities[di], m);
			for (size_t p = 0; p < cells; p++)
				if (!m[p])
					targets[nt++] = (int32_t)p;
			for (int last = 0; last <= 1; last++) {
				const int c = last ? 512 : 128;
				struct stp_tensor in = {f, H, W, c, c}, out = {last ? o : f, H, W, c, c};
				struct stp_tensor tres = {res, H, W, c, c};
				const size_t n = last ? cells : nt;
				struct stp_interp_exec ex[3] = {
					{gather, &buffer, STP_INTERP_FORM_GATHER, STP_INTERP_FORM_AUTO, NULL},
					{gather, &buffer, STP_INTERP_FORM_SEPARABLE, STP_INTERP_FORM_AUTO, NULL},
					{gather, &buffer, STP_INTERP_FORM_AUTO, STP_INTERP_FORM_AUTO, NULL}};
				double ms[2];
				for (int form = 0; form < 2; form++)
					ms[form] = time_form(&k, m, targets, n, &in, &out, bias, &tres, last,
							     &ex[form], pool, runs);
				/* AUTO's choice only (one run). */
				time_form(&k, m, targets, n, &in, &out, bias, &tres, last, &ex[2], pool, 1);
				const char *use = last ? "last pass" : "between convs";
				const char *pick = ex[2].used == STP_INTERP_FORM_SEPARABLE ? "separable" : "gather";
				if (json)
					printf("%s{\"kernel\": \"%s\", \"use\": \"%s\", \"channels\": %d, "
					       "\"density\": %.2f, \"threads\": %d, \"gather_ms\": %.4f, "
					       "\"separable_ms\": %.4f, \"auto\": \"%s\"}",
					       first ? "" : ", ", kernels[ki].name, use, c, densities[di],
					       threads, ms[0], ms[1], pick);
				else
					printf("%-14s %-13s %3d ch d=%.1f  gather %7.3f ms  separable %7.3f ms"
					       "  (%.2fx)  auto: %s\n", kernels[ki].name, use, c,
					       densities[di], ms[0], ms[1], ms[1] / ms[0], pick);
				first = 0;
			}
		}
	}
	if (json)
		printf("]\n");
	stp_interp_buffer_free(&buffer);
	stp_free(f); stp_free(o); stp_free(res); stp_free(bias);
	free(m); free(targets);
	stp_threadpool_destroy(pool);
	return 0;
}
