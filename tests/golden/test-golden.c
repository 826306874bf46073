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
 * An unreadable golden file is a harness error (99); a kernel level the CPU
 * lacks is a skip (77).
 */
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

int main(int argc, char **argv)
{
	struct stp_engine_options opts = {1, STP_ISA_AUTO};
	stp_engine *engine = NULL;
	stp_model *model = NULL;
	stp_session *session = NULL;
	struct stp_st_file *golden = NULL;
	const struct stp_st_tensor *input;
	const char *outputs;
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

	st = stp_engine_create(&opts, &engine);
	if (st == STP_ERR_UNSUPPORTED)
		SKIP("kernel level not supported by this CPU");
	CHECK(st == STP_OK, "stp_engine_create: %s", stp_status_str(st));
	if (st != STP_OK)
		goto done;
	printf("%s, %s, %d thread(s), input %lldx%lld\n", argv[1],
	       stp_isa_name(stp_engine_isa(engine)), stp_engine_threads(engine),
	       (long long)input->shape[0], (long long)input->shape[1]);

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
	st = stp_session_run(session, input->data, (int)input->shape[0], (int)input->shape[1]);
	CHECK(st == STP_OK, "stp_session_run: %s", stp_status_str(st));
	if (st != STP_OK)
		goto done;

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
