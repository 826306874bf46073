/*
 * test-arch.c - the architecture parser (engine/model/arch.c).
 *
 * Valid ResNet-18/50/101 documents (with and without an FPN) must parse
 * into the right fields. Each invalid case is a valid document with one
 * substring replaced, and must fail with the expected status and a message
 * naming the field; stp_arch_clear() then runs on the half-filled struct.
 * The optional backbone.dcn (deformable convs) is checked the same way, and
 * so is the one-stage family (a "cspnet" backbone, a "pan" neck, a "gfl"
 * head, input.channel_order: NanoDet-g's document).
 */
#include <string.h>

#include "model/arch.h"
#include "testutil.h"

#define F STP_ERR_FORMAT
#define U STP_ERR_UNSUPPORTED
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define INPUT \
	"\"input\": {\"channels\": 3, \"mean\": [123.675, 116.28, 103.53], " \
	"\"std\": [58.395, 57.12, 57.375], " \
	"\"resize\": {\"short_side\": 800, \"max_long_side\": 1333}, \"size_divisor\": 32}"

static const char resnet50_fpn[] =
	"{\"backbone\": {\"kind\": \"resnet\", \"depth\": 50, \"block\": \"bottleneck\", "
	"\"layers\": [3, 4, 6, 3], \"stem_width\": 64, \"widths\": [64, 128, 256, 512], "
	"\"bn_eps\": 1e-05, \"num_classes\": 0, \"sparse\": null}, "
	"\"neck\": {\"kind\": \"fpn\", \"in_channels\": [256, 512, 1024, 2048], "
	"\"out_channels\": 256, \"extra_block\": \"maxpool\"}, "
	"\"heads\": [], \"classes\": [], " INPUT "}";

static const char resnet18[] =
	"{\"backbone\": {\"kind\": \"resnet\", \"depth\": 18, \"block\": \"basic\", "
	"\"layers\": [2, 2, 2, 2], \"stem_width\": 32, \"widths\": [64, 128, 256, 512], "
	"\"bn_eps\": 0.001, \"num_classes\": 0, \"sparse\": null}, "
	"\"neck\": null, \"heads\": [], \"classes\": [\"cat\", \"dog\", \"\"], "
	"\"input\": {\"channels\": 1, \"mean\": [0], \"std\": [1.5], "
	"\"resize\": {\"short_side\": 224, \"max_long_side\": 224}, \"size_divisor\": 1}}";

static const char resnet101_cls[] =
	"{\"input\": {\"channels\": 4, \"mean\": [1, 2, 3, -4.5], \"std\": [1, 2, 3, 4], "
	"\"resize\": {\"max_long_side\": 1333, \"short_side\": 800}, \"size_divisor\": 32}, "
	"\"classes\": [], \"heads\": [], \"neck\": null, "
	"\"backbone\": {\"sparse\": null, \"num_classes\": 1000, \"bn_eps\": 1, "
	"\"widths\": [64, 128, 256, 512], \"stem_width\": 64, \"layers\": [3, 4, 23, 3], "
	"\"block\": \"bottleneck\", \"depth\": 101, \"kind\": \"resnet\"}}";

static const char resnet18_fpn[] =
	"{\"backbone\": {\"kind\": \"resnet\", \"depth\": 18, \"block\": \"basic\", "
	"\"layers\": [2, 2, 2, 2], \"stem_width\": 64, \"widths\": [64, 128, 256, 512], "
	"\"bn_eps\": 1e-05, \"num_classes\": 0, \"sparse\": null}, "
	"\"neck\": {\"kind\": \"fpn\", \"in_channels\": [64, 128, 256, 512], "
	"\"out_channels\": 128, \"extra_block\": \"none\"}, "
	"\"heads\": [], \"classes\": [], " INPUT "}";

static const char nanodet_g[] =
	"{\"backbone\": {\"kind\": \"cspnet\", \"stem_width\": 32, \"kernel_size\": 3, "
	"\"stages\": [{\"channels\": 32, \"blocks\": 1, \"stride\": 1}, "
	"{\"channels\": 64, \"blocks\": 2, \"stride\": 2}, "
	"{\"channels\": 128, \"blocks\": 2, \"stride\": 2}, "
	"{\"channels\": 256, \"blocks\": 3, \"stride\": 2}], "
	"\"negative_slope\": 0.1, \"sparse\": null}, "
	"\"neck\": {\"kind\": \"pan\", \"in_features\": [\"c3\", \"c4\", \"c5\"], "
	"\"in_channels\": [128, 256, 512], \"out_channels\": 128}, "
	"\"heads\": [{\"kind\": \"gfl\", \"num_classes\": 2, "
	"\"in_features\": [\"p3\", \"p4\", \"p5\"], \"strides\": [8, 16, 32], "
	"\"feat_channels\": 128, \"stacked_convs\": 1, \"reg_max\": 10, "
	"\"center_offset\": 0.5, \"nms_pre\": 1000, \"multi_label\": false, "
	"\"score_thresh\": 0.05, "
	"\"nms_thresh\": 0.6, \"detections_per_img\": 100}], "
	"\"classes\": [\"person\", \"bicycle\"], "
	"\"input\": {\"channels\": 3, \"channel_order\": \"bgr\", "
	"\"mean\": [103.53, 116.28, 123.675], \"std\": [57.375, 57.12, 58.395], "
	"\"resize\": {\"short_side\": 416, \"max_long_side\": 416}, \"size_divisor\": 32}}";

/* base with the first occurrence of from replaced by to; the caller frees. */
static char *mutate(const char *base, const char *from, const char *to)
{
	const char *at = strstr(base, from);
	size_t head, n;
	char *s;

	if (!at)
		HARNESS_ERROR("'%s' is not in the base document", from);
	head = (size_t)(at - base);
	n = strlen(base) - strlen(from) + strlen(to) + 1;
	s = malloc(n);
	if (!s)
		HARNESS_ERROR("out of memory");
	memcpy(s, base, head);
	strcpy(s + head, to);
	strcat(s, at + strlen(from));
	return s;
}

static void test_valid(void)
{
	struct stp_arch a;
	char err[256] = "";
	enum stp_status st;

	st = stp_arch_parse(resnet50_fpn, &a, err, sizeof(err));
	CHECK(st == STP_OK, "resnet50-fpn: %s", err);
	CHECK(a.depth == 50 && a.block == STP_BLOCK_BOTTLENECK && a.expansion == 4,
	      "resnet50 backbone kind");
	CHECK(a.layers[0] == 3 && a.layers[1] == 4 && a.layers[2] == 6 && a.layers[3] == 3,
	      "resnet50 layers");
	CHECK(a.stem_width == 64 && a.widths[0] == 64 && a.widths[3] == 512, "resnet50 widths");
	CHECK(fabsf(a.bn_eps - 1e-5f) < 1e-12f && a.num_classes == 0 && !a.sparse.enabled,
	      "resnet50 bn_eps, num_classes, sparse");
	CHECK(a.neck == STP_NECK_FPN && a.fpn_in_channels[0] == 256 &&
	      a.fpn_in_channels[3] == 2048 && a.fpn_out_channels == 256 && a.fpn_extra_maxpool,
	      "resnet50 fpn");
	CHECK(a.in_channels == 3 && fabsf(a.mean[1] - 116.28f) < 1e-4f &&
	      fabsf(a.std[2] - 57.375f) < 1e-4f, "resnet50 input normalisation");
	CHECK(a.resize_short_side == 800 && a.resize_max_long_side == 1333 && a.size_divisor == 32,
	      "resnet50 resize");
	CHECK(a.nclasses == 0 && a.json && strcmp(a.json, resnet50_fpn) == 0, "resnet50 json kept");
	stp_arch_clear(&a);
	CHECK(a.json == NULL && a.classes == NULL, "clear zeroes the struct");
	stp_arch_clear(&a);

	st = stp_arch_parse(resnet18, &a, err, sizeof(err));
	CHECK(st == STP_OK, "resnet18: %s", err);
	CHECK(a.depth == 18 && a.block == STP_BLOCK_BASIC && a.expansion == 1 &&
	      a.layers[2] == 2 && a.stem_width == 32, "resnet18 backbone");
	CHECK(a.neck == STP_NECK_NONE && a.in_channels == 1 && a.mean[0] == 0 && a.std[0] == 1.5f,
	      "resnet18 neck and input");
	CHECK(fabsf(a.bn_eps - 1e-3f) < 1e-9f && a.size_divisor == 1, "resnet18 bn_eps");
	CHECK(a.nclasses == 3 && a.classes && strcmp(a.classes[0], "cat") == 0 &&
	      strcmp(a.classes[1], "dog") == 0 && a.classes[2][0] == '\0', "resnet18 classes");
	stp_arch_clear(&a);

	st = stp_arch_parse(resnet101_cls, &a, err, sizeof(err));
	CHECK(st == STP_OK, "resnet101 classifier: %s", err);
	CHECK(a.depth == 101 && a.layers[2] == 23 && a.num_classes == 1000 && a.bn_eps == 1.0f &&
	      a.neck == STP_NECK_NONE, "resnet101 backbone");
	CHECK(a.in_channels == 4 && a.mean[3] == -4.5f && a.std[3] == 4.0f, "resnet101 input");
	stp_arch_clear(&a);

	st = stp_arch_parse(resnet18_fpn, &a, err, sizeof(err));
	CHECK(st == STP_OK, "resnet18-fpn: %s", err);
	CHECK(a.neck == STP_NECK_FPN && !a.fpn_extra_maxpool && a.fpn_in_channels[1] == 128 &&
	      a.fpn_out_channels == 128, "resnet18 fpn without maxpool");
	stp_arch_clear(&a);

	/* Clearing a zeroed struct is safe. */
	memset(&a, 0, sizeof(a));
	stp_arch_clear(&a);
	stp_arch_clear(NULL);
}

/* base with from -> to must fail with status and word in the message. */
static void expect(const char *base, const char *from, const char *to, enum stp_status status,
		   const char *word)
{
	char *json = mutate(base, from, to);
	struct stp_arch a;
	char err[256] = "";
	enum stp_status st = stp_arch_parse(json, &a, err, sizeof(err));

	CHECK(st == status, "%s -> %s: status %d, expected %d (%s)", from, to, (int)st,
	      (int)status, err);
	CHECK(strstr(err, word) != NULL, "%s -> %s: message '%s' lacks '%s'", from, to, err, word);
	stp_arch_clear(&a);
	free(json);
}

/* One substring replacement of a base document and what it must give. */
struct mutation {
	const char *from, *to;
	enum stp_status status;
	const char *word;
};

static void expect_each(const char *base, const struct mutation *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect(base, m[i].from, m[i].to, m[i].status, m[i].word);
}

static const struct mutation unknown_and_missing_keys[] = {
	{"\"heads\": []", "\"heads\": [], \"heads\": []", F, "JSON"},
	{"\"heads\": []", "\"heads\": [], \"head\": []", F, "unknown key 'head'"},
	{"\"depth\": 50", "\"depth\": 50, \"dept\": 50", F, "unknown key 'dept'"},
	{"\"out_channels\": 256",
	 "\"out_channels\": 256, \"x\": 1", F, "unknown key 'x' in neck"},
	{"\"size_divisor\": 32",
	 "\"size_divisor\": 32, \"y\": 1", F, "unknown key 'y' in input"},
	{"\"max_long_side\": 1333",
	 "\"max_long_side\": 1333, \"z\": 1", F, "unknown key 'z' in input.resize"},
	{"\"bn_eps\": 1e-05, ", "", F, "backbone.bn_eps is missing"},
	{", \"sparse\": null", "", F, "backbone.sparse is missing"},
	{"\"classes\": [], ", "", F, "classes is missing"},
	{", \"size_divisor\": 32", "", F, "input.size_divisor is missing"},
};

static const struct mutation types_and_ranges[] = {
	{"\"kind\": \"resnet\"", "\"kind\": 1", F, "backbone.kind"},
	{"\"kind\": \"resnet\"", "\"kind\": \"vit\"", U, "backbone.kind 'vit'"},
	{"\"block\": \"bottleneck\"", "\"block\": \"Bottleneck\"", F, "backbone.block"},
	{"\"layers\": [3, 4, 6, 3]",
	 "\"layers\": [3, 4, 6]", F, "backbone.layers must be 4 integers in 1..64"},
	{"\"layers\": [3, 4, 6, 3]", "\"layers\": [3, 4, 0, 3]", F, "backbone.layers"},
	{"\"layers\": [3, 4, 6, 3]", "\"layers\": [3, 4, 65, 3]", F, "backbone.layers"},
	{"\"layers\": [3, 4, 6, 3]", "\"layers\": [3, 4, 6.0, 3]", F, "backbone.layers"},
	{"\"layers\": [3, 4, 6, 3]", "\"layers\": \"3463\"", F, "backbone.layers"},
	{"\"depth\": 50", "\"depth\": \"50\"", F, "backbone.depth"},
	{"\"stem_width\": 64", "\"stem_width\": 0", F, "backbone.stem_width"},
	{"\"stem_width\": 64", "\"stem_width\": 4097", F, "backbone.stem_width"},
	{"\"widths\": [64, 128, 256, 512]",
	 "\"widths\": [64, 128, 256, -512]", F, "backbone.widths"},
	{"\"widths\": [64, 128, 256, 512]",
	 "\"widths\": [64, 128, 256, 99999999999]", F, "backbone.widths"},
	{"\"bn_eps\": 1e-05", "\"bn_eps\": 0", F, "bn_eps"},
	{"\"bn_eps\": 1e-05", "\"bn_eps\": -1e-05", F, "bn_eps"},
	{"\"bn_eps\": 1e-05", "\"bn_eps\": \"1e-5\"", F, "bn_eps"},
	{"\"bn_eps\": 1e-05", "\"bn_eps\": 1e300", F, "bn_eps"},
	{"\"num_classes\": 0", "\"num_classes\": -1", F, "num_classes"},
	{"\"num_classes\": 0", "\"num_classes\": 10", F, "needs backbone.num_classes 0"},
	{"\"sparse\": null", "\"sparse\": 0", F, "sparse"},
};

static const struct mutation bad_sparse_settings[] = {
	{"\"rbf\"", "\"gauss\"", F, "kernel"},
	{"\"window\": 7", "\"window\": 4", F, "odd"},
	{"\"window\": 7", "\"window\": 17", F, "window"},
	{"\"grid_stride\": 11", "\"grid_stride\": 0", F, "grid_stride"},
	{"\"variant\": \"b\"", "\"variant\": \"d\"", F, "variant"},
	{"[1, 1, 1]], \"temp", "[1, 1]], \"temp", F, "blocks[3]"},
	{"[0, 1, 1", "[2, 1, 1", F, "blocks[2][0]"},
	{"\"temperature\": 0.03", "\"temperature\": 0", F, "temperature"},
	{", \"temperature\": 0.03", "", F, "temperature is missing"},
	{"\"variant\": \"b\"", "\"variant\": \"b\", \"extra\": 1", F, "unknown key"},
	{"\"temperature\": 0.03",
	 "\"temperature\": 0.03, \"calibration\": []", F, "calibration must be a list"},
	{"\"temperature\": 0.03",
	 "\"temperature\": 0.03, \"calibration\": 0.5", F, "calibration must be a list"},
	{"\"temperature\": 0.03",
	 "\"temperature\": 0.03, \"calibration\": [0.5, 0]", F, "calibration[1]"},
	{"\"temperature\": 0.03",
	 "\"temperature\": 0.03, \"calibration\": [1.5]", F, "calibration[0]"},
};

static const struct mutation bad_dcn_settings[] = {
	{"\"modulated\": false",
	 "\"modulated\": false, \"fallback\": 1", F, "unknown key 'fallback' in backbone.dcn"},
	{", \"modulated\": false", "", F, "backbone.dcn.modulated is missing"},
	{"\"modulated\": false", "\"modulated\": 0", F, "modulated"},
	{"[false, true, true, true]",
	 "[false, true, true]", F, "backbone.dcn.stages must be 4 booleans"},
	{"[false, true, true, true]", "[0, 1, 1, 1]", F, "stages[0]"},
	{"[false, true, true, true]", "[false, false, false, false]", F, "no true stage"},
	{"\"deform_groups\": 1", "\"deform_groups\": 0", F, "backbone.dcn.deform_groups"},
	{"\"deform_groups\": 1", "\"deform_groups\": 65", F, "deform_groups"},
	{"\"deform_groups\": 1", "\"deform_groups\": 3", F, "does not divide"},
	{"\"sparse\": null, ", "", F, "backbone.sparse is missing"},
};

static const struct mutation bad_fpn[] = {
	{"\"in_channels\": [256, 512, 1024, 2048]",
	 "\"in_channels\": [256, 512, 1024]", F, "neck.in_channels"},
	{"\"kind\": \"fpn\"", "\"kind\": \"bifpn\"", U, "neck.kind 'bifpn'"},
	{"\"out_channels\": 256", "\"out_channels\": 0", F, "neck.out_channels"},
	{"\"extra_block\": \"maxpool\"", "\"extra_block\": \"conv\"", F, "neck.extra_block"},
};

static const struct mutation bad_heads_classes_input[] = {
	{"\"heads\": []", "\"heads\": [{\"kind\": \"rpn\"}]", U, "heads[0].kind"},
	{"\"heads\": []", "\"heads\": {}", F, "heads must be a list"},
	{"\"classes\": []", "\"classes\": [\"a\", 1]", F, "classes[1]"},
	{"\"classes\": []", "\"classes\": \"a\"", F, "classes"},
	{"\"channels\": 3", "\"channels\": 0", F, "input.channels"},
	{"\"channels\": 3", "\"channels\": 5", F, "input.channels"},
	{"\"channels\": 3", "\"channels\": 2", F, "input.mean"},
	{"\"std\": [58.395, 57.12, 57.375]", "\"std\": [58.395, 0, 57.375]", F, "input.std"},
	{"\"std\": [58.395, 57.12, 57.375]", "\"std\": [58.395, -1, 57.375]", F, "input.std"},
	{"\"std\": [58.395, 57.12, 57.375]", "\"std\": [58.395, 57.12]", F, "input.std"},
	{"\"mean\": [123.675, 116.28, 103.53]",
	 "\"mean\": [123.675, \"1\", 103.53]", F, "input.mean"},
	{"\"mean\": [123.675, 116.28, 103.53]", "\"mean\": [1e39, 1, 1]", F, "input.mean"},
	{"\"short_side\": 800", "\"short_side\": 0", F, "input.resize.short_side"},
	{"\"resize\": {\"short_side\": 800, \"max_long_side\": 1333}",
	 "\"resize\": [800, 1333]", F, "input.resize must be an object"},
	{"\"size_divisor\": 32", "\"size_divisor\": 0", F, "input.size_divisor"},
};

static void test_invalid(void)
{
	const char *b = resnet50_fpn;
	struct stp_arch a;
	char err[256] = "";

	/* Not a document. */
	CHECK(stp_arch_parse("{\"backbone\": ", &a, err, sizeof(err)) == F &&
	      strstr(err, "JSON"), "bad JSON: %s", err);
	stp_arch_clear(&a);
	CHECK(stp_arch_parse("[]", &a, err, sizeof(err)) == F && strstr(err, "object"),
	      "not an object: %s", err);
	stp_arch_clear(&a);
	CHECK(stp_arch_parse(NULL, &a, err, sizeof(err)) == STP_ERR_INVALID_ARG, "NULL json");
	stp_arch_clear(&a);
	expect_each(b, unknown_and_missing_keys, ARRAY_LEN(unknown_and_missing_keys));

	/* Types and ranges. */
	CHECK(stp_arch_parse("{\"backbone\": 1, \"neck\": null, \"heads\": [], "
			     "\"classes\": [], \"input\": {}}", &a, err, sizeof(err)) == F &&
	      strstr(err, "backbone must be an object"), "backbone not an object: %s", err);
	stp_arch_clear(&a);
	expect_each(b, types_and_ranges, ARRAY_LEN(types_and_ranges));
	/* Sparse settings. */
	{
		static const char sp[] = "\"sparse\": {\"kernel\": \"rbf\", \"window\": 7, "
			"\"grid_stride\": 11, \"variant\": \"b\", \"blocks\": [[1, 1, 1], "
			"[1, 1, 1, 1], [0, 1, 1, 1, 1, 1], [1, 1, 1]], \"temperature\": 0.03}";
		char *json = mutate(b, "\"sparse\": null", sp);
		enum stp_status st = stp_arch_parse(json, &a, err, sizeof(err));
		CHECK(st == STP_OK && a.sparse.enabled && a.sparse.kernel == STP_INTERP_RBF &&
		      a.sparse.window == 7 && a.sparse.grid_stride == 11 && a.sparse.variant == 'b' &&
		      a.sparse.blocks[2][0] == 0 && a.sparse.blocks[2][1] == 1 &&
		      fabsf(a.sparse.temperature - 0.03f) < 1e-7f, "sparse settings parse (%s)", err);
		stp_arch_clear(&a);
		free(json);
		char *sb = mutate(b, "\"sparse\": null", sp);
		expect_each(sb, bad_sparse_settings, ARRAY_LEN(bad_sparse_settings));
		{
			char *cal = mutate(sb, "\"temperature\": 0.03",
					   "\"temperature\": 0.03, \"calibration\": [1, 0.25]");
			char *none = mutate(sb, "\"temperature\": 0.03",
					    "\"temperature\": 0.03, \"calibration\": null");
			st = stp_arch_parse(cal, &a, err, sizeof(err));
			CHECK(st == STP_OK && a.sparse.ncalibration == 2 && a.sparse.calibration[0] == 1.0f &&
			      a.sparse.calibration[1] == 0.25f, "calibration parses (%s)", err);
			stp_arch_clear(&a);
			st = stp_arch_parse(none, &a, err, sizeof(err));
			CHECK(st == STP_OK && a.sparse.ncalibration == 0, "calibration null (%s)", err);
			stp_arch_clear(&a);
			free(cal);
			free(none);
		}
		free(sb);
		char *basic = mutate(resnet18, "\"sparse\": null",
				     "\"sparse\": {\"kernel\": \"avgpool\", \"window\": 3, "
				     "\"grid_stride\": 4, \"variant\": \"c\", \"blocks\": [[1, 1], "
				     "[1, 1], [1, 1], [1, 1]], \"temperature\": 1}");
		expect(basic, "\"window\": 3", "\"window\": 3", F, "needs bottleneck");
		free(basic);
	}

	/* Deformable convs: optional, null = absent. */
	{
		static const char dcn[] = "\"sparse\": null, \"dcn\": {\"stages\": [false, true, "
			"true, true], \"deform_groups\": 1, \"modulated\": false}";
		char *json = mutate(b, "\"sparse\": null", dcn);
		struct stp_arch da;
		char derr[256] = "";
		enum stp_status st = stp_arch_parse(json, &da, derr, sizeof(derr));
		CHECK(st == STP_OK && da.dcn.enabled && !da.dcn.stages[0] && da.dcn.stages[1] &&
		      da.dcn.stages[3] && da.dcn.deform_groups == 1 && !da.dcn.modulated &&
		      da.dcn.offset_channels == 18, "dcn settings parse (%s)", derr);
		stp_arch_clear(&da);
		free(json);
		json = mutate(b, "\"sparse\": null", "\"sparse\": null, \"dcn\": {\"stages\": "
			      "[true, false, false, true], \"deform_groups\": 4, "
			      "\"modulated\": true}");
		st = stp_arch_parse(json, &da, derr, sizeof(derr));
		CHECK(st == STP_OK && da.dcn.enabled && da.dcn.stages[0] && !da.dcn.stages[1] &&
		      da.dcn.deform_groups == 4 && da.dcn.modulated && da.dcn.offset_channels == 108,
		      "modulated dcn parses (%s)", derr);
		stp_arch_clear(&da);
		free(json);
		json = mutate(b, "\"sparse\": null", "\"sparse\": null, \"dcn\": null");
		st = stp_arch_parse(json, &da, derr, sizeof(derr));
		CHECK(st == STP_OK && !da.dcn.enabled, "dcn null is no dcn (%s)", derr);
		stp_arch_clear(&da);
		free(json);
		CHECK(stp_arch_parse(b, &da, derr, sizeof(derr)) == STP_OK && !da.dcn.enabled,
		      "no dcn key is no dcn");
		stp_arch_clear(&da);

		char *db = mutate(b, "\"sparse\": null", dcn);
		expect(db, dcn + strlen("\"sparse\": null, "), "\"dcn\": [1]", F,
		       "backbone.dcn must be an object");
		expect_each(db, bad_dcn_settings, ARRAY_LEN(bad_dcn_settings));
		free(db);
		/* With sparse blocks too (the official sparse model has both). */
		db = mutate(b, "\"sparse\": null", "\"sparse\": {\"kernel\": \"rbf\", "
			    "\"window\": 7, \"grid_stride\": 11, \"variant\": \"b\", \"blocks\": "
			    "[[1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [1, 1, 1]], "
			    "\"temperature\": 0.03}, \"dcn\": {\"stages\": [false, true, true, "
			    "true], \"deform_groups\": 1, \"modulated\": false}");
		st = stp_arch_parse(db, &da, derr, sizeof(derr));
		CHECK(st == STP_OK && da.sparse.enabled && da.dcn.enabled, "sparse + dcn (%s)", derr);
		stp_arch_clear(&da);
		expect(db, "\"window\": 7", "\"window\": 8", F, "odd");
		free(db);
		db = mutate(resnet18, "\"sparse\": null", dcn);
		expect(db, "\"depth\": 18", "\"depth\": 18", F, "needs bottleneck");
		free(db);
	}

	/* Depth consistency. */
	expect(b, "\"depth\": 50", "\"depth\": 51", F, "inconsistent");
	expect(b, "\"block\": \"bottleneck\"", "\"block\": \"basic\"", F, "expected 34");
	expect(resnet18, "\"depth\": 18", "\"depth\": 26", F, "expected 18");

	/* The FPN. */
	expect(b, "\"in_channels\": [256, 512, 1024, 2048]",
	       "\"in_channels\": [256, 512, 1024, 512]", F, "neck.in_channels[3]");
	expect(resnet18_fpn, "\"in_channels\": [64, 128, 256, 512]",
	       "\"in_channels\": [256, 512, 1024, 2048]", F, "in_channels[0]");
	expect_each(b, bad_fpn, ARRAY_LEN(bad_fpn));
	expect(resnet18, "\"neck\": null", "\"neck\": []", F, "neck must be an object");

	/* Heads and classes. */
	expect_each(b, bad_heads_classes_input, ARRAY_LEN(bad_heads_classes_input));
}

/* resnet50_fpn with both heads (proto/model-format.md, "Heads"). */
#define FASTER_RCNN \
	"{\"kind\": \"faster_rcnn\", \"num_classes\": 2, " \
	"\"rpn\": {\"in_features\": [\"p2\", \"p3\", \"p4\", \"p5\", \"p6\"], " \
	"\"anchor_sizes\": [[32], [64], [128], [256], [512]], \"aspect_ratios\": [0.5, 1.0, 2.0], " \
	"\"pre_nms_top_n\": 1000, \"post_nms_top_n\": 1000, \"nms_thresh\": 0.7, " \
	"\"score_thresh\": 0.0, \"min_size\": 0.001, \"box_weights\": [1.0, 1.0, 1.0, 1.0]}, " \
	"\"roi\": {\"in_features\": [\"p2\", \"p3\", \"p4\", \"p5\"], \"output_size\": 7, " \
	"\"sampling_ratio\": 2, \"aligned\": false, \"canonical_scale\": 224, " \
	"\"canonical_level\": 4, \"eps\": 1e-06}, " \
	"\"box\": {\"representation_size\": 1024, \"box_weights\": [10.0, 10.0, 5.0, 5.0], " \
	"\"score_thresh\": 0.05, \"nms_thresh\": 0.5, \"detections_per_img\": 100, " \
	"\"min_size\": 0.01}, \"bbox_xform_clip\": 4.135166556742356}"
#define SEMANTIC_FPN \
	"{\"kind\": \"semantic_fpn\", \"num_classes\": 2, " \
	"\"in_features\": [\"p2\", \"p3\", \"p4\", \"p5\"], \"channels\": 128}"

static const struct mutation bad_two_stage_heads[] = {
	{"\"kind\": \"semantic_fpn\"", "\"kind\": \"panoptic\"", U, "heads[1].kind"},
	{"\"kind\": \"semantic_fpn\"",
	 "\"kind\": \"faster_rcnn\"", F, "at most one of each kind"},
	{"\"channels\": 128}",
	 "\"channels\": 128, \"x\": 1}", F, "unknown key 'x' in heads[1]"},
	{"\"num_classes\": 2, \"in_features\"",
	 "\"num_classes\": 3, \"in_features\"", F, "disagree on num_classes"},
	{"\"classes\": [\"a\", \"b\"]", "\"classes\": [\"a\"]", F, "classes names 1"},
	{"\"num_classes\": 2, \"rpn\"",
	 "\"num_classes\": 255, \"rpn\"", F, "heads[0].num_classes"},
	{"[[32], [64], [128], [256], [512]]",
	 "[[32], [64], [128], [256]]", F, "one list per in_features level"},
	{"[[32], [64], [128], [256], [512]]",
	 "[[32], [64, 80], [128], [256], [512]]", F, "same number of sizes"},
	{"[[32], [64]", "[[0], [64]", F, "anchor_sizes[0]"},
	{"\"aspect_ratios\": [0.5, 1.0, 2.0]",
	 "\"aspect_ratios\": []", F, "heads[0].rpn.aspect_ratios"},
	{"\"nms_thresh\": 0.7", "\"nms_thresh\": 1.5", F, "heads[0].rpn.nms_thresh"},
	{"\"box_weights\": [1.0, 1.0, 1.0, 1.0]",
	 "\"box_weights\": [1.0, 1.0, 1.0]", F, "heads[0].rpn.box_weights"},
	{"\"pre_nms_top_n\": 1000", "\"pre_nms_top_n\": 0", F, "pre_nms_top_n"},
	{"\"sampling_ratio\": 2", "\"sampling_ratio\": 0", F, "sampling_ratio"},
	{"\"aligned\": false", "\"aligned\": 0", F, "aligned"},
	{"\"in_features\": [\"p2\", \"p3\", \"p4\", \"p5\"], \"output_size\"",
	 "\"in_features\": [\"p2\", \"p4\"], \"output_size\"", F, "consecutive"},
	{"\"in_features\": [\"p2\", \"p3\", \"p4\", \"p5\", \"p6\"]",
	 "\"in_features\": [\"p2\", \"p2\"]", F, "names p2 twice"},
	{"\"in_features\": [\"p2\", \"p3\", \"p4\", \"p5\", \"p6\"]",
	 "\"in_features\": [\"c5\"]", F, "in_features[0]"},
};

static const struct mutation bad_head_levels[] = {
	{"\"detections_per_img\": 100", "\"detections_per_img\": 0", F, "detections_per_img"},
	{"\"bbox_xform_clip\": 4.135166556742356",
	 "\"bbox_xform_clip\": 0", F, "bbox_xform_clip"},
	{"\"representation_size\": 1024",
	 "\"representation_size\": 1024.5", F, "representation_size"},
	{"\"channels\": 128}", "\"channels\": 0}", F, "heads[1].channels"},
};

static void test_heads(void)
{
	char *b = mutate(resnet50_fpn, "\"heads\": [], \"classes\": []",
			 "\"heads\": [" FASTER_RCNN ", " SEMANTIC_FPN "], \"classes\": [\"a\", \"b\"]");
	char *no_p6 = mutate(b, "\"extra_block\": \"maxpool\"", "\"extra_block\": \"none\"");
	struct stp_arch a;
	char err[256] = "";

	CHECK(stp_arch_parse(b, &a, err, sizeof(err)) == STP_OK, "both heads: %s", err);
	CHECK(a.detect.enabled && a.detect.num_classes == 2 && a.detect.rpn_nlevels == 5 &&
	      a.detect.rpn_levels[4] == 6 && a.detect.nsizes == 1 &&
	      a.detect.anchor_sizes[4][0] == 512 && a.detect.nratios == 3 &&
	      a.detect.aspect_ratios[0] == 0.5f && a.detect.pre_nms_top_n == 1000 &&
	      a.detect.rpn_nms_thresh == 0.7f && a.detect.rpn_min_size == 0.001f &&
	      a.detect.roi_nlevels == 4 && a.detect.roi_levels[0] == 2 &&
	      a.detect.output_size == 7 && a.detect.sampling_ratio == 2 && !a.detect.aligned &&
	      a.detect.canonical_scale == 224 && a.detect.canonical_level == 4 &&
	      a.detect.level_eps == 1e-6f && a.detect.representation_size == 1024 &&
	      a.detect.box_weights[2] == 5 && a.detect.box_score_thresh == 0.05f &&
	      a.detect.detections_per_img == 100 && a.detect.box_min_size == 0.01f &&
	      a.detect.bbox_xform_clip == (float)4.135166556742356, "faster_rcnn fields");
	CHECK(a.segment.enabled && a.segment.num_classes == 2 && a.segment.nlevels == 4 &&
	      a.segment.levels[3] == 5 && a.segment.channels == 128, "semantic_fpn fields");
	stp_arch_clear(&a);

	expect_each(b, bad_two_stage_heads, ARRAY_LEN(bad_two_stage_heads));
	expect(no_p6, "\"none\"", "\"none\"", F, "p2..p5");
	expect_each(b, bad_head_levels, ARRAY_LEN(bad_head_levels));
	free(no_p6);
	free(b);
	{
		char *no_neck = mutate(resnet18, "\"heads\": []", "\"heads\": [" SEMANTIC_FPN "]");
		expect(no_neck, "\"heads\"", "\"heads\"", F, "need an FPN neck");
		free(no_neck);
	}
}

static const struct mutation bad_one_stage[] = {
	{"\"channel_order\": \"bgr\", ",
	 "\"channel_order\": \"BGR\", ", F, "input.channel_order"},
	{"\"kind\": \"cspnet\"", "\"kind\": \"csp\"", U, "backbone.kind 'csp'"},
	{"\"kernel_size\": 3", "\"kernel_size\": 4", F, "kernel_size must be odd"},
	{"\"negative_slope\": 0.1", "\"negative_slope\": 1.5", F, "negative_slope"},
	{"\"channels\": 64",
	 "\"channels\": 48", F, "backbone.stages[1].channels is 48, but its input has 64"},
	{"\"blocks\": 2", "\"blocks\": 0", F, "backbone.stages[1].blocks"},
	{"\"stride\": 1}", "\"stride\": 3}", F, "backbone.stages[0].stride"},
	{"\"stride\": 1}",
	 "\"stride\": 1, \"dilation\": 1}", F, "unknown key 'dilation' in backbone.stages[0]"},
	{"\"stages\": [",
	 "\"stages\": [{\"channels\": 32, \"blocks\": 1, "
	       "\"stride\": 1}, ", F, "backbone.stages must be a list of 1..4"},
	{"\"sparse\": null}", "\"sparse\": {}}", F, "backbone.sparse.kernel is missing"},
};

static const struct mutation bad_one_stage_masks[] = {
	{"\"sparse\": null}",
	 "\"sparse\": {\"kernel\": \"learned\", \"window\": 7, "
		       "\"grid_stride\": 5, \"stages\": [1, 1, 1, 1], \"head\": [1, 1, 1], "
		       "\"temperature\": 1}}", F, "backbone.sparse.kernel"},
	{"\"sparse\": null}",
	 "\"sparse\": {\"kernel\": \"rbf\", \"window\": 7, "
		       "\"grid_stride\": 5, \"stages\": [1, 1, 1], \"head\": [1, 1, 1], "
		       "\"temperature\": 1}}",
	 F, "backbone.sparse.stages must be a list of one-per-stage"},
	{"\"sparse\": null}",
	 "\"sparse\": {\"kernel\": \"rbf\", \"window\": 7, "
		       "\"grid_stride\": 5, \"stages\": [1, 1, 1, 1], \"head\": [1, 1], "
		       "\"temperature\": 1}}",
	 F, "backbone.sparse.head has 2 flags, the head 3 levels"},
	{"\"sparse\": null}",
	 "\"sparse\": {\"kernel\": \"rbf\", \"window\": 6, "
		       "\"grid_stride\": 5, \"stages\": [1, 1, 1, 1], \"head\": [1, 1, 1], "
		       "\"temperature\": 1}}", F, "window must be odd"},
};

static const struct mutation bad_gfl_head[] = {
	{"[\"c3\", \"c4\", \"c5\"]",
	 "[\"c3\", \"c5\"]", F, "neck.in_features must be consecutive"},
	{"\"in_channels\": [128, 256, 512]",
	 "\"in_channels\": [128, 256, 256]", F, "neck.in_channels[2] is 256, but c5 has 512"},
	{"\"kind\": \"pan\"", "\"kind\": \"fpn\"", F, "needs a \"resnet\" backbone"},
	{"[\"p3\", \"p4\", \"p5\"]",
	 "[\"p3\", \"p4\", \"p6\"]",
	 F, "in_features[2] must name an output of the neck (p3..p5)"},
	{"[8, 16, 32]", "[8, 16, 30]", F, "strides[2] is 30, but p5 has stride 32"},
	{"\"center_offset\": 0.5", "\"center_offset\": 2", F, "center_offset"},
	{"\"multi_label\": false",
	 "\"multi_label\": 0", F, "heads[0].multi_label must be true or false"},
	{"\"kind\": \"gfl\"", "\"kind\": \"semantic_fpn\"", F, "needs an FPN neck"},
	{"\"classes\": [\"person\", \"bicycle\"]",
	 "\"classes\": [\"person\"]", F, "classes names 1 classes, the heads have 2"},
	{"\"channels\": 3, \"channel_order\"",
	 "\"channels\": 1, \"channel_order\"", F, "input.mean"},
};

static void test_one_stage(void)
{
	const char *b = nanodet_g;
	struct stp_arch a;
	char err[256] = "";

	CHECK(stp_arch_parse(b, &a, err, sizeof(err)) == STP_OK, "nanodet-g: %s", err);
	CHECK(a.backbone == STP_BACKBONE_CSPNET && a.csp.nstages == 4 && a.csp.stem_width == 32 &&
	      a.csp.channels[3] == 256 && a.csp.blocks[3] == 3 && a.csp.strides[0] == 1 &&
	      a.csp.strides[1] == 2 && a.csp.slope == 0.1f && a.csp.kernel_size == 3,
	      "nanodet-g backbone fields");
	CHECK(a.neck == STP_NECK_PAN && a.pan_nlevels == 3 && a.pan_levels[0] == 3 &&
	      a.fpn_out_channels == 128 && a.neck_levels == 0x38u, "nanodet-g neck fields");
	CHECK(a.gfl.enabled && a.gfl.num_classes == 2 && a.gfl.nlevels == 3 &&
	      a.gfl.levels[2] == 5 && a.gfl.strides[2] == 32 && a.gfl.reg_max == 10 &&
	      a.gfl.center_offset == 0.5f && a.gfl.nms_pre == 1000 && a.gfl.nms_thresh == 0.6f &&
	      a.gfl.multi_label == 0 &&
	      !a.detect.enabled && a.bgr == 1, "nanodet-g head and input fields");
	stp_arch_clear(&a);
	/* channel_order is optional; "rgb" is the default. */
	expect_each(b, bad_one_stage, ARRAY_LEN(bad_one_stage));
	/* masks on every stage and head level */
	{
		static const char sp[] = "\"sparse\": {\"kernel\": \"rbf\", \"window\": 7, "
			"\"grid_stride\": 5, \"stages\": [1, 0, 1, 1], \"head\": [1, 1, 0], "
			"\"temperature\": 0.05, \"calibration\": [0.5, 0.4, 0.3, 0.9, 0.8]}}";
		char *json = mutate(b, "\"sparse\": null}", sp);
		struct stp_arch s;
		char e[256] = "";
		CHECK(stp_arch_parse(json, &s, e, sizeof(e)) == STP_OK && s.sparse.enabled &&
		      s.sparse.grid_stride == 5 && s.sparse.window == 7 &&
		      s.csp.sparse_stages[0] == 1 && s.csp.sparse_stages[1] == 0 &&
		      s.csp.nsparse_head == 3 && s.csp.sparse_head[2] == 0 &&
		      s.sparse.ncalibration == 5, "sparse cspnet: %s", e);
		stp_arch_clear(&s);
		free(json);
		expect_each(b, bad_one_stage_masks, ARRAY_LEN(bad_one_stage_masks));
	}
	expect_each(b, bad_gfl_head, ARRAY_LEN(bad_gfl_head));
}

int main(void)
{
	test_valid();
	test_invalid();
	test_heads();
	test_one_stage();
	return test_main_end();
}
