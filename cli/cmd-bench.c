/*
 * cmd-bench.c - `stipple bench MODEL`: wall-clock time of a forward pass.
 *
 * Creates an engine with --threads and --isa, loads the model, makes one
 * session and one deterministic input (N(0,1)-like values from a fixed-seed
 * xorshift generator, the sum of four uniforms scaled to unit variance; or
 * with --image a photo resized to the size, so that masks follow its
 * structure), then
 * runs stp_session_run --warmup times untimed and --runs times timed with
 * CLOCK_MONOTONIC. Reports min, median and mean milliseconds, the model's
 * dense cost at that size, achieved GFLOP/s (total FLOPs over the median),
 * the session's workspace and the process's peak RSS. Sparse models run
 * with --budget / --mode / --seed and also report the mean mask density and
 * the backbone cost the last run spent (backbone_gmacs; the dense cost is
 * dense_backbone_gmacs). --profile adds a per-op (and per sparse-block
 * phase) time table (bench-profile.c). Memory is in MiB
 * (2^20 bytes) though the keys say "mb". With --json the report is one JSON
 * object on one line, for scripts (bench/run-bench.sh).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <jansson.h>

#include "image.h"
#include "cli.h"

struct bench_opts {
	int size[2];   /* input height, width */
	int threads;
	int runs;
	int warmup;
	int isa;       /* enum stp_isa */
	int json;
	struct stp_run_options run; /* --budget: mode and budget */
	int mode;      /* enum stp_sampling */
	int seed;
	int profile;   /* also time every op (bench-profile.c) */
	const char *image;  /* NULL: the random input; else this photo, resized */
};

static const char *const mode_choices[] = {"deterministic", "stochastic", NULL};

static const struct cli_option bench_options[] = {
	{"size", CLI_OPT_SIZE, "HxW", 1, CLI_SIZE_MAX, NULL, offsetof(struct bench_opts, size),
	 "input height x width (default 800x1216)", 0},
	{"threads", CLI_OPT_INT, "N", 1, 256, NULL, offsetof(struct bench_opts, threads),
	 "engine threads, the caller included (default 1)", 0},
	{"runs", CLI_OPT_INT, "R", 1, 100000, NULL, offsetof(struct bench_opts, runs),
	 "timed runs (default 10)", 0},
	{"warmup", CLI_OPT_INT, "W", 0, 100000, NULL, offsetof(struct bench_opts, warmup),
	 "untimed runs first (default 1)", 0},
	{"isa", CLI_OPT_CHOICE, "auto|scalar|avx2|avx512", 0, 0, cli_isa_choices,
	 offsetof(struct bench_opts, isa), "kernel level (default auto: the best, or $STIPPLE_ISA)", 0},
	{"json", CLI_OPT_FLAG, NULL, 0, 0, NULL, offsetof(struct bench_opts, json),
	 "print one JSON object instead of text", 0},
	{"budget", CLI_OPT_BUDGET, "RHO|dense|auto", 0, 0, NULL, offsetof(struct bench_opts, run),
	 "sparse models: spend at most RHO x the dense backbone cost; dense = every cell; "
	 "auto = the trained masks (default)", 0},
	{"mode", CLI_OPT_CHOICE, "deterministic|stochastic", 0, 0, mode_choices,
	 offsetof(struct bench_opts, mode), "how trained masks sample (default deterministic)", 0},
	{"seed", CLI_OPT_INT, "S", 0, 2147483647, NULL, offsetof(struct bench_opts, seed),
	 "noise seed of the stochastic mode (default 0)", 0},
	{"profile", CLI_OPT_FLAG, NULL, 0, 0, NULL, offsetof(struct bench_opts, profile),
	 "then R profiled runs: time per op and per sparse-block phase (min over runs)", 0},
	{"image", CLI_OPT_STRING, "FILE", 0, 0, NULL, offsetof(struct bench_opts, image),
	 "a JPEG or PNG photo as the input instead of random values: resized to the size "
	 "(bilinear), each channel scaled to mean 0 and variance 1 (3-channel models)", 0},
};

static void bench_defaults(void *p)
{
	struct bench_opts *o = p;

	o->size[0] = CLI_DEFAULT_H;
	o->size[1] = CLI_DEFAULT_W;
	o->threads = 1;
	o->runs = 10;
	o->warmup = 1;
	o->isa = STP_ISA_AUTO;
	o->json = 0;
	o->run = (struct stp_run_options){.mode = STP_RUN_TRAINED};
	o->mode = STP_SAMPLING_DETERMINISTIC;
	o->seed = 0;
	o->profile = 0;
}

struct bench_result {
	double min_ms, median_ms, mean_ms;
	struct stp_cost cost;
	struct stp_run_report report;  /* of the last timed run */
	struct bench_profile profile;  /* --profile only */
	double workspace_mb, peak_rss_mb;
	int threads;
	enum stp_isa isa;
};

/* x (h x w x 3) = the w0 x h0 RGB image resized bilinearly (pixel centres
 * aligned), each channel then scaled to mean 0 and variance 1: spatial
 * structure a random input lacks, so that masks follow it. */
static void photo_input(const uint8_t *rgb, int h0, int w0, int h, int w, float *x)
{
	double sum[3] = {0, 0, 0}, sq[3] = {0, 0, 0};
	const size_t cells = (size_t)h * (size_t)w;

	for (int y = 0; y < h; y++) {
		const double sy = fmax(0.0, fmin(h0 - 1.0, (y + 0.5) * h0 / h - 0.5));
		const int y0 = (int)sy, y1 = y0 + 1 < h0 ? y0 + 1 : y0;
		const double fy = sy - y0;
		for (int xx = 0; xx < w; xx++) {
			const double sx = fmax(0.0, fmin(w0 - 1.0, (xx + 0.5) * w0 / w - 0.5));
			const int x0 = (int)sx, x1 = x0 + 1 < w0 ? x0 + 1 : x0;
			const double fx = sx - x0;
			for (int c = 0; c < 3; c++) {
				const double top = rgb[((size_t)y0 * w0 + x0) * 3 + c] * (1 - fx) +
						   rgb[((size_t)y0 * w0 + x1) * 3 + c] * fx;
				const double bottom = rgb[((size_t)y1 * w0 + x0) * 3 + c] * (1 - fx) +
						      rgb[((size_t)y1 * w0 + x1) * 3 + c] * fx;
				const double v = top * (1 - fy) + bottom * fy;
				x[((size_t)y * w + xx) * 3 + c] = (float)v;
				sum[c] += v;
				sq[c] += v * v;
			}
		}
	}
	for (int c = 0; c < 3; c++) {
		const double mean = sum[c] / (double)cells;
		const double var = sq[c] / (double)cells - mean * mean;
		const double inv = var > 1e-12 ? 1.0 / sqrt(var) : 1.0;
		for (size_t p = 0; p < cells; p++)
			x[p * 3 + c] = (float)((x[p * 3 + c] - mean) * inv);
	}
}

/* Fills n floats with a fixed pseudo-random sequence of mean 0, variance 1. */
static void fill_input(float *x, size_t n)
{
	uint64_t s = 0x9e3779b97f4a7c15u;

	for (size_t i = 0; i < n; i++) {
		double sum = 0;
		for (int k = 0; k < 4; k++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			sum += (double)(s >> 11) / 9007199254740992.0;   /* [0, 1) */
		}
		x[i] = (float)((sum - 2.0) * sqrt(3.0));
	}
}

static double peak_rss_mb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_maxrss / 1024.0;   /* ru_maxrss is in KiB on Linux */
}

/* Rounds to 4 decimals so the JSON shows no binary noise. */
static double r4(double x)
{
	return round(x * 1e4) / 1e4;
}

static int print_json(const char *path, const struct bench_opts *o,
		      const struct bench_result *r)
{
	json_t *root;
	int rc = CLI_EXIT_OK;

	root = json_pack("{s:s, s:[ii], s:i, s:s, s:i, s:i, s:f, s:f, s:f,"
			 " s:f, s:f, s:f, s:f, s:f, s:o, s:i, s:s, s:i, s:f, s:f, s:f, s:f}",
			 "model", path,
			 "size", o->size[0], o->size[1],
			 "threads", r->threads,
			 "isa", stp_isa_name(r->isa),
			 "runs", o->runs,
			 "warmup", o->warmup,
			 "min_ms", r4(r->min_ms),
			 "median_ms", r4(r->median_ms),
			 "mean_ms", r4(r->mean_ms),
			 "backbone_gmacs", r4(r->report.backbone_macs / 1e9),
			 "dense_backbone_gmacs", r4(r->report.dense_backbone_macs / 1e9),
			 "network_gmacs", r4(r->report.network_macs / 1e9),
			 "dense_network_gmacs", r4(r->report.dense_network_macs / 1e9),
			 "density", r4(r->report.mean_density),
			 "budget", cli_budget_json(&o->run),
			 "masks", r->report.nmasks,
			 "mode", mode_choices[o->mode],
			 "seed", o->seed,
			 "total_gflops", r4(r->cost.total_flops / 1e9),
			 "gflops_per_s", r4(r->cost.total_flops / 1e6 / r->median_ms),
			 "workspace_mb", r4(r->workspace_mb),
			 "peak_rss_mb", r4(r->peak_rss_mb));
	if (root && o->profile)
		json_object_set_new(root, "profile", bench_profile_json(&r->profile));
	if (root == NULL || json_dumpf(root, stdout, JSON_REAL_PRECISION(15)) != 0) {
		cli_error("bench", "cannot build the JSON output");
		rc = CLI_EXIT_FAIL;
	} else {
		putchar('\n');
	}
	json_decref(root);
	return rc;
}

static void print_text(const char *path, const struct bench_opts *o,
		       const struct bench_result *r)
{
	char budget[32];

	printf("model        %s\n", path);
	printf("input        %dx%d, threads %d, isa %s\n", o->size[0], o->size[1],
	       r->threads, stp_isa_name(r->isa));
	printf("runs         %d timed after %d warm-up\n", o->runs, o->warmup);
	printf("time         min %.3f ms, median %.3f ms, mean %.3f ms\n",
	       r->min_ms, r->median_ms, r->mean_ms);
	printf("cost         backbone %.2f GMACs (dense %.2f), total %.2f GFLOPs dense\n",
	       r->report.backbone_macs / 1e9, r->report.dense_backbone_macs / 1e9,
	       r->cost.total_flops / 1e9);
	if (r->report.nmasks > 0)
		printf("sparsity     %d masks, mean density %.3f, budget %s, mode %s, seed %d\n",
		       r->report.nmasks, r->report.mean_density,
		       cli_budget_text(&o->run, budget, sizeof(budget)), mode_choices[o->mode], o->seed);
	printf("speed        %.1f GFLOP/s (%s FLOPs / median time)\n",
	       r->cost.total_flops / 1e6 / r->median_ms,
	       r->report.backbone_macs < r->report.dense_backbone_macs ? "the dense network's"
								     : "total");
	printf("memory       workspace %.1f MiB, peak RSS %.1f MiB\n",
	       r->workspace_mb, r->peak_rss_mb);
	if (o->profile)
		bench_profile_print(&r->profile);
}

/* Runs the session warmup + runs times and fills the timing fields of r. */
static enum stp_status time_runs(stp_session *session, const float *input,
				 const struct bench_opts *o, struct bench_result *r)
{
	double *t = malloc(sizeof(double) * (size_t)o->runs);
	const struct stp_run_options ro = cli_run_options(o->run, o->mode, o->seed);
	enum stp_status st = STP_OK;
	double sum = 0;
	int n = o->runs;

	if (t == NULL)
		return STP_ERR_NOMEM;
	for (int i = 0; i < o->warmup && st == STP_OK; i++)
		st = stp_session_run_with(session, input, o->size[0], o->size[1], &ro);
	for (int i = 0; i < n && st == STP_OK; i++) {
		double t0 = cli_now_ms();
		st = stp_session_run_with(session, input, o->size[0], o->size[1], &ro);
		t[i] = cli_now_ms() - t0;
		sum += t[i];
	}
	if (st == STP_OK)
		st = stp_session_report(session, &r->report);
	if (st == STP_OK) {
		cli_sort_ms(t, n);
		r->min_ms = t[0];
		r->median_ms = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
		r->mean_ms = sum / n;
	}
	free(t);
	return st;
}

static int bench_run(const char *const *args, const void *p)
{
	const char *path = args[0];
	const struct bench_opts *o = p;
	const struct stp_run_options ro = cli_run_options(o->run, o->mode, o->seed);
	struct bench_result r = {0};
	stp_engine *engine = NULL;
	stp_model *model = NULL;
	stp_session *session = NULL;
	float *input = NULL;
	enum stp_status st;
	size_t n;
	int rc;

	rc = cli_load("bench", path, o->threads, (enum stp_isa)o->isa, &engine, &model);
	if (rc != CLI_EXIT_OK)
		goto error;
	rc = CLI_EXIT_FAIL;
	st = stp_model_cost(model, o->size[0], o->size[1], &r.cost);
	if (st != STP_OK) {
		cli_error("bench", "cannot compute the cost at %dx%d: %s", o->size[0],
			  o->size[1], stp_status_str(st));
		goto error;
	}
	/* Both sides are at most CLI_SIZE_MAX and channels at most 4: no overflow. */
	n = (size_t)o->size[0] * (size_t)o->size[1] * (size_t)stp_model_input_channels(model);
	input = malloc(n * sizeof(float));
	if (input == NULL) {
		cli_error("bench", "cannot allocate a %dx%d input", o->size[0], o->size[1]);
		goto error;
	}
	if (o->image) {
		uint8_t *rgb = NULL;
		struct image_info info;
		char why[512];

		if (stp_model_input_channels(model) != 3) {
			cli_error("bench", "--image needs a 3-channel model, %s has %d", path,
				  stp_model_input_channels(model));
			goto error;
		}
		if (cli_read_image(o->image, &rgb, &info, why, sizeof(why)) != 0) {
			cli_error("bench", "%s", why);
			goto error;
		}
		photo_input(rgb, info.height, info.width, o->size[0], o->size[1], input);
		free(rgb);
	} else {
		fill_input(input, n);
	}
	st = stp_session_create(model, &session);
	if (st == STP_OK)
		st = time_runs(session, input, o, &r);
	if (st == STP_OK && o->profile)
		st = bench_profile_run(session, input, o->size[0], o->size[1], &ro, o->runs,
				       &r.profile);
	if (st != STP_OK) {
		char why[256];
		cli_error("bench", "run at %dx%d failed: %s", o->size[0], o->size[1],
			  cli_run_failure(session, st, &ro, why, sizeof(why)));
		goto error;
	}
	r.workspace_mb = (double)stp_session_workspace_bytes(session) / (1024.0 * 1024.0);
	r.peak_rss_mb = peak_rss_mb();
	r.threads = stp_engine_threads(engine);
	r.isa = stp_engine_isa(engine);
	if (o->json) {
		rc = print_json(path, o, &r);
	} else {
		print_text(path, o, &r);
		rc = CLI_EXIT_OK;
	}
error:
	bench_profile_free(&r.profile);
	free(input);
	stp_session_destroy(session);
	stp_model_destroy(model);
	stp_engine_destroy(engine);
	return rc;
}

const struct cli_command cli_cmd_bench = {
	"bench",
	"time forward passes of a model on a fixed random input",
	"MODEL",
	1,
	0,
	bench_options,
	sizeof(bench_options) / sizeof(bench_options[0]),
	sizeof(struct bench_opts),
	bench_defaults,
	bench_run,
};
