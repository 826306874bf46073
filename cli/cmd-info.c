/*
 * cmd-info.c - `stipple info MODEL`: what a model is and what it costs.
 *
 * Loads the model, then prints its architecture (read from the JSON stored in
 * the file, proto/model-format.md), its parameter count, its outputs and the
 * dense cost of one forward pass at --size (stp_model_cost), and the scratch
 * a session holds for that size on --threads (stp_session_reserve). Output shapes
 * follow from the architecture without running anything: every stride-2
 * layer of a ResNet (7x7 stem, 3x3 max-pool, the 3x3 and 1x1 stride-2 convs,
 * FPN's P6 pool) maps n pixels to ceil(n / 2), so level L has the input size
 * halved L times, rounding up. With --json the same facts come as one JSON
 * object, the architecture included verbatim.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

struct info_opts {
	int size[2];   /* input height, width */
	int threads;
	int json;
};

static const struct cli_option info_options[] = {
	{"size", CLI_OPT_SIZE, "HxW", 1, CLI_SIZE_MAX, NULL, offsetof(struct info_opts, size),
	 "input size for the cost and output shapes (default: the network input of a photo "
	 "at the model's resize limits, short_side x max_long_side)", 0},
	{"threads", CLI_OPT_INT, "N", 1, 256, NULL, offsetof(struct info_opts, threads),
	 "threads used to load the model (default 1)", 0},
	{"json", CLI_OPT_FLAG, NULL, 0, 0, NULL, offsetof(struct info_opts, json),
	 "print one JSON object instead of text", 0},
};

static void info_defaults(void *p)
{
	struct info_opts *o = p;

	o->size[0] = o->size[1] = 0;   /* the model's own (info_run) */
	o->threads = 1;
	o->json = 0;
}


/* Prints the numbers of a JSON array joined by sep; "?" if not an array. */
static void print_list(const json_t *arr, const char *sep)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		fputs("?", stdout);
		return;
	}
	json_array_foreach(arr, i, v) {
		if (i > 0)
			fputs(sep, stdout);
		if (json_is_integer(v))
			printf("%lld", (long long)json_integer_value(v));
		else if (json_is_number(v))
			printf("%g", json_number_value(v));
		else if (json_is_string(v))
			fputs(json_string_value(v), stdout);
		else
			fputs("?", stdout);
	}
}

static long long get_int(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static const char *get_str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "?";
}

/*
 * The shape of output name at input h x w, from the architecture: "cL" and
 * "pL" are at stride 2^L, "logits" is 1x1xN. Returns 0 if unknown.
 */
static int output_shape(const json_t *arch, const char *name, int h, int w, int shape[3])
{
	const json_t *bb = json_object_get(arch, "backbone");
	const json_t *neck = json_object_get(arch, "neck");
	const json_t *width;
	int level, expansion;

	if (strcmp(name, "logits") == 0) {
		shape[0] = shape[1] = 1;
		shape[2] = (int)get_int(bb, "num_classes");
		return shape[2] > 0;
	}
	if ((name[0] != 'c' && name[0] != 'p') || name[1] < '2' || name[1] > '6' || name[2])
		return 0;
	level = name[1] - '0';
	for (int i = 0; i < level; i++) {
		h = h / 2 + h % 2;
		w = w / 2 + w % 2;
	}
	shape[0] = h;
	shape[1] = w;
	if (name[0] == 'p') {
		shape[2] = (int)get_int(neck, "out_channels");
	} else {
		expansion = strcmp(get_str(bb, "block"), "bottleneck") == 0 ? 4 : 1;
		width = json_array_get(json_object_get(bb, "widths"), (size_t)(level - 2));
		shape[2] = (int)(json_integer_value(width) * expansion);
	}
	return shape[2] > 0;
}

/* The sparse settings line (nothing for a dense backbone). */
static void print_sparse(const json_t *sp)
{
	const json_t *cal = json_object_get(sp, "calibration");
	double sum = 0;

	if (!json_is_object(sp))
		return;
	if (json_object_get(sp, "variant")) {
		printf("sparse       variant %s, ", get_str(sp, "variant"));
	} else {   /* a one-stage detector: masks on flagged stages and head levels */
		printf("sparse       masks on stages ");
		print_list(json_object_get(sp, "stages"), "");
		printf(" and head levels ");
		print_list(json_object_get(sp, "head"), "");
		printf(", ");
	}
	printf("%s kernel %lldx%lld, grid stride %lld; budget shares ", get_str(sp, "kernel"),
	       get_int(sp, "window"), get_int(sp, "window"), get_int(sp, "grid_stride"));
	if (json_array_size(cal) == 0) {
		printf("equal (no calibration)\n");
		return;
	}
	for (size_t i = 0; i < json_array_size(cal); i++)
		sum += json_number_value(json_array_get(cal, i));
	printf("calibrated (%zu masks, mean density %.3f)\n", json_array_size(cal),
	       sum / (double)json_array_size(cal));
}

/* The padded network input of a short_side x max_long_side photo by the
 * model's input rule (its resize limits), into size; 800x1216 when the
 * architecture lacks them. */
static void model_size(const stp_model *model, const json_t *arch, int size[2])
{
	const json_t *resize = json_object_get(json_object_get(arch, "input"), "resize");
	const long long lo = get_int(resize, "short_side"), hi = get_int(resize, "max_long_side");

	size[0] = CLI_DEFAULT_H;
	size[1] = CLI_DEFAULT_W;
	if (lo > 0 && hi > 0 && lo <= hi && hi <= 65536)
		stp_model_input_size(model, (int)lo, (int)hi, NULL, NULL, &size[0], &size[1]);
}

static void print_text(const char *path, const stp_model *model, const json_t *arch,
		       const struct info_opts *o, const struct stp_cost *cost, size_t scratch)
{
	const json_t *bb = json_object_get(arch, "backbone");
	const json_t *neck = json_object_get(arch, "neck");
	const json_t *in = json_object_get(arch, "input");
	const json_t *resize = json_object_get(in, "resize");
	uint64_t params = stp_model_parameter_count(model);
	long long classes = get_int(bb, "num_classes");
	int shape[3];

	printf("model        %s\n", path);
	if (arch == NULL) {
		printf("architecture (not parseable JSON)\n");
	} else {
		if (!strcmp(get_str(bb, "kind"), "cspnet")) {
			json_t *stages = json_object_get(bb, "stages"), *st;
			size_t i;
			printf("backbone     cspnet, stem %lld, stages (channels x blocks / stride)",
			       get_int(bb, "stem_width"));
			json_array_foreach(stages, i, st)
				printf(" %lldx%lld/%lld", get_int(st, "channels"),
				       get_int(st, "blocks"), get_int(st, "stride"));
			printf(", LeakyReLU %g\n",
			       json_number_value(json_object_get(bb, "negative_slope")));
		} else {
			printf("backbone     %s-%lld, %s blocks ", get_str(bb, "kind"),
			       get_int(bb, "depth"), get_str(bb, "block"));
			print_list(json_object_get(bb, "layers"), "-");
			printf(", stem %lld, widths ", get_int(bb, "stem_width"));
			print_list(json_object_get(bb, "widths"), "-");
			printf("\n");
		}
		print_sparse(json_object_get(bb, "sparse"));
		if (json_is_object(neck)) {
			printf("neck         %s, in ", get_str(neck, "kind"));
			print_list(json_object_get(neck, "in_channels"), "-");
			printf(", out %lld", get_int(neck, "out_channels"));
			if (json_object_get(neck, "extra_block"))
				printf(", extra block %s", get_str(neck, "extra_block"));
			printf("\n");
		} else {
			printf("neck         none\n");
		}
		if (classes > 0)
			printf("classes      %lld (classifier head), %zu named\n", classes,
			       json_array_size(json_object_get(arch, "classes")));
		else if (stp_model_tasks(model)) {
			json_t *h;
			size_t i;
			printf("heads       ");
			json_array_foreach(json_object_get(arch, "heads"), i, h)
				printf(" %s", get_str(h, "kind"));
			printf(", %d classes, %zu named\n", stp_model_class_count(model),
			       json_array_size(json_object_get(arch, "classes")));
		}
		else
			printf("classes      0 (feature extractor), %zu named\n",
			       json_array_size(json_object_get(arch, "classes")));
		printf("input        %lld channels, mean ", get_int(in, "channels"));
		print_list(json_object_get(in, "mean"), " ");
		printf(", std ");
		print_list(json_object_get(in, "std"), " ");
		printf("\npreprocess   resize short side %lld, long side <= %lld, pad to a multiple of %lld\n",
		       get_int(resize, "short_side"), get_int(resize, "max_long_side"),
		       get_int(in, "size_divisor"));
	}
	printf("parameters   %llu (%.2f M)\n", (unsigned long long)params, (double)params / 1e6);
	printf("cost         at %dx%d: backbone %.2f GMACs, total %.2f GFLOPs\n",
	       o->size[0], o->size[1], cost->backbone_macs / 1e9, cost->total_flops / 1e9);
	if (scratch > 0)
		printf("scratch      at %dx%d: %.1f MB per session (%d thread%s)\n", o->size[0],
		       o->size[1], (double)scratch / 1e6, o->threads, o->threads == 1 ? "" : "s");
	for (int i = 0; i < stp_model_output_count(model); i++) {
		const char *name = stp_model_output_name(model, i);
		if (arch != NULL && output_shape(arch, name, o->size[0], o->size[1], shape))
			printf("output       %-6s %d x %d x %d\n", name, shape[0], shape[1], shape[2]);
		else
			printf("output       %s\n", name);
	}
}

static int print_json(const char *path, const stp_model *model, json_t *arch,
		      const struct info_opts *o, const struct stp_cost *cost, size_t scratch)
{
	uint64_t params = stp_model_parameter_count(model);
	json_t *root = NULL, *outputs;
	int shape[3], rc = CLI_EXIT_FAIL;

	outputs = json_array();
	for (int i = 0; outputs != NULL && i < stp_model_output_count(model); i++) {
		const char *name = stp_model_output_name(model, i);
		json_t *out = json_pack("{s:s}", "name", name);
		if (out != NULL && arch != NULL &&
		    output_shape(arch, name, o->size[0], o->size[1], shape))
			json_object_set_new(out, "shape",
					    json_pack("[iii]", shape[0], shape[1], shape[2]));
		if (out == NULL || json_array_append_new(outputs, out) != 0)
			goto error;
	}
	root = json_pack("{s:s, s:s, s:O?, s:I, s:f, s:o, s:[ii], s:f, s:f, s:I}",
			 "model", path,
			 "version", stp_version(),
			 "architecture", arch,
			 "parameters", (json_int_t)params,
			 "parameters_m", (double)params / 1e6,
			 "outputs", outputs,
			 "size", o->size[0], o->size[1],
			 "backbone_gmacs", cost->backbone_macs / 1e9,
			 "total_gflops", cost->total_flops / 1e9,
			 "scratch_bytes", (json_int_t)scratch);
	outputs = NULL;   /* "o" stole the reference, even on failure */
	if (root == NULL || json_dumpf(root, stdout, JSON_REAL_PRECISION(10)) != 0)
		goto error;
	putchar('\n');
	rc = CLI_EXIT_OK;
error:
	if (rc != CLI_EXIT_OK)
		cli_error("info", "cannot build the JSON output");
	json_decref(outputs);
	json_decref(root);
	return rc;
}

/* The scratch a session of model holds for images of size (every buffer
 * of a run, stp_session_reserve); 0 when it cannot tell (no image input). */
static size_t scratch_bytes(const stp_model *model, const int size[2])
{
	stp_session *s = NULL;
	size_t bytes = 0;

	if (stp_session_create(model, &s) == STP_OK &&
	    stp_session_reserve(s, size[0], size[1]) == STP_OK)
		bytes = stp_session_workspace_bytes(s);
	stp_session_destroy(s);
	return bytes;
}

static int info_run(const char *const *args, const void *p)
{
	const char *path = args[0];
	struct info_opts opts = *(const struct info_opts *)p, *o = &opts;
	stp_engine *engine = NULL;
	stp_model *model = NULL;
	json_t *arch = NULL;
	struct stp_cost cost;
	size_t scratch;
	enum stp_status st;
	int rc;

	rc = cli_load("info", path, o->threads, STP_ISA_AUTO, &engine, &model);
	if (rc != CLI_EXIT_OK)
		goto error;
	arch = json_loads(stp_model_architecture(model), 0, NULL);
	if (!json_is_object(arch)) {
		json_decref(arch);
		arch = NULL;
	}
	if (o->size[0] == 0)
		model_size(model, arch, o->size);
	st = stp_model_cost(model, o->size[0], o->size[1], &cost);
	if (st != STP_OK) {
		cli_error("info", "cannot compute the cost at %dx%d: %s", o->size[0],
			  o->size[1], stp_status_str(st));
		rc = CLI_EXIT_FAIL;
		goto error;
	}
	scratch = scratch_bytes(model, o->size);
	if (o->json) {
		rc = print_json(path, model, arch, o, &cost, scratch);
	} else {
		print_text(path, model, arch, o, &cost, scratch);
		rc = CLI_EXIT_OK;
	}
error:
	json_decref(arch);
	stp_model_destroy(model);
	stp_engine_destroy(engine);
	return rc;
}

const struct cli_command cli_cmd_info = {
	"info",
	"print a model's architecture, parameter count, outputs and dense cost",
	"MODEL",
	1,
	0,
	info_options,
	sizeof(info_options) / sizeof(info_options[0]),
	sizeof(struct info_opts),
	info_defaults,
	info_run,
};
