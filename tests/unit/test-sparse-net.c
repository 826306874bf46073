/*
 * test-sparse-net.c - sparse networks through the public API, on small
 * in-memory models (tests/model-builder.h plus mask and interpolation
 * tensors): budget 1 equals the dense network of the same weights; budget
 * mode stays within its cap (+2%), spends most of it, and refuses budgets
 * below the grid-only cost; seeded stochastic masks repeat across runs and
 * thread counts and change with the seed; the run report and the masks
 * agree; a session runs on another engine's pool with the same result; a
 * calibrated model shares its budget in the calibration's proportions, and
 * a calibration of the wrong length is refused at load; logits from the
 * block before's partials (the default) give the masks of the mask convs
 * ($STIPPLE_LOGITS=conv) in every mode. (Sparse networks against PyTorch:
 * tests/golden.)
 */
#include <stdlib.h>
#include <string.h>

#include "run/model-impl.h"
#include "stipple.h"
#include "testutil.h"
#include "model-builder.h"

static const char sparse_json[] =
	"{\"kernel\": \"rbf\", \"window\": 7, \"grid_stride\": 5, \"variant\": \"b\", "
	"\"blocks\": [[1], [1, 1], [1], [1]], \"temperature\": 0.03}";

/* Masks 0-1 (layer1) calibrated dense, the rest at 0.25. */
static const char calibrated_json[] =
	"{\"kernel\": \"rbf\", \"window\": 7, \"grid_stride\": 5, \"variant\": \"b\", "
	"\"blocks\": [[1], [1, 1], [1], [1]], \"temperature\": 0.03, "
	"\"calibration\": [1, 1, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]}";
static const char miscalibrated_json[] =
	"{\"kernel\": \"rbf\", \"window\": 7, \"grid_stride\": 5, \"variant\": \"b\", "
	"\"blocks\": [[1], [1, 1], [1], [1]], \"temperature\": 0.03, \"calibration\": [1, 0.5]}";

static const struct mb_arch arch = {
	.bottleneck = 1, .layers = {1, 2, 1, 1}, .stem = 16, .widths = {32, 32, 64, 64},
	.channels = 3, .fpn_out = 16, .fpn_maxpool = 1,
};

/* Adds mask{1,2}.{weight,bias} and interp{1,2}.a to every block. */
static void add_sparse_tensors(struct mb_model *m, unsigned long long *rng)
{
	int cin = arch.stem;
	for (int s = 0; s < 4; s++) {
		for (int b = 0; b < arch.layers[s]; b++) {
			for (int j = 1; j <= 2; j++) {
				char name[MB_NAME_LEN];
				const int64_t wshape[4] = {1, cin, 3, 3}, one[1] = {1};
				struct mb_tensor *t;
				snprintf(name, sizeof(name), "backbone.layer%d.%d.mask%d.weight", s + 1, b, j);
				mb_add(m, name, 4, wshape, rng);
				snprintf(name, sizeof(name), "backbone.layer%d.%d.mask%d.bias", s + 1, b, j);
				t = mb_add(m, name, 1, one, rng);
				t->data[0] *= 0.1f;
				snprintf(name, sizeof(name), "backbone.layer%d.%d.interp%d.a", s + 1, b, j);
				t = mb_add(m, name, 1, one, rng);
				t->data[0] = 3.0f + t->data[0];
			}
			cin = arch.widths[s] * 4;
		}
	}
}

static stp_model *load(stp_engine *e, const struct mb_model *m)
{
	size_t size;
	unsigned char *bytes = mb_encode(m, &size);
	char err[256];
	stp_model *model = NULL;
	enum stp_status st = stp_model_load_buffer(e, bytes, size, &model, err, sizeof(err));
	free(bytes);
	if (st != STP_OK)
		HARNESS_ERROR("load: %s", err);
	return model;
}

static float *run(stp_model *model, const float *x, int h, int w,
		  const struct stp_run_options *o, struct stp_run_report *rep, enum stp_status *st_out)
{
	stp_session *s;
	struct stp_tensor_view v;
	float *copy = NULL;
	if (stp_session_create(model, &s) != STP_OK)
		HARNESS_ERROR("session");
	*st_out = stp_session_run_with(s, x, h, w, o);
	if (rep)
		memset(rep, 0, sizeof(*rep));
	if (*st_out == STP_OK) {
		stp_session_output(s, 0, &v);   /* p2: every backbone stage feeds it */
		copy = malloc((size_t)v.h * v.w * v.c * sizeof(float));
		for (int p = 0; p < v.h * v.w; p++)
			memcpy(copy + (size_t)p * v.c, v.data + (size_t)p * v.c_stride, v.c * sizeof(float));
		if (rep)
			stp_session_report(s, rep);
	}
	stp_session_destroy(s);
	return copy;
}

/* All masks of a run, concatenated (caller frees). */
static unsigned char *masks_of(stp_model *model, const float *x, int h, int w,
			       const struct stp_run_options *o, size_t *total)
{
	stp_session *s;
	unsigned char *all = NULL;
	struct stp_run_report rep;
	*total = 0;
	stp_session_create(model, &s);
	if (stp_session_run_with(s, x, h, w, o) != STP_OK || stp_session_report(s, &rep) != STP_OK)
		HARNESS_ERROR("run");
	for (int i = 0; i < rep.nmasks; i++) {
		const uint8_t *d;
		int mh, mw;
		stp_session_mask(s, i, &d, &mh, &mw);
		all = realloc(all, *total + (size_t)mh * mw);
		memcpy(all + *total, d, (size_t)mh * mw);
		*total += (size_t)mh * mw;
	}
	stp_session_destroy(s);
	return all;
}

int main(void)
{
	const int h = 75, w = 101;
	unsigned long long rng = 99;
	struct mb_model dense_m, sparse_m;
	stp_engine *e1, *e2;
	struct stp_engine_options o1 = {1, STP_ISA_AUTO}, o2 = {2, STP_ISA_AUTO};
	enum stp_status st;
	char *json;

	unsetenv("STIPPLE_LOGITS");  /* the engines below take logit partials */
	if (stp_engine_create(&o1, &e1) != STP_OK || stp_engine_create(&o2, &e2) != STP_OK)
		HARNESS_ERROR("engine");
	mb_build(&dense_m, &arch, 5);
	mb_build(&sparse_m, &arch, 5);
	add_sparse_tensors(&sparse_m, &rng);
	json = mb_arch_json(&arch, sparse_json);
	mb_set(&sparse_m.architecture, json);
	free(json);
	stp_model *dense = load(e2, &dense_m), *sparse = load(e2, &sparse_m);
	stp_model *sparse1 = load(e1, &sparse_m);
	float *x = malloc((size_t)h * w * 3 * sizeof(float));
	for (int i = 0; i < h * w * 3; i++)
		x[i] = test_randf(&rng);

	/* Budget 1: the dense network exactly (same weights, up to where BN's
	 * shift is added), no masks, dense cost. */
	struct stp_run_options full = {.mode = STP_RUN_BUDGET, .budget = 1.0};
	struct stp_run_report rep;
	float *ref = run(dense, x, h, w, NULL, NULL, &st);
	float *got = run(sparse, x, h, w, &full, &rep, &st);
	size_t n = (size_t)((h + 3) / 4) * ((w + 3) / 4) * arch.fpn_out;
	double err = test_rel_l2(got, ref, n);
	CHECK(st == STP_OK && err < 1e-6, "budget 1 vs dense: rel L2 %.3g", err);
	CHECK(rep.nmasks == 10 && rep.mean_density == 1.0 &&
	      rep.backbone_macs == rep.dense_backbone_macs, "budget 1 report: %d masks, density %g",
	      rep.nmasks, rep.mean_density);
	CHECK(rep.backbone_ms > 0 && rep.backbone_ms < 60e3, "backbone time reported: %g ms",
	      rep.backbone_ms);
	free(got);
	/* The dense mode: the same run. */
	struct stp_run_options dense_mode = {.mode = STP_RUN_DENSE};
	got = run(sparse, x, h, w, &dense_mode, &rep, &st);
	err = test_rel_l2(got, ref, n);
	CHECK(st == STP_OK && err < 1e-6 && rep.mean_density == 1.0 &&
	      rep.backbone_macs == rep.dense_backbone_macs, "dense mode vs dense: rel L2 %.3g", err);
	free(got);

	/* Trained masks: mixed, and cheaper than dense. */
	got = run(sparse, x, h, w, NULL, &rep, &st);
	CHECK(st == STP_OK && rep.mean_density > 0.1 && rep.mean_density < 0.9 &&
	      rep.backbone_macs < rep.dense_backbone_macs,
	      "deterministic masks: density %.3f, cost %.3g of %.3g", rep.mean_density,
	      rep.backbone_macs, rep.dense_backbone_macs);
	free(got);

	/* Budget mode: within the cap, most of it spent, densities falling. */
	const double budgets[] = {0.9, 0.75, 0.6, 0.5};
	double last_density = 2;
	for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
		struct stp_run_options bo = {.mode = STP_RUN_BUDGET, .budget = budgets[i]};
		got = run(sparse, x, h, w, &bo, &rep, &st);
		const double ratio = rep.backbone_macs / rep.dense_backbone_macs;
		CHECK(st == STP_OK && ratio <= budgets[i] * 1.02 && ratio >= budgets[i] * 0.85 &&
		      rep.mean_density < last_density,
		      "budget %.2f: spent %.3f of dense, density %.3f", budgets[i], ratio,
		      rep.mean_density);
		last_density = rep.mean_density;
		free(got);
	}
	struct stp_run_options tiny = {.mode = STP_RUN_BUDGET, .budget = 0.3};  /* grid-only costs ~0.47 here */
	{
		stp_session *s;
		if (stp_session_create(sparse, &s) != STP_OK)
			HARNESS_ERROR("session");
		st = stp_session_run_with(s, x, h, w, &tiny);
		CHECK(st == STP_ERR_BUDGET && stp_session_min_budget(s) > 0.3 &&
		      stp_session_min_budget(s) < 1,
		      "a budget below the grid-only cost is its own status, with the minimum "
		      "(%d, %.3f)", (int)st, stp_session_min_budget(s));
		stp_session_destroy(s);
	}
	const struct stp_run_options bad[] = {{.mode = STP_RUN_BUDGET, .budget = 1.5},
					      {.mode = STP_RUN_BUDGET, .budget = 0},
					      {.mode = STP_RUN_BUDGET, .budget = -0.5},
					      {.mode = (enum stp_run_mode)7},
					      {.sampling = (enum stp_sampling)2}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		got = run(sparse, x, h, w, &bad[i], &rep, &st);
		CHECK(st == STP_ERR_INVALID_ARG, "bad run options %zu are refused", i);
	}

	/* Seeded stochastic masks: repeatable, thread-count independent,
	 * seed-dependent. */
	struct stp_run_options s7 = {.sampling = STP_SAMPLING_STOCHASTIC, .seed = 7},
			       s8 = {.sampling = STP_SAMPLING_STOCHASTIC, .seed = 8};
	size_t n1, n2, n3, n4;
	unsigned char *a = masks_of(sparse, x, h, w, &s7, &n1);
	unsigned char *b = masks_of(sparse1, x, h, w, &s7, &n2);
	unsigned char *c = masks_of(sparse, x, h, w, &s8, &n3);
	unsigned char *d = masks_of(sparse, x, h, w, NULL, &n4);
	CHECK(n1 == n2 && memcmp(a, b, n1) == 0, "seed 7: same masks on 1 and 2 threads");
	CHECK(n1 == n3 && memcmp(a, c, n1) != 0, "seed 8 gives other masks than seed 7");
	CHECK(n1 == n4 && memcmp(a, d, n1) != 0, "stochastic differs from deterministic");
	free(a); free(b); free(c); free(d);

	/* Logit partials against the mask convs: the same masks and output
	 * bits (logits reach the features only through the masks) in every
	 * mode, with the 4 blocks that follow a sparse block and have stride-1
	 * (or fused) mask convs taking partials; other values refused. */
	{
		const struct stp_run_options modes[] = {{.mode = STP_RUN_TRAINED},
							{.mode = STP_RUN_TRAINED, .sampling = STP_SAMPLING_STOCHASTIC, .seed = 3},
							{.mode = STP_RUN_BUDGET, .budget = 0.6}};
		stp_engine *conv_engine = NULL, *bad_engine = NULL;
		setenv("STIPPLE_LOGITS", "conv", 1);
		st = stp_engine_create(&o2, &conv_engine);
		setenv("STIPPLE_LOGITS", "sometimes", 1);
		CHECK(stp_engine_create(&o2, &bad_engine) == STP_ERR_INVALID_ARG && !bad_engine,
		      "$STIPPLE_LOGITS=sometimes is refused");
		unsetenv("STIPPLE_LOGITS");
		if (st != STP_OK)
			HARNESS_ERROR("engine with $STIPPLE_LOGITS=conv");
		stp_model *by_conv = load(conv_engine, &sparse_m);
		for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
			size_t na, nb;
			enum stp_status st2;
			unsigned char *ma = masks_of(sparse, x, h, w, &modes[i], &na);
			unsigned char *mb = masks_of(by_conv, x, h, w, &modes[i], &nb);
			float *oa = run(sparse, x, h, w, &modes[i], NULL, &st);
			float *ob = run(by_conv, x, h, w, &modes[i], NULL, &st2);
			int used[2];
			stp_session *ps;
			const stp_model *models[2] = {sparse, by_conv};
			for (int k = 0; k < 2; k++) {
				stp_session_create(models[k], &ps);
				used[k] = stp_session_run_with(ps, x, h, w, &modes[i]) == STP_OK
						  ? ps->partials_used : -1;
				stp_session_destroy(ps);
			}
			CHECK(st == STP_OK && st2 == STP_OK && na == nb && memcmp(ma, mb, na) == 0 &&
			      memcmp(oa, ob, n * sizeof(float)) == 0 && used[0] == 4 && used[1] == 0,
			      "mode %zu: logits from partials = from mask convs (rel L2 %.3g; "
			      "blocks on partials %d and %d)", i,
			      oa && ob ? test_rel_l2(oa, ob, n) : 1.0, used[0], used[1]);
			free(ma); free(mb); free(oa); free(ob);
		}
		stp_model_destroy(by_conv);
		stp_engine_destroy(conv_engine);
	}

	/* A session of a model loaded on e2 run on e1's pool (one thread) gives
	 * the same result; an engine of another kernel level is refused. */
	{
		stp_session *on_e1;
		struct stp_tensor_view v;
		stp_engine *scalar = NULL;
		struct stp_engine_options os = {1, STP_ISA_SCALAR};

		got = run(sparse, x, h, w, NULL, NULL, &st);
		stp_session_create(sparse, &on_e1);
		CHECK(stp_session_set_engine(on_e1, e1) == STP_OK, "set_engine on the same level");
		st = stp_session_run_with(on_e1, x, h, w, NULL);
		stp_session_output(on_e1, 0, &v);
		CHECK(st == STP_OK && v.c_stride == v.c && memcmp(v.data, got, n * sizeof(float)) == 0,
		      "another engine's pool gives the same output");
		if (stp_engine_isa(e1) != STP_ISA_SCALAR && stp_engine_create(&os, &scalar) == STP_OK)
			CHECK(stp_session_set_engine(on_e1, scalar) == STP_ERR_INVALID_ARG,
			      "an engine of another kernel level is refused");
		CHECK(stp_session_set_engine(on_e1, NULL) == STP_ERR_INVALID_ARG, "NULL engine");
		stp_session_destroy(on_e1);
		stp_engine_destroy(scalar);
		free(got);
	}

	/* Profiling: one entry per op; sparse blocks split into phases that
	 * add up to at most the block's time; off again, nothing is reported. */
	{
		stp_session *ps;
		const struct stp_op_profile *prof;
		int nops, blocks = 0, phases_ok = 1;

		stp_session_create(sparse, &ps);
		stp_session_set_profiling(ps, 1);
		st = stp_session_run_with(ps, x, h, w, NULL);
		nops = stp_session_profile(ps, &prof);
		for (int i = 0; i < nops; i++) {
			double sum = 0;

			if (strcmp(prof[i].kind, "sparse_block"))
				continue;
			blocks++;
			for (int k = 0; k < STP_PHASE_COUNT; k++)
				sum += prof[i].phase_ms[k];
			phases_ok &= prof[i].ms > 0 && prof[i].phase_ms[STP_PHASE_CONV] > 0 &&
				     sum <= prof[i].ms * 1.0001 + 1e-6;
		}
		CHECK(st == STP_OK && nops > 5 && blocks == 5 && phases_ok,
		      "profile: %d ops, %d sparse blocks, phases consistent %d", nops, blocks, phases_ok);
		CHECK(!strcmp(prof[0].kind, "conv") && prof[0].c == arch.stem, "profile: the stem first");
		stp_session_set_profiling(ps, 0);
		stp_session_run_with(ps, x, h, w, NULL);
		CHECK(stp_session_profile(ps, &prof) == 0, "no profile when off");
		stp_session_destroy(ps);
	}

	/* Calibrated budget: layer1's masks (calibrated dense) keep more of
	 * their cells than the others, still within the cap. */
	{
		json = mb_arch_json(&arch, calibrated_json);
		mb_set(&sparse_m.architecture, json);
		free(json);
		stp_model *cal = load(e2, &sparse_m);
		stp_session *cs;
		struct stp_run_options bo = {.mode = STP_RUN_BUDGET, .budget = 0.75};
		double first, rest = 0, ratio;

		stp_session_create(cal, &cs);
		st = stp_session_run_with(cs, x, h, w, &bo);
		stp_session_report(cs, &rep);
		ratio = rep.backbone_macs / rep.dense_backbone_macs;
		first = stp_session_mask_density(cs, 0);
		for (int i = 2; i < rep.nmasks; i++)
			rest += stp_session_mask_density(cs, i) / (rep.nmasks - 2);
		CHECK(st == STP_OK && ratio <= 0.75 * 1.02 && ratio >= 0.75 * 0.85 && first > rest + 0.2,
		      "calibrated budget 0.75: spent %.3f, layer1 density %.3f, the rest %.3f", ratio,
		      first, rest);
		stp_session_destroy(cs);
		stp_model_destroy(cal);

		size_t size;
		unsigned char *bytes;
		char msg[256];
		stp_model *bad_model = NULL;
		json = mb_arch_json(&arch, miscalibrated_json);
		mb_set(&sparse_m.architecture, json);
		free(json);
		bytes = mb_encode(&sparse_m, &size);
		st = stp_model_load_buffer(e2, bytes, size, &bad_model, msg, sizeof(msg));
		free(bytes);
		CHECK(st == STP_ERR_FORMAT && bad_model == NULL && strstr(msg, "calibration holds 2"),
		      "a calibration of the wrong length is refused: %s", msg);
	}

	free(x);
	free(ref);
	stp_model_destroy(dense);
	stp_model_destroy(sparse);
	stp_model_destroy(sparse1);
	stp_engine_destroy(e1);
	stp_engine_destroy(e2);
	mb_free(&dense_m);
	mb_free(&sparse_m);
	return test_main_end();
}
