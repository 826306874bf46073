/*
 * test-faults.c - allocation-failure testing, after SQLite's fault
 * simulation: for every N, the Nth allocation from the start of an
 * operation fails (stp_alloc_fail_nth, engine/base/alloc.c), and the
 * operation must return STP_ERR_NOMEM, leave no object behind, leak nothing
 * (ASan's leak check in CI) and leave what it was given usable: the same
 * session then runs and gives exactly the output of an undisturbed run.
 * Once a session has run at a size, its next run there (and the report)
 * allocates nothing at all; nor does the first run of a session sized
 * beforehand (stp_session_reserve), whose scratch the run leaves as it
 * found it, and a reserve that fails leaves the session usable. A session that ran at one size and then fails
 * at another holds no results (outputs and report refuse) until a run
 * succeeds.
 *
 * Operations: model load (both shipped models: the sparse ResNet-18 detector
 * + segmenter and the GFL detector nanodet-g), session creation, and runs of
 * a fresh session (its first run reshapes it; or reserve) in the run modes (dense,
 * budget 0.5, stochastic trained masks) with every task the model has. A
 * run may also absorb a failure (a conv then runs one tile at a time from a
 * stack table): then its result must be exactly the undisturbed one.
 *
 * N grows until an operation completes without meeting the armed failure:
 * by 1 up to 64, then by 7 (test_next_fault) (a model load makes 500-800
 * allocations, mostly the same few per tensor); STIPPLE_FAULTS_ALL=1 tries
 * every N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "base/internal.h"

#define IMAGE_H 72
#define IMAGE_W 100
#define MAX_N 100000   /* far above any operation's allocations */

/* What a run leaves: the first output and the detections, copied. */
struct outcome {
	float *output;
	size_t floats;
	int ndet;
	struct stp_detection det[64];
};

static void outcome_of(const stp_session *s, struct outcome *o)
{
	const struct stp_detection *d;
	struct stp_tensor_view v;

	memset(o, 0, sizeof(*o));
	if (stp_session_output(s, 0, &v) != STP_OK)
		HARNESS_ERROR("no output");
	o->floats = (size_t)v.h * v.w * v.c;
	o->output = malloc(o->floats * sizeof(float));
	if (!o->output)
		HARNESS_ERROR("out of memory");
	for (int p = 0; p < v.h * v.w; p++)
		memcpy(o->output + (size_t)p * v.c, v.data + (size_t)p * v.c_stride,
		       (size_t)v.c * sizeof(float));
	o->ndet = stp_session_detections(s, &d);
	if (o->ndet > 64)
		o->ndet = 64;
	if (o->ndet > 0)
		memcpy(o->det, d, (size_t)o->ndet * sizeof(*d));
}

static int same_outcome(const struct outcome *a, const struct outcome *b)
{
	return a->floats == b->floats && a->ndet == b->ndet &&
	       memcmp(a->output, b->output, a->floats * sizeof(float)) == 0 &&
	       memcmp(a->det, b->det, (size_t)a->ndet * sizeof(a->det[0])) == 0;
}

/* The outcome of an undisturbed run of a fresh session of m on rgb (h x w)
 * into ref. */
static void undisturbed(const char *name, const stp_model *m, const uint8_t *rgb, int h, int w,
			const struct stp_run_options *ro, struct outcome *ref)
{
	stp_session *s;

	if (stp_session_create(m, &s) != STP_OK ||
	    stp_session_run_image(s, rgb, h, w, (size_t)w * 3, ro, stp_model_tasks(m)) != STP_OK)
		HARNESS_ERROR("%s: the undisturbed run fails", name);
	outcome_of(s, ref);
	stp_session_destroy(s);
}

/* Whether s runs rgb (h x w, rows 3w bytes) with ro and tasks and gives
 * exactly ref. */
static int run_gives(stp_session *s, const uint8_t *rgb, int h, int w,
		     const struct stp_run_options *ro, unsigned tasks, const struct outcome *ref)
{
	struct outcome got;
	int same;

	if (stp_session_run_image(s, rgb, h, w, (size_t)w * 3, ro, tasks) != STP_OK)
		return 0;
	outcome_of(s, &got);
	same = same_outcome(ref, &got);
	free(got.output);
	return same;
}

static void test_load(stp_engine *e, const char *name, const unsigned char *file, size_t size)
{
	long n, tried = 0;

	for (n = 1; n < MAX_N; n = test_next_fault(n), tried++) {
		stp_model *m = (stp_model *)&n;   /* must come back NULL on failure */
		char err[256] = "";
		enum stp_status st;

		stp_alloc_fail_nth(n);
		st = stp_model_load_buffer(e, file, size, &m, err, sizeof(err));
		stp_alloc_fail_nth(0);
		if (stp_alloc_failures() == 0) {
			CHECK(st == STP_OK, "%s: load without a failure: %s", name, err);
			stp_model_destroy(m);
			break;
		}
		if (st == STP_OK)
			stp_model_destroy(m);
		CHECK(st == STP_ERR_NOMEM && m == NULL, "%s: load with allocation %ld failing: %s (%s)",
		      name, n, stp_status_str(st), err);
	}
	printf("%s: model load survives its allocations failing (%ld tried, fewer than %ld)\n",
	       name, tried, n);
}

static void test_session_create(const char *name, const stp_model *m)
{
	long n;

	for (n = 1; n < MAX_N; n++) {
		stp_session *s = (stp_session *)&n;
		enum stp_status st;

		stp_alloc_fail_nth(n);
		st = stp_session_create(m, &s);
		stp_alloc_fail_nth(0);
		if (stp_alloc_failures() == 0) {
			CHECK(st == STP_OK, "%s: session without a failure", name);
			stp_session_destroy(s);
			break;
		}
		if (st == STP_OK)
			stp_session_destroy(s);
		CHECK(st == STP_ERR_NOMEM && s == NULL, "%s: session with allocation %ld failing: %s",
		      name, n, stp_status_str(st));
	}
	printf("%s: session creation survives each of its %ld allocations failing\n", name, n - 1);
}

/* A session sized by stp_session_reserve: its first run allocates nothing,
 * keeps its scratch and gives ref. */
static void test_reserved_run(const char *name, const stp_model *m,
			      const struct stp_run_options *ro, const char *mode,
			      const uint8_t *rgb, const struct outcome *ref)
{
	struct outcome got;
	stp_session *s;
	size_t bytes;
	enum stp_status st;

	if (stp_session_create(m, &s) != STP_OK)
		HARNESS_ERROR("session");
	CHECK(stp_session_reserve(s, IMAGE_H, IMAGE_W) == STP_OK, "%s: reserve", name);
	bytes = stp_session_workspace_bytes(s);
	stp_alloc_fail_nth(1);
	st = stp_session_run_image(s, rgb, IMAGE_H, IMAGE_W, IMAGE_W * 3, ro, stp_model_tasks(m));
	CHECK(st == STP_OK && stp_alloc_failures() == 0,
	      "%s %s: the first run of a reserved session allocates nothing: %s", name, mode,
	      stp_status_str(st));
	stp_alloc_fail_nth(0);
	CHECK(bytes > 0 && stp_session_workspace_bytes(s) == bytes,
	      "%s %s: the run keeps the reserved scratch (%zu bytes, then %zu)", name, mode, bytes,
	      stp_session_workspace_bytes(s));
	if (st == STP_OK) {
		outcome_of(s, &got);
		CHECK(same_outcome(ref, &got), "%s %s: a reserved session's run differs", name, mode);
		free(got.output);
	}
	stp_session_destroy(s);
}

/* Reserving fails at each allocation: STP_ERR_NOMEM, then the session runs
 * as if nothing happened. */
static void test_reserve_faults(const char *name, const stp_model *m, const uint8_t *rgb)
{
	const struct stp_run_options ro = {.mode = STP_RUN_DENSE};
	const unsigned tasks = stp_model_tasks(m);
	struct outcome ref;
	stp_session *s;
	long n;

	undisturbed(name, m, rgb, IMAGE_H, IMAGE_W, &ro, &ref);
	for (n = 1; n < MAX_N; n = test_next_fault(n)) {
		enum stp_status st;

		if (stp_session_create(m, &s) != STP_OK)
			HARNESS_ERROR("session");
		stp_alloc_fail_nth(n);
		st = stp_session_reserve(s, IMAGE_H, IMAGE_W);
		stp_alloc_fail_nth(0);
		if (stp_alloc_failures() == 0) {
			CHECK(st == STP_OK, "%s: reserve without a failure", name);
			stp_session_destroy(s);
			break;
		}
		CHECK(st == STP_ERR_NOMEM, "%s: reserve with allocation %ld failing: %s", name, n,
		      stp_status_str(st));
		CHECK(run_gives(s, rgb, IMAGE_H, IMAGE_W, &ro, tasks, &ref),
		      "%s: the run after reserve failure %ld gives the undisturbed result", name, n);
		stp_session_destroy(s);
	}
	printf("%s: reserve survives its allocations failing (fewer than %ld)\n", name, n);
	free(ref.output);
}

/* A session reserved, run, moved to an engine of one thread and reserved
 * again: its next run allocates nothing either. */
static void test_reserve_threads(const char *name, const stp_model *m, stp_engine *one,
				 const uint8_t *rgb)
{
	const struct stp_run_options ro = {.mode = STP_RUN_BUDGET, .budget = 0.5};
	const unsigned tasks = stp_model_tasks(m);
	stp_session *s;
	enum stp_status st;

	if (stp_session_create(m, &s) != STP_OK ||
	    stp_session_run_image(s, rgb, IMAGE_H, IMAGE_W, IMAGE_W * 3, &ro, tasks) != STP_OK ||
	    stp_session_set_engine(s, one) != STP_OK)
		HARNESS_ERROR("%s: session", name);
	CHECK(stp_session_reserve(s, IMAGE_H, IMAGE_W) == STP_OK, "%s: reserve for 1 thread", name);
	stp_alloc_fail_nth(1);
	st = stp_session_run_image(s, rgb, IMAGE_H, IMAGE_W, IMAGE_W * 3, &ro, tasks);
	CHECK(st == STP_OK && stp_alloc_failures() == 0,
	      "%s: a run on 1 thread after reserving for it allocates nothing: %s", name,
	      stp_status_str(st));
	stp_alloc_fail_nth(0);
	stp_session_destroy(s);
}

/* rep: the undisturbed run's report. */
static void test_runs(const char *name, const stp_model *m, const struct stp_run_options *ro,
		      const char *mode, const uint8_t *rgb, struct stp_run_report *rep)
{
	const unsigned tasks = stp_model_tasks(m);
	struct outcome ref, got;
	stp_session *s;
	long n;

	if (stp_session_create(m, &s) != STP_OK ||
	    stp_session_run_image(s, rgb, IMAGE_H, IMAGE_W, IMAGE_W * 3, ro, tasks) != STP_OK)
		HARNESS_ERROR("%s: the undisturbed run fails", name);
	outcome_of(s, &ref);
	/* Sized at the first run: the next one at this size, and its report,
	 * allocate nothing. */
	stp_alloc_fail_nth(1);
	CHECK(stp_session_run_image(s, rgb, IMAGE_H, IMAGE_W, IMAGE_W * 3, ro, tasks) == STP_OK &&
	      stp_session_report(s, rep) == STP_OK && stp_alloc_failures() == 0,
	      "%s %s: a repeated run and its report allocate nothing", name, mode);
	stp_alloc_fail_nth(0);
	stp_session_destroy(s);
	test_reserved_run(name, m, ro, mode, rgb, &ref);
	for (n = 1; n < MAX_N; n = test_next_fault(n)) {
		enum stp_status st;

		if (stp_session_create(m, &s) != STP_OK)
			HARNESS_ERROR("session");
		stp_alloc_fail_nth(n);
		st = stp_session_run_image(s, rgb, IMAGE_H, IMAGE_W, IMAGE_W * 3, ro, tasks);
		stp_alloc_fail_nth(0);
		if (stp_alloc_failures() == 0) {
			CHECK(st == STP_OK, "%s %s: run without a failure", name, mode);
			stp_session_destroy(s);
			break;
		}
		if (st == STP_OK) {   /* absorbed: the result must not change */
			outcome_of(s, &got);
			CHECK(same_outcome(&ref, &got), "%s %s: a run that absorbed failure %ld differs",
			      name, mode, n);
			free(got.output);
		}
		CHECK(st == STP_ERR_NOMEM || st == STP_OK, "%s %s: run with allocation %ld failing: %s",
		      name, mode, n, stp_status_str(st));
		CHECK(run_gives(s, rgb, IMAGE_H, IMAGE_W, ro, tasks, &ref),
		      "%s %s: the run after failure %ld gives the undisturbed result", name, mode, n);
		stp_session_destroy(s);
	}
	printf("%s %s: a first run survives its allocations failing (fewer than %ld)\n", name,
	       mode, n);
	free(ref.output);
}

/* A session that ran on rgb (h x w) fails on the transposed image (another
 * network input size, so the session reshapes) at each allocation. */
static void test_second_size(const char *name, const stp_model *m, const uint8_t *rgb,
			     const uint8_t *rgb_t)
{
	const struct stp_run_options ro = {.mode = STP_RUN_BUDGET, .budget = 0.5};
	const unsigned tasks = stp_model_tasks(m);
	struct stp_run_report rep;
	struct outcome ref;
	struct stp_tensor_view v;
	stp_session *s;
	long n;

	undisturbed(name, m, rgb_t, IMAGE_W, IMAGE_H, &ro, &ref);
	for (n = 1; n < MAX_N; n = test_next_fault(n)) {
		enum stp_status st;

		if (stp_session_create(m, &s) != STP_OK ||
		    stp_session_run_image(s, rgb, IMAGE_H, IMAGE_W, IMAGE_W * 3, &ro, tasks) != STP_OK)
			HARNESS_ERROR("session");
		stp_alloc_fail_nth(n);
		st = stp_session_run_image(s, rgb_t, IMAGE_W, IMAGE_H, IMAGE_H * 3, &ro, tasks);
		stp_alloc_fail_nth(0);
		if (stp_alloc_failures() == 0) {
			stp_session_destroy(s);
			break;
		}
		if (st != STP_OK)
			CHECK(st == STP_ERR_NOMEM && stp_session_output(s, 0, &v) != STP_OK &&
			      stp_session_report(s, &rep) != STP_OK,
			      "%s: a failed run at a new size (allocation %ld) leaves no results: %s",
			      name, n, stp_status_str(st));
		CHECK(run_gives(s, rgb_t, IMAGE_W, IMAGE_H, &ro, tasks, &ref),
		      "%s: the run after failure %ld at a new size gives the undisturbed result",
		      name, n);
		stp_session_destroy(s);
	}
	printf("%s: a run at a second size survives its allocations failing (fewer than %ld)\n",
	       name, n);
	free(ref.output);
}

/* A dense model runs the dense mode only (the others are the same run). */
static void test_model(stp_engine *e, stp_engine *one, const char *srcdir, const char *name,
		       const uint8_t *rgb, const uint8_t *rgb_t)
{
	const struct stp_run_options modes[] = {
		{.mode = STP_RUN_DENSE},
		{.mode = STP_RUN_BUDGET, .budget = 0.5},
		{.mode = STP_RUN_TRAINED, .sampling = STP_SAMPLING_STOCHASTIC, .seed = 3}};
	const char *mode_names[] = {"dense", "budget 0.5", "stochastic trained masks"};
	struct stp_run_report rep = {0};
	char path[4096], err[256];
	unsigned char *file;
	stp_model *m;
	size_t size;

	snprintf(path, sizeof(path), "%s/models/%s/1/model.stp", srcdir, name);
	file = test_read_file(path, &size);
	test_load(e, name, file, size);
	if (stp_model_load_buffer(e, file, size, &m, err, sizeof(err)) != STP_OK)
		HARNESS_ERROR("%s: %s", name, err);
	test_session_create(name, m);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		test_runs(name, m, &modes[i], mode_names[i], rgb, &rep);
		if (rep.nmasks == 0)
			break;
	}
	test_second_size(name, m, rgb, rgb_t);
	test_reserve_faults(name, m, rgb);
	test_reserve_threads(name, m, one, rgb);
	stp_model_destroy(m);
	free(file);
}

int main(void)
{
	const struct stp_engine_options opts = {2, STP_ISA_AUTO}, opts_one = {1, STP_ISA_AUTO};
	const char *srcdir = getenv("top_srcdir") ? getenv("top_srcdir") : "..";
	uint8_t rgb[IMAGE_H * IMAGE_W * 3], rgb_t[IMAGE_W * IMAGE_H * 3];
	unsigned long long rng = 7;
	stp_engine *e, *one;

	for (size_t i = 0; i < sizeof(rgb); i++)
		rgb[i] = (uint8_t)(test_randf(&rng) * 127.5f + 127.5f);
	for (int y = 0; y < IMAGE_H; y++)   /* transposed: W x H */
		for (int x = 0; x < IMAGE_W; x++)
			memcpy(rgb_t + ((size_t)x * IMAGE_H + y) * 3, rgb + ((size_t)y * IMAGE_W + x) * 3, 3);
	stp_alloc_fail_nth(1);
	CHECK(stp_engine_create(&opts, &e) == STP_ERR_NOMEM, "engine creation, first allocation failing");
	stp_alloc_fail_nth(0);
	if (stp_engine_create(&opts, &e) != STP_OK || stp_engine_create(&opts_one, &one) != STP_OK)
		HARNESS_ERROR("engine");
	test_model(e, one, srcdir, "stipple-r18-detseg", rgb, rgb_t);
	test_model(e, one, srcdir, "nanodet-g", rgb, rgb_t);
	stp_engine_destroy(one);
	stp_engine_destroy(e);
	return test_main_end();
}
