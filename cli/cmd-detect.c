/*
 * cmd-detect.c - `stipple detect [MODEL] IMAGE` and `stipple segment [MODEL]
 * IMAGE -o labels.png [--overlay out.png]`: one image through a task model.
 *
 * Both decode the JPEG or PNG (imageio/image.c, the daemon's decoder), run
 * stp_session_run_image with --budget / --mode / --seed, and print what the
 * run found and cost: detections one per line (label, class, score, box in
 * the image's pixels), or, for segment, the share of pixels of each class
 * present; --json prints one object instead. segment writes the label map as
 * an 8-bit PNG (pixel = label, 0 = background) and --overlay the image with
 * each labelled pixel blended half-way towards its class colour. Without
 * MODEL, the default model (default-model.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "image.h"
#include "cli.h"

struct task_opts {
	int threads;
	int isa;
	struct stp_run_options run;   /* --budget: mode and budget */
	int mode;
	int seed;
	int json;
	double score_threshold; /* detect: detections scoring less are not shown */
	const char *output;    /* segment: the label PNG */
	const char *overlay;   /* segment: the overlay PNG */
};

static const char *const mode_choices[] = {"deterministic", "stochastic", NULL};

#define COMMON_OPTIONS                                                                       \
	{"budget", CLI_OPT_BUDGET, "RHO|dense|auto", 0, 0, NULL, offsetof(struct task_opts, run), \
	 "spend at most RHO x the dense backbone cost; dense = every cell; auto = the "      \
	 "trained masks (default)", 0},                                                     \
	{"mode", CLI_OPT_CHOICE, "deterministic|stochastic", 0, 0, mode_choices,              \
	 offsetof(struct task_opts, mode), "mask sampling (default deterministic)", 0},       \
	{"seed", CLI_OPT_INT, "S", 0, 2147483647, NULL, offsetof(struct task_opts, seed),     \
	 "noise seed of stochastic sampling (default 0)", 0},                                 \
	{"threads", CLI_OPT_INT, "N", 1, 256, NULL, offsetof(struct task_opts, threads),      \
	 "engine threads, the caller included (default 1)", 0},                               \
	{"isa", CLI_OPT_CHOICE, "auto|scalar|avx2|avx512", 0, 0, cli_isa_choices,              \
	 offsetof(struct task_opts, isa), "kernel level (default auto)", 0},                  \
	{"json", CLI_OPT_FLAG, NULL, 0, 0, NULL, offsetof(struct task_opts, json),            \
	 "print one JSON object instead of text", 0}

static const struct cli_option detect_options[] = {
	COMMON_OPTIONS,
	{"score-threshold", CLI_OPT_FRACTION, "T", 0, 0, NULL,
	 offsetof(struct task_opts, score_threshold),
	 "show detections scoring at least T (default 0.3, as stippled; 0: all the model "
	 "keeps)", 0},
};
static const struct cli_option segment_options[] = {
	COMMON_OPTIONS,
	{"output", CLI_OPT_STRING, "FILE", 0, 0, NULL, offsetof(struct task_opts, output),
	 "write the label map here, an 8-bit PNG (required)", 'o'},
	{"overlay", CLI_OPT_STRING, "FILE", 0, 0, NULL, offsetof(struct task_opts, overlay),
	 "also write the image with the labels blended in, a PNG", 0},
};

static void task_defaults(void *p)
{
	struct task_opts *o = p;

	o->threads = 1;
	o->score_threshold = CLI_SCORE_THRESHOLD;
}

/* A colour per label: 0 black, the others spread over the hue circle. */
static void label_colour(int label, uint8_t rgb[3])
{
	static const uint8_t base[6][3] = {{230, 25, 75}, {60, 180, 75}, {255, 225, 25},
					   {0, 130, 200}, {245, 130, 48}, {145, 30, 180}};
	const uint8_t *b = base[(label - 1) % 6];
	const int shade = ((label - 1) / 6) % 4;

	for (int c = 0; c < 3; c++)
		rgb[c] = (uint8_t)(label == 0 ? 0 : b[c] - b[c] * shade / 5);
}

static int write_png(const char *cmd, const char *path, const uint8_t *px, int w, int h,
		     int channels)
{
	uint8_t *png = NULL;
	size_t n = 0;
	FILE *f;
	int ok;

	if ((channels == 1 ? image_encode_png_gray8(px, w, h, &png, &n)
			   : image_encode_png_rgb8(px, w, h, &png, &n)) != 0) {
		cli_error(cmd, "cannot encode %s", path);
		return CLI_EXIT_FAIL;
	}
	f = fopen(path, "wb");
	ok = f && fwrite(png, 1, n, f) == n;
	if (f && fclose(f) != 0)
		ok = 0;
	free(png);
	if (!ok) {
		cli_error(cmd, "cannot write %s", path);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static int write_overlay(const char *cmd, const char *path, const uint8_t *rgb,
			 const uint8_t *labels, int w, int h)
{
	uint8_t *out = malloc((size_t)w * h * 3);
	int rc;

	if (!out) {
		cli_error(cmd, "out of memory");
		return CLI_EXIT_FAIL;
	}
	for (size_t i = 0; i < (size_t)w * h; i++) {
		uint8_t col[3];

		label_colour(labels[i], col);
		for (int c = 0; c < 3; c++)
			out[i * 3 + c] = labels[i] ? (uint8_t)((rgb[i * 3 + c] + col[c]) / 2)
						   : rgb[i * 3 + c];
	}
	rc = write_png(cmd, path, out, w, h, 3);
	free(out);
	return rc;
}

static json_t *cost_json(const stp_session *s, const struct stp_run_options *ro)
{
	struct stp_run_report r;

	stp_session_report(s, &r);
	return json_pack("{s:o, s:f, s:f, s:f, s:f, s:f, s:i}", "budget",
			 cli_budget_json(ro), "density",
			 r.mean_density, "backbone_gmacs", r.backbone_macs / 1e9,
			 "dense_backbone_gmacs", r.dense_backbone_macs / 1e9, "network_gmacs",
			 r.network_macs / 1e9, "dense_network_gmacs", r.dense_network_macs / 1e9,
			 "masks", r.nmasks);
}

static void print_detections(const stp_model *m, const struct stp_detection *d, int n)
{
	for (int i = 0; i < n; i++) {
		const char *name = stp_model_class_name(m, d[i].label);

		printf("%3d %-12s %.3f  %.1f %.1f %.1f %.1f\n", d[i].label, name ? name : "-",
		       d[i].score, d[i].x1, d[i].y1, d[i].x2, d[i].y2);
	}
}

static json_t *detections_json(const stp_model *m, const struct stp_detection *d, int n)
{
	json_t *list = json_array();

	for (int i = 0; list && i < n; i++) {
		const char *name = stp_model_class_name(m, d[i].label);

		json_array_append_new(list, json_pack("{s:[ffff], s:f, s:i, s:s*}", "box",
						      (double)d[i].x1, (double)d[i].y1,
						      (double)d[i].x2, (double)d[i].y2, "score",
						      (double)d[i].score, "label", d[i].label,
						      "class", name));
	}
	return list;
}

/* The share of pixels of every label present, as text or into obj. */
static void class_fractions(const stp_model *m, const uint8_t *labels, int w, int h,
			    json_t *obj)
{
	size_t count[256] = {0};

	for (size_t i = 0; i < (size_t)w * h; i++)
		count[labels[i]]++;
	for (int l = 0; l < 256; l++) {
		const double f = (double)count[l] / ((double)w * h);
		const char *name = l == 0 ? "background" : stp_model_class_name(m, l);
		char key[32];

		if (!count[l])
			continue;
		snprintf(key, sizeof(key), "%d", l);
		if (obj)
			json_object_set_new(obj, name ? name : key, json_real(f));
		else
			printf("%3d %-12s %.4f\n", l, name ? name : "-", f);
	}
}

static int run_task(const char *cmd, unsigned task, const char *const *args,
		    const struct task_opts *o)
{
	const struct stp_run_options ro = cli_run_options(o->run, o->mode, o->seed);
	char fallback[4096], err[512];
	const char *name = task == STP_TASK_DETECT ? CLI_DETECT_MODEL : CLI_DATASET_MODEL;
	const char *path = args[0] ? args[0] : cli_default_model(name, fallback, sizeof(fallback));
	stp_engine *engine = NULL;
	stp_model *model = NULL;
	stp_session *session = NULL;
	const struct stp_detection *dets;
	const uint8_t *labels;
	struct image_info info, full;
	uint8_t *rgb = NULL;
	double t0, decode_ms, infer_ms;
	enum stp_status st;
	int rc, ndet = 0, lh, lw;

	if (!path) {
		cli_error(cmd, "no MODEL given and no default model found (set STIPPLE_MODEL or "
			  "install one under models/%s)", name);
		return CLI_EXIT_FAIL;
	}
	if (task == STP_TASK_SEGMENT && !o->output) {
		cli_error(cmd, "missing -o FILE, where the label map goes");
		return CLI_EXIT_USAGE;
	}
	rc = cli_load(cmd, path, o->threads, (enum stp_isa)o->isa, &engine, &model);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (!(stp_model_tasks(model) & task)) {
		cli_error(cmd, "%s has no %s head", path,
			  task == STP_TASK_DETECT ? "detection" : "segmentation");
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	t0 = cli_now_ms();
	/* detections only: a JPEG may decode at a reduced scale (the label map
	 * and its overlay want every pixel) */
	if (cli_read_image_for(args[1], task == STP_TASK_DETECT ? model : NULL, &rgb, &info, &full,
			       err, sizeof(err))) {
		cli_error(cmd, "%s", err);
		rc = CLI_EXIT_FAIL;
	}
	decode_ms = cli_now_ms() - t0;
	if (rc != CLI_EXIT_OK)
		goto out;
	st = stp_session_create(model, &session);
	t0 = cli_now_ms();
	if (st == STP_OK)
		st = stp_session_run_image_reduced(session, rgb, info.height, info.width,
						   (size_t)info.width * 3, full.height, full.width,
						   &ro, task);
	infer_ms = cli_now_ms() - t0;
	if (st != STP_OK) {
		cli_error(cmd, "the run failed: %s",
			  cli_run_failure(session, st, &ro, err, sizeof(err)));
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	if (task == STP_TASK_DETECT) {
		ndet = stp_session_detections(session, &dets);
		while (ndet > 0 && dets[ndet - 1].score < o->score_threshold)
			ndet--;  /* by descending score */
	} else {
		stp_session_semantic(session, &labels, &lh, &lw);
		rc = write_png(cmd, o->output, labels, lw, lh, 1);
		if (rc == CLI_EXIT_OK && o->overlay)
			rc = write_overlay(cmd, o->overlay, rgb, labels, lw, lh);
		if (rc != CLI_EXIT_OK)
			goto out;
	}
	if (o->json) {
		json_t *root = json_pack("{s:s, s:{s:i, s:i}, s:o, s:{s:f, s:f}}", "model", path,
					 "image", "width", full.width, "height", full.height,
					 "cost", cost_json(session, &ro), "timing_ms",
					 "decode", decode_ms, "infer", infer_ms);

		if (root && task == STP_TASK_DETECT) {
			json_object_set_new(root, "detections", detections_json(model, dets, ndet));
		} else if (root) {
			json_t *fr = json_object();

			class_fractions(model, labels, lw, lh, fr);
			json_object_set_new(root, "class_fractions", fr);
			json_object_set_new(root, "labels", json_string(o->output));
		}
		if (!root || json_dumpf(root, stdout, JSON_REAL_PRECISION(9)) != 0) {
			cli_error(cmd, "cannot build the JSON output");
			rc = CLI_EXIT_FAIL;
		} else {
			putchar('\n');
		}
		json_decref(root);
	} else {
		struct stp_run_report r;

		stp_session_report(session, &r);
		if (task == STP_TASK_DETECT) {
			printf("%d detections\n", ndet);
			print_detections(model, dets, ndet);
		} else {
			printf("labels       %s (%dx%d)\n", o->output, lw, lh);
			class_fractions(model, labels, lw, lh, NULL);
		}
		printf("cost         network %.2f of %.2f GMACs, backbone %.2f of %.2f, density %.3f\n",
		       r.network_macs / 1e9, r.dense_network_macs / 1e9, r.backbone_macs / 1e9,
		       r.dense_backbone_macs / 1e9, r.mean_density);
		printf("time         decode %.1f ms, infer %.1f ms\n", decode_ms, infer_ms);
	}
out:
	free(rgb);
	stp_session_destroy(session);
	stp_model_destroy(model);
	stp_engine_destroy(engine);
	return rc;
}

static int detect_run(const char *const *args, const void *p)
{
	return run_task("detect", STP_TASK_DETECT, args, p);
}

static int segment_run(const char *const *args, const void *p)
{
	return run_task("segment", STP_TASK_SEGMENT, args, p);
}

const struct cli_command cli_cmd_detect = {
	"detect",
	"detect objects in a JPEG or PNG image: boxes, scores and classes",
	"[MODEL] IMAGE",
	2,
	1,
	detect_options,
	sizeof(detect_options) / sizeof(detect_options[0]),
	sizeof(struct task_opts),
	task_defaults,
	detect_run,
};

const struct cli_command cli_cmd_segment = {
	"segment",
	"label every pixel of a JPEG or PNG image; writes the label map as a PNG",
	"[MODEL] IMAGE",
	2,
	1,
	segment_options,
	sizeof(segment_options) / sizeof(segment_options[0]),
	sizeof(struct task_opts),
	task_defaults,
	segment_run,
};
