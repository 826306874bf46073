/*
 * test-golden.c - the engine's outputs equal PyTorch's (float64) on one input.
 *
 * Usage: test-golden MODEL GOLDEN [threads]
 *
 * GOLDEN is written by train/stipple_train/golden.py: tensor "input" [H, W, C]
 * and one [h, w, c] tensor per output, named as the engine names its outputs,
 * with metadata "outputs" listing them in order. The engine (kernel level from
 * $STIPPLE_ISA) runs the input through MODEL; every output must have the
 * golden's name, position and shape, and a relative L2 error of at most 1e-4.
 *
 * Goldens of sparse models also carry metadata "sampling" ("deterministic" or
 * "stochastic"), "seed" and "masks" (the mask count) and one [h, w] tensor
 * "mask.{i}" of 0/1 per mask, network order; MODEL is then the model golden.py
 * calibrated on the input, so that no mask cell lies near its threshold. The
 * run uses that sampling mode and seed (absent: deterministic, 0), the engine
 * must have as many masks as "masks" says (absent: 0), and each mask it
 * sampled must equal the golden's cell for cell.
 * An unreadable golden file is a harness error (99); a kernel level the CPU
 * lacks is a skip (77).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stipple.h"
#include "model/safetensors.h"
#include "testutil.h"

#define MAX_REL_L2 1e-4

/* Reads the whole file at path; the caller frees *out with free(). */
static int read_file(const char *path, void **out, size_t *size)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;
	int ok = 0;

	if (!f)
		return 0;
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto error;
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
		goto error;
	*out = buf;
	*size = (size_t)len;
	buf = NULL;
	ok = 1;
error:
	free(buf);
	fclose(f);
	return ok;
}

/* The i-th comma-separated name of list into buf; 0 when there is none. */
static int list_item(const char *list, int i, char *buf, size_t buflen)
{
	const char *p = list;
	size_t n;

	for (; i > 0; i--) {
		p = strchr(p, ',');
		if (!p)
			return 0;
		p++;
	}
	n = strcspn(p, ",");
	if (n == 0 || n >= buflen)
		return 0;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 1;
}

/* Parses a decimal uint64 metadata value; 0 when it is not one. */
static int parse_u64(const char *text, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*text < '0' || *text > '9')
		return 0;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	*out = (uint64_t)v;
	return 1;
}

static int list_count(const char *list)
{
	int n = *list ? 1 : 0;
	for (; *list; list++)
		n += *list == ',';
	return n;
}

/* Compares output index of session against golden tensor g. */
static void check_output(const stp_session *session, int index, const char *name,
			 const struct stp_st_tensor *g)
{
	struct stp_tensor_view v;
	float *dense = NULL;
	size_t n;
	enum stp_status st = stp_session_output(session, index, &v);

	CHECK(st == STP_OK, "%s: stp_session_output: %s", name, stp_status_str(st));
	if (st != STP_OK)
		return;
	CHECK(g->ndim == 3 && g->shape[0] == v.h && g->shape[1] == v.w && g->shape[2] == v.c,
	      "%s: engine shape %dx%dx%d differs from the golden's", name, v.h, v.w, v.c);
	if (g->ndim != 3 || g->shape[0] != v.h || g->shape[1] != v.w || g->shape[2] != v.c)
		return;
	n = g->count;
	dense = malloc(n ? n * sizeof(float) : 1);
	if (!dense)
		HARNESS_ERROR("out of memory");
	for (size_t p = 0; p < (size_t)v.h * (size_t)v.w; p++)
		memcpy(dense + p * (size_t)v.c, v.data + p * (size_t)v.c_stride,
		       (size_t)v.c * sizeof(float));
	double err = test_rel_l2(dense, g->data, n);
	printf("%-6s %4d x %4d x %4d  rel_l2 %.3g\n", name, v.h, v.w, v.c, err);
	CHECK(err <= MAX_REL_L2, "%s: relative L2 error %.3g > %g", name, err, MAX_REL_L2);
	free(dense);
}

/* Compares mask index of session against golden tensor g ([h, w] of 0/1). */
static void check_mask(const stp_session *session, int index, const struct stp_st_tensor *g)
{
	const uint8_t *cells;
	int h, w;
	size_t differ = 0, n;
	enum stp_status st = stp_session_mask(session, index, &cells, &h, &w);

	CHECK(st == STP_OK, "mask %d: stp_session_mask: %s", index, stp_status_str(st));
	if (st != STP_OK)
		return;
	CHECK(g->ndim == 2 && g->shape[0] == h && g->shape[1] == w,
	      "mask %d: engine shape %dx%d differs from the golden's", index, h, w);
	if (g->ndim != 2 || g->shape[0] != h || g->shape[1] != w)
		return;
	n = (size_t)h * (size_t)w;
	for (size_t p = 0; p < n; p++)
		differ += (cells[p] != 0) != (g->data[p] != 0.0f);
	CHECK(differ == 0, "mask %d (%dx%d): %zu of %zu cells differ from the golden's", index, h,
	      w, differ, n);
}

/* The run options a golden's metadata asks for; 0 if it is malformed. */
static int golden_run_options(const struct stp_st_file *golden, struct stp_run_options *opts)
{
	const char *sampling = stp_st_meta(golden, "sampling");
	const char *seed = stp_st_meta(golden, "seed");

	*opts = (struct stp_run_options){.mode = STP_RUN_TRAINED};
	if (sampling && strcmp(sampling, "stochastic") == 0)
		opts->sampling = STP_SAMPLING_STOCHASTIC;
	else if (sampling && strcmp(sampling, "deterministic") != 0)
		return 0;
	return !seed || parse_u64(seed, &opts->seed);
}

int main(int argc, char **argv)
{
	struct stp_engine_options opts = {1, STP_ISA_AUTO};
	stp_engine *engine = NULL;
	stp_model *model = NULL;
	stp_session *session = NULL;
	struct stp_st_file *golden = NULL;
	const struct stp_st_tensor *input;
	const char *outputs, *masks_meta;
	struct stp_run_options run_opts;
	struct stp_run_report report;
	uint64_t nmasks = 0;
	void *data = NULL;
	size_t size = 0;
	char err[256] = "";
	enum stp_status st;

	if (argc < 3 || argc > 4)
		HARNESS_ERROR("usage: test-golden MODEL GOLDEN [threads]");
	if (argc == 4)
		opts.threads = atoi(argv[3]);
	if (opts.threads < 1)
		HARNESS_ERROR("bad thread count '%s'", argv[3]);
	if (!read_file(argv[2], &data, &size))
		HARNESS_ERROR("cannot read %s", argv[2]);
	if (stp_st_parse(data, size, &golden, err, sizeof err) != STP_OK)
		HARNESS_ERROR("%s: %s", argv[2], err);
	free(data);
	input = stp_st_find(golden, "input");
	outputs = stp_st_meta(golden, "outputs");
	if (!input || input->ndim != 3 || !outputs)
		HARNESS_ERROR("%s: no input [H, W, C] or no outputs metadata", argv[2]);
	masks_meta = stp_st_meta(golden, "masks");
	if (!golden_run_options(golden, &run_opts) ||
	    (masks_meta && (!parse_u64(masks_meta, &nmasks) || nmasks > INT32_MAX)))
		HARNESS_ERROR("%s: bad sampling, seed or masks metadata", argv[2]);

	st = stp_engine_create(&opts, &engine);
	if (st == STP_ERR_UNSUPPORTED)
		SKIP("kernel level not supported by this CPU");
	CHECK(st == STP_OK, "stp_engine_create: %s", stp_status_str(st));
	if (st != STP_OK)
		goto done;
	printf("%s, %s, %d thread(s), input %lldx%lld, %s sampling, seed %llu\n", argv[1],
	       stp_isa_name(stp_engine_isa(engine)), stp_engine_threads(engine),
	       (long long)input->shape[0], (long long)input->shape[1],
	       run_opts.sampling == STP_SAMPLING_STOCHASTIC ? "stochastic" : "deterministic",
	       (unsigned long long)run_opts.seed);

	st = stp_model_load(engine, argv[1], &model, err, sizeof err);
	CHECK(st == STP_OK, "stp_model_load: %s: %s", stp_status_str(st), err);
	if (st != STP_OK)
		goto done;
	CHECK(stp_model_input_channels(model) == input->shape[2], "input channels %d, golden %lld",
	      stp_model_input_channels(model), (long long)input->shape[2]);
	CHECK(stp_model_output_count(model) == list_count(outputs), "%d outputs, golden has %d",
	      stp_model_output_count(model), list_count(outputs));

	st = stp_session_create(model, &session);
	CHECK(st == STP_OK, "stp_session_create: %s", stp_status_str(st));
	if (st != STP_OK)
		goto done;
	st = stp_session_run_with(session, input->data, (int)input->shape[0],
				  (int)input->shape[1], &run_opts);
	CHECK(st == STP_OK, "stp_session_run_with: %s", stp_status_str(st));
	if (st != STP_OK)
		goto done;
	st = stp_session_report(session, &report);
	CHECK(st == STP_OK, "stp_session_report: %s", stp_status_str(st));
	if (st != STP_OK)
		goto done;
	CHECK((uint64_t)report.nmasks == nmasks, "%d masks, golden has %llu", report.nmasks,
	      (unsigned long long)nmasks);

	for (int i = 0; i < report.nmasks && (uint64_t)i < nmasks; i++) {
		char name[32];
		const struct stp_st_tensor *g;

		snprintf(name, sizeof name, "mask.%d", i);
		g = stp_st_find(golden, name);
		CHECK(g != NULL, "golden has no tensor '%s'", name);
		if (g)
			check_mask(session, i, g);
	}
	if (report.nmasks > 0)
		printf("%d masks, mean density %.3f\n", report.nmasks, report.mean_density);

	for (int i = 0; i < stp_model_output_count(model); i++) {
		const char *name = stp_model_output_name(model, i);
		char want[64];
		const struct stp_st_tensor *g;

		CHECK(name && list_item(outputs, i, want, sizeof want) && strcmp(name, want) == 0,
		      "output %d is '%s', golden expects '%s'", i, name ? name : "(null)",
		      list_item(outputs, i, want, sizeof want) ? want : "(none)");
		g = name ? stp_st_find(golden, name) : NULL;
		CHECK(g != NULL, "golden has no tensor '%s'", name ? name : "(null)");
		if (g)
			check_output(session, i, name, g);
	}
done:
	stp_session_destroy(session);
	stp_model_destroy(model);
	stp_engine_destroy(engine);
	stp_st_free(golden);
	return test_main_end();
}
