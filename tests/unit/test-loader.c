/*
 * test-loader.c - the public model-loading API: stp_model_load_buffer() and
 * stp_model_load().
 *
 * Tiny dense ResNets (model-builder.h) must load and report their outputs
 * (c2..c5, logits, or p2..p5[,p6] with an FPN), parameter count and input
 * channels, and run once. Then each model is broken in one way and must
 * fail with the documented status and a one-line message naming the
 * problem, leaving *out NULL: missing, extra and misshapen tensors, an
 * unsupported or inconsistent architecture, missing or wrong metadata, a
 * NaN weight, and every truncation of the file.
 *
 * Deformable convs (backbone.dcn) load for their cost only: sessions are
 * refused, and the cost of a dense ResNet-101 with DCN in c3-c5 is pinned
 * to the official calculator's 70.0 / 100.2 / 184.1 / 289.5 G at r = 500 /
 * 600 / 800 / 1000 (docs/method.md section 6).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "stipple.h"
#include "testutil.h"
#include "model-builder.h"

/* A basic ResNet-10 of width 2 (stage 1 without a downsample) ... */
static const struct mb_arch tiny_basic = {0, {1, 1, 1, 1}, 2, {2, 2, 2, 2}, 3, 0, 0, 0};
/* ... a bottleneck ResNet-14 of width 1 (expansion 4) with an FPN and P6 ... */
static const struct mb_arch tiny_fpn = {1, {1, 1, 1, 1}, 2, {1, 1, 1, 1}, 3, 0, 2, 1};
/* ... a deeper basic net (two blocks in stage 2) with an FPN without P6 ... */
static const struct mb_arch tiny_fpn_none = {0, {1, 2, 1, 1}, 3, {2, 3, 2, 4}, 3, 0, 3, 0};
/* ... and a one-channel classifier. */
static const struct mb_arch tiny_cls = {0, {1, 1, 1, 1}, 4, {2, 2, 2, 2}, 1, 5, 0, 0};

static stp_engine *engine;

/* Loads the bytes of m; returns the status, the model in *out. */
static enum stp_status load(const struct mb_model *m, stp_model **out, char *err, size_t errlen)
{
	size_t size;
	unsigned char *bytes = mb_encode(m, &size);
	enum stp_status st = stp_model_load_buffer(engine, bytes, size, out, err, errlen);
	free(bytes);
	return st;
}

/* m must fail to load with status and word in the message; m is freed. */
static void expect_fail(struct mb_model *m, enum stp_status status, const char *word,
			const char *what)
{
	static char sentinel;
	stp_model *model = (stp_model *)&sentinel;   /* the loader must reset it to NULL */
	char err[256] = "";
	enum stp_status st = load(m, &model, err, sizeof(err));

	CHECK(st == status, "%s: status %s, expected %s (%s)", what, stp_status_str(st),
	      stp_status_str(status), err);
	CHECK(model == NULL, "%s: *out not NULL after a failure", what);
	CHECK(strstr(err, word) != NULL, "%s: message '%s' lacks '%s'", what, err, word);
	CHECK(strchr(err, '\n') == NULL, "%s: message '%s' is not one line", what, err);
	if (st == STP_OK)
		stp_model_destroy(model);
	mb_free(m);
}

static void test_valid(const struct mb_arch *a, const char *const *names, int nnames)
{
	struct mb_model m;
	stp_model *model = NULL;
	stp_session *session = NULL;
	char err[256] = "";
	enum stp_status st;

	mb_build(&m, a, 42);
	st = load(&m, &model, err, sizeof(err));
	CHECK(st == STP_OK && model, "valid model (%s) failed: %s", names[0], err);
	if (st != STP_OK) {
		mb_free(&m);
		return;
	}
	CHECK(stp_model_output_count(model) == nnames, "%d outputs, expected %d",
	      stp_model_output_count(model), nnames);
	for (int i = 0; i < nnames && i < stp_model_output_count(model); i++) {
		const char *name = stp_model_output_name(model, i);
		CHECK(name && strcmp(name, names[i]) == 0, "output %d is '%s', expected '%s'", i,
		      name ? name : "(null)", names[i]);
	}
	CHECK(stp_model_output_name(model, nnames) == NULL, "output name past the end");
	CHECK(stp_model_output_name(model, -1) == NULL, "output name -1");
	CHECK(stp_model_input_channels(model) == a->channels, "input channels %d",
	      stp_model_input_channels(model));
	CHECK(stp_model_parameter_count(model) == mb_parameters(&m),
	      "parameter count %llu, expected %llu",
	      (unsigned long long)stp_model_parameter_count(model),
	      (unsigned long long)mb_parameters(&m));
	CHECK(stp_model_architecture(model) &&
	      strcmp(stp_model_architecture(model), m.architecture) == 0,
	      "architecture JSON round trip");

	/* The loaded model runs: c2/p2 is a quarter of the input. */
	st = stp_session_create(model, &session);
	CHECK(st == STP_OK, "session: %s", stp_status_str(st));
	if (st == STP_OK) {
		const int h = 64, w = 32;
		float *input = malloc((size_t)h * w * a->channels * sizeof(float));
		unsigned long long rng = 7;
		struct stp_tensor_view v;
		if (!input)
			HARNESS_ERROR("out of memory");
		for (int i = 0; i < h * w * a->channels; i++)
			input[i] = test_randf(&rng);
		st = stp_session_run(session, input, h, w);
		CHECK(st == STP_OK, "run: %s", stp_status_str(st));
		if (st == STP_OK && stp_session_output(session, 0, &v) == STP_OK && !a->num_classes)
			CHECK(v.h == h / 4 && v.w == w / 4 && isfinite(v.data[0]),
			      "first output %dx%d, expected %dx%d", v.h, v.w, h / 4, w / 4);
		free(input);
	}
	stp_session_destroy(session);
	stp_model_destroy(model);
	mb_free(&m);
}

static void test_tensors(void)
{
	struct mb_model m;
	struct mb_tensor *t;
	unsigned long long rng = 3;
	const int64_t shape[4] = {2, 2, 1, 1};

	mb_build(&m, &tiny_basic, 1);
	mb_remove(&m, "backbone.layer2.0.conv1.weight");
	expect_fail(&m, STP_ERR_FORMAT, "missing tensor 'backbone.layer2.0.conv1.weight'",
		    "missing conv weight");

	mb_build(&m, &tiny_fpn, 1);
	mb_remove(&m, "neck.layer_blocks.3.0.bias");
	expect_fail(&m, STP_ERR_FORMAT, "neck.layer_blocks.3.0.bias", "missing FPN bias");

	mb_build(&m, &tiny_fpn, 1);
	mb_remove(&m, "backbone.layer1.0.downsample.1.running_var");
	expect_fail(&m, STP_ERR_FORMAT, "backbone.layer1.0.downsample.1.running_var",
		    "missing downsample BN statistic");

	mb_build(&m, &tiny_basic, 1);
	mb_add(&m, "backbone.extra.weight", 1, shape, &rng);
	expect_fail(&m, STP_ERR_FORMAT, "unexpected tensor 'backbone.extra.weight'",
		    "extra tensor");

	/* Stage 1 of a basic net with stem == widths[0] has no downsample. */
	mb_build(&m, &tiny_basic, 1);
	mb_conv(&m, "backbone.layer1.0.downsample.0.weight", 2, 2, 1, &rng);
	mb_bn(&m, "backbone.layer1.0.downsample.1", 2, &rng);
	expect_fail(&m, STP_ERR_FORMAT, "unexpected tensor 'backbone.layer1.0.downsample",
		    "downsample where none belongs");

	mb_build(&m, &tiny_basic, 1);
	mb_add(&m, "backbone.fc.weight", 2, shape, &rng);
	expect_fail(&m, STP_ERR_FORMAT, "unexpected tensor 'backbone.fc.weight'",
		    "classifier weights in a feature extractor");

	/* Misshapen: same element count, wrong shape, so only the shape check fails. */
	mb_build(&m, &tiny_basic, 1);
	t = mb_find(&m, "backbone.layer1.0.conv2.weight");
	t->shape[2] = 9;
	t->shape[3] = 1;
	expect_fail(&m, STP_ERR_FORMAT, "tensor 'backbone.layer1.0.conv2.weight' has shape",
		    "misshapen conv");

	mb_build(&m, &tiny_basic, 1);
	t = mb_find(&m, "backbone.bn1.running_var");
	t->ndim = 2;
	t->shape[1] = 1;
	expect_fail(&m, STP_ERR_FORMAT, "backbone.bn1.running_var", "BN statistic of rank 2");

	mb_build(&m, &tiny_basic, 1);
	t = mb_find(&m, "backbone.layer3.0.conv1.weight");
	t->data[t->count / 2] = NAN;
	expect_fail(&m, STP_ERR_FORMAT, "NaN", "NaN weight");

	mb_build(&m, &tiny_fpn, 1);
	t = mb_find(&m, "neck.inner_blocks.0.0.bias");
	t->data[0] = -INFINITY;
	expect_fail(&m, STP_ERR_FORMAT, "Inf", "Inf bias");
}

static void test_metadata(void)
{
	struct mb_model m;
	char *json;

	mb_build(&m, &tiny_basic, 1);
	json = mb_arch_json(&tiny_basic, "{\"kernel\": \"rbf\", \"window\": 3, \"grid_stride\": 4, "
				     "\"variant\": \"b\", \"blocks\": [[1], [1], [1], [1]], "
				     "\"temperature\": 0.03}");
	mb_set(&m.architecture, json);
	free(json);
	expect_fail(&m, STP_ERR_FORMAT, "mask1.weight", "sparse architecture without mask tensors");

	mb_build(&m, &tiny_basic, 1);
	json = mb_strdup(m.architecture);
	memcpy(strstr(json, "\"depth\": 10"), "\"depth\": 18", 11);
	mb_set(&m.architecture, json);
	free(json);
	expect_fail(&m, STP_ERR_FORMAT, "depth", "inconsistent depth");

	mb_build(&m, &tiny_fpn, 1);
	json = mb_strdup(m.architecture);
	memcpy(strstr(json, "\"in_channels\": [4,"), "\"in_channels\": [5,", 18);
	mb_set(&m.architecture, json);
	free(json);
	expect_fail(&m, STP_ERR_FORMAT, "in_channels", "FPN width mismatch");

	mb_build(&m, &tiny_basic, 1);
	mb_set(&m.architecture, "{\"backbone\": {}}");
	expect_fail(&m, STP_ERR_FORMAT, "architecture", "incomplete architecture");

	mb_build(&m, &tiny_basic, 1);
	mb_set(&m.architecture, "not json");
	expect_fail(&m, STP_ERR_FORMAT, "architecture", "architecture not JSON");

	mb_build(&m, &tiny_basic, 1);
	mb_set(&m.architecture, NULL);
	expect_fail(&m, STP_ERR_FORMAT, "architecture", "no architecture");

	mb_build(&m, &tiny_basic, 1);
	mb_set(&m.format, NULL);
	mb_set(&m.format_version, NULL);
	mb_set(&m.architecture, NULL);
	expect_fail(&m, STP_ERR_FORMAT, "format", "no metadata");

	mb_build(&m, &tiny_basic, 1);
	mb_set(&m.format, "pytorch");
	expect_fail(&m, STP_ERR_FORMAT, "format", "wrong format");

	/* A later version of the format is valid but not readable here. */
	mb_build(&m, &tiny_basic, 1);
	mb_set(&m.format_version, "2");
	expect_fail(&m, STP_ERR_UNSUPPORTED, "format_version", "format_version 2");

	mb_build(&m, &tiny_basic, 1);
	mb_set(&m.format_version, NULL);
	expect_fail(&m, STP_ERR_UNSUPPORTED, "format_version", "no format_version");
}

/* m's architecture with backbone.dcn = dcn (JSON text) added. */
static void set_dcn(struct mb_model *m, const char *dcn)
{
	const char *at = strstr(m->architecture, "\"sparse\": null}");
	size_t head;
	char *json;

	if (!at)
		HARNESS_ERROR("no '\"sparse\": null}' in the architecture");
	head = (size_t)(at - m->architecture) + strlen("\"sparse\": null");
	json = malloc(strlen(m->architecture) + strlen(dcn) + 16);
	if (!json)
		HARNESS_ERROR("out of memory");
	memcpy(json, m->architecture, head);
	sprintf(json + head, ", \"dcn\": %s%s", dcn, m->architecture + head);
	mb_set(&m->architecture, json);
	free(json);
}

/* Backbone MACs of m at h x w (the model is loaded and destroyed). */
static double backbone_macs(const struct mb_model *m, int h, int w)
{
	stp_model *model = NULL;
	struct stp_cost cost = {0, 0};
	char err[256] = "";

	if (load(m, &model, err, sizeof(err)) != STP_OK)
		HARNESS_ERROR("model does not load: %s", err);
	if (stp_model_cost(model, h, w, &cost) != STP_OK)
		HARNESS_ERROR("no cost");
	stp_model_destroy(model);
	return cost.backbone_macs;
}

/* The offset convs' MACs the official rules give a bottleneck net a at
 * h x w: per block of a deformable stage, 3x3 from the block's input
 * channels to oc channels at the block's stride. */
static double offset_macs(const struct mb_arch *a, const int stages[4], int oc, int h, int w)
{
	double macs = 0;
	int cin = a->stem;

	for (int s = 0; s < 4; s++) {
		const int stride = 4 << s;
		for (int b = 0; b < a->layers[s]; b++) {
			if (stages[s])
				macs += 9.0 * cin * oc * (h / stride) * (w / stride);
			cin = a->widths[s] * 4;
		}
	}
	return macs;
}

static void test_dcn(void)
{
	/* A bottleneck net of two blocks in stage 2 and width 8 (deform_groups 2). */
	static const struct mb_arch small = {1, {1, 2, 1, 1}, 4, {4, 8, 8, 8}, 3, 0, 0, 0};
	static const struct mb_arch r101 = {1, {3, 4, 23, 3}, 64, {64, 128, 256, 512}, 3, 0,
					    0, 0};
	static const char dcn_c3_c5[] =
		"{\"stages\": [false, true, true, true], \"deform_groups\": 1, "
		"\"modulated\": false}";
	/* Official (flops.py) backbone MACs at r = 500, 600, 800, 1000. */
	static const struct { int r, h, w; double macs, g1; } official[4] = {
		{500, 480, 832, 70034165760.0, 70.0},
		{600, 576, 992, 100202729472.0, 100.2},
		{800, 800, 1312, 184064153600.0, 184.1},
		{1000, 992, 1664, 289474551808.0, 289.5},
	};
	const int c3_c5[4] = {0, 1, 1, 1}, c2_c4[4] = {1, 1, 1, 0};
	struct mb_model m;
	stp_model *model = NULL;
	stp_session *session = (stp_session *)&m;   /* must be reset to NULL */
	struct stp_cost cost;
	unsigned long long rng = 11;
	char err[256] = "";
	double base;
	enum stp_status st;
	unsigned char *bytes;
	size_t size;

	/* Loads (no offset tensors stored), counts its cost, refuses sessions. */
	mb_build(&m, &small, 3);
	base = backbone_macs(&m, 96, 160);
	set_dcn(&m, dcn_c3_c5);
	st = load(&m, &model, err, sizeof(err));
	CHECK(st == STP_OK && model, "DCN model does not load: %s (%s)", stp_status_str(st), err);
	if (st == STP_OK) {
		CHECK(stp_model_parameter_count(model) == mb_parameters(&m), "DCN parameters");
		CHECK(stp_model_cost(model, 96, 160, &cost) == STP_OK &&
		      cost.backbone_macs == base + offset_macs(&small, c3_c5, 18, 96, 160),
		      "DCN c3-c5 cost %.0f, expected %.0f + %.0f", cost.backbone_macs, base,
		      offset_macs(&small, c3_c5, 18, 96, 160));
		st = stp_session_create(model, &session);
		CHECK(st == STP_ERR_UNSUPPORTED && session == NULL,
		      "session of a DCN model: %s", stp_status_str(st));
		if (st == STP_OK)
			stp_session_destroy(session);
		stp_model_destroy(model);
	}
	mb_free(&m);

	/* Modulated (27 channels per group), 2 deform groups, other stages. */
	mb_build(&m, &small, 3);
	base = backbone_macs(&m, 64, 96);
	set_dcn(&m, "{\"stages\": [true, true, true, false], \"deform_groups\": 2, "
		    "\"modulated\": true}");
	CHECK(backbone_macs(&m, 64, 96) == base + offset_macs(&small, c2_c4, 54, 64, 96),
	      "modulated DCN c2-c4 cost %.0f, expected %.0f + %.0f", backbone_macs(&m, 64, 96),
	      base, offset_macs(&small, c2_c4, 54, 64, 96));
	mb_free(&m);

	/* Offset tensors are not part of the format (yet). */
	mb_build(&m, &small, 3);
	set_dcn(&m, dcn_c3_c5);
	mb_conv(&m, "backbone.layer2.0.conv2_offset.weight", 18, 16, 3, &rng);
	expect_fail(&m, STP_ERR_FORMAT, "unexpected tensor 'backbone.layer2.0.conv2_offset",
		    "stored offset conv");

	/* The architecture's checks reach the loader. */
	mb_build(&m, &small, 3);
	set_dcn(&m, "{\"stages\": [false, true, true, true], \"deform_groups\": 3, "
		    "\"modulated\": false}");
	expect_fail(&m, STP_ERR_FORMAT, "deform_groups", "deform_groups not dividing widths");

	/* The official numbers: dense ResNet-101, DCN in c3-c5. */
	mb_build(&m, &r101, 1);
	set_dcn(&m, dcn_c3_c5);
	bytes = mb_encode(&m, &size);
	mb_free(&m);
	st = stp_model_load_buffer(engine, bytes, size, &model, err, sizeof(err));
	free(bytes);
	CHECK(st == STP_OK, "ResNet-101 with DCN does not load: %s", err);
	for (int i = 0; st == STP_OK && i < 4; i++) {
		const double g = official[i].macs / 1e9;
		CHECK(stp_model_cost(model, official[i].h, official[i].w, &cost) == STP_OK &&
		      cost.backbone_macs == official[i].macs,
		      "ResNet-101 DCN at r = %d (%dx%d): %.3f G, expected %.3f G",
		      official[i].r, official[i].h, official[i].w, cost.backbone_macs / 1e9, g);
		CHECK(fabs(round(cost.backbone_macs / 1e8) / 10 - official[i].g1) < 1e-9,
		      "ResNet-101 DCN at r = %d: %.1f G, the official %.1f G", official[i].r,
		      cost.backbone_macs / 1e9, official[i].g1);
		CHECK(cost.total_flops > 2 * cost.backbone_macs, "total FLOPs at r = %d",
		      official[i].r);
	}
	stp_model_destroy(model);
}

/* Every proper prefix of a valid model fails with STP_ERR_FORMAT. */
static void test_truncation(void)
{
	struct mb_model m;
	size_t size;
	unsigned char *bytes;
	int bad = 0;

	mb_build(&m, &tiny_basic, 5);
	bytes = mb_encode(&m, &size);
	for (size_t n = 0; n < size; n++) {
		unsigned char *copy = malloc(n ? n : 1);
		stp_model *model = NULL;
		char err[256] = "";
		enum stp_status st;
		if (!copy)
			HARNESS_ERROR("out of memory");
		memcpy(copy, bytes, n);
		st = stp_model_load_buffer(engine, copy, n, &model, err, sizeof(err));
		if ((st != STP_ERR_FORMAT || model || !err[0]) && bad++ < 3)
			CHECK(0, "prefix of %zu bytes: %s (%s)", n, stp_status_str(st), err);
		stp_model_destroy(model);
		free(copy);
	}
	CHECK(bad == 0, "%d of %zu prefixes did not fail cleanly", bad, size);
	free(bytes);
	mb_free(&m);
}

static void test_files(void)
{
	char path[] = "/tmp/stipple-test-loader-XXXXXX";
	struct mb_model m;
	stp_model *model = NULL;
	char err[256] = "";
	enum stp_status st;
	unsigned char *bytes;
	size_t size;
	int fd;
	FILE *f;

	st = stp_model_load(engine, "/nonexistent/stipple/model.safetensors", &model, err,
			    sizeof(err));
	CHECK(st == STP_ERR_IO && model == NULL && strstr(err, "/nonexistent/stipple"),
	      "missing path: %s (%s)", stp_status_str(st), err);

	mb_build(&m, &tiny_fpn, 9);
	bytes = mb_encode(&m, &size);
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "wb")))
		HARNESS_ERROR("cannot create a temporary file");
	if (fwrite(bytes, 1, size, f) != size || fclose(f) != 0)
		HARNESS_ERROR("cannot write %s", path);
	st = stp_model_load(engine, path, &model, err, sizeof(err));
	CHECK(st == STP_OK && model && stp_model_output_count(model) == 5,
	      "load from a file: %s (%s)", stp_status_str(st), err);
	stp_model_destroy(model);

	/* The same file cut short. */
	if (truncate(path, (off_t)(size - 1)) != 0)
		HARNESS_ERROR("cannot truncate %s", path);
	model = NULL;
	st = stp_model_load(engine, path, &model, err, sizeof(err));
	CHECK(st == STP_ERR_FORMAT && model == NULL && err[0], "truncated file: %s (%s)",
	      stp_status_str(st), err);
	unlink(path);
	free(bytes);
	mb_free(&m);

	st = stp_model_load_buffer(engine, NULL, 0, &model, err, sizeof(err));
	CHECK(st == STP_ERR_FORMAT && model == NULL, "empty buffer: %s (%s)", stp_status_str(st),
	      err);
	stp_model_destroy(NULL);
}

int main(void)
{
	static const char *const c_names[] = {"c2", "c3", "c4", "c5"};
	static const char *const p6_names[] = {"p2", "p3", "p4", "p5", "p6"};
	static const char *const logits[] = {"logits"};
	const struct stp_engine_options opts = {1, STP_ISA_AUTO};

	if (stp_engine_create(&opts, &engine) != STP_OK)
		HARNESS_ERROR("cannot create an engine");
	test_valid(&tiny_basic, c_names, 4);
	test_valid(&tiny_fpn, p6_names, 5);
	test_valid(&tiny_fpn_none, p6_names, 4);
	test_valid(&tiny_cls, logits, 1);
	test_tensors();
	test_metadata();
	test_dcn();
	test_truncation();
	test_files();
	stp_engine_destroy(engine);
	return test_main_end();
}
