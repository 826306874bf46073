/*
 * cmd-eval.c - `stipple eval [MODEL] DIR`: a task model over a dataset in
 * the Stipple format (docs/dataset.md: DIR/annotations.json, DIR/images/,
 * DIR/semantic/NNNNNN.png), with --budget / --mode / --seed.
 *
 * The model's labels 1..N must be the dataset's category ids 1..N, with the
 * same names when the model has names (train.py writes them so), or the run
 * stops before the first image. Every image (or the first --limit) is
 * decoded and run through stp_session_run_image with the model's tasks;
 * detections go to the COCO evaluator and label maps to the confusion matrix
 * (coco-eval.c). Latency is
 * the run's wall time (decoding excluded) after one untimed warm-up run on
 * the first image; cost is the backbone GMACs each run spent (docs/method.md
 * section 6). A progress bar goes to stderr when it is a terminal. The
 * report is text, or one JSON object with --json: ap, ap50, ap75, ap_small,
 * ap_medium, ap_large (detecting models), miou (segmenting models),
 * backbone_gmacs, dense_backbone_gmacs, network_gmacs, dense_network_gmacs
 * (every conv: what a budget caps on a model with masks on any conv; means
 * over images), density, latency_ms (mean),
 * latency_ms_p50, backbone_ms (mean time of the backbone alone, from the
 * engine's report), images, budget (a number, "dense" or "auto"), mode, seed.
 * --detections FILE also writes every detection in COCO's results format
 * (a JSON list of {image_id, category_id, bbox [x, y, w, h], score}), for
 * pycocotools or stipple_train.ap_compare; the file is opened before the
 * first image, so a path that cannot be written stops the run at once, and
 * removed when the run fails.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "image.h"
#include "cli.h"
#include "coco-eval.h"

struct eval_opts {
	int threads;
	int isa;
	struct stp_run_options run;   /* --budget: mode and budget */
	int mode;
	int seed;
	int limit;
	int json;
	const char *detections;
};

static const char *const mode_choices[] = {"deterministic", "stochastic", NULL};

static const struct cli_option eval_options[] = {
	{"budget", CLI_OPT_BUDGET, "RHO|dense|auto", 0, 0, NULL, offsetof(struct eval_opts, run),
	 "spend at most RHO x the dense backbone cost; dense = every cell; auto = the trained "
	 "masks (default)", 0},
	{"mode", CLI_OPT_CHOICE, "deterministic|stochastic", 0, 0, mode_choices,
	 offsetof(struct eval_opts, mode), "mask sampling (default deterministic)", 0},
	{"seed", CLI_OPT_INT, "S", 0, 2147483647, NULL, offsetof(struct eval_opts, seed),
	 "noise seed of stochastic sampling (default 0)", 0},
	{"limit", CLI_OPT_INT, "N", 1, 100000000, NULL, offsetof(struct eval_opts, limit),
	 "only the first N images (default all)", 0},
	{"threads", CLI_OPT_INT, "N", 1, 256, NULL, offsetof(struct eval_opts, threads),
	 "engine threads, the caller included (default 1)", 0},
	{"isa", CLI_OPT_CHOICE, "auto|scalar|avx2|avx512", 0, 0, cli_isa_choices,
	 offsetof(struct eval_opts, isa), "kernel level (default auto)", 0},
	{"json", CLI_OPT_FLAG, NULL, 0, 0, NULL, offsetof(struct eval_opts, json),
	 "print one JSON object instead of text", 0},
	{"detections", CLI_OPT_STRING, "FILE", 0, 0, NULL, offsetof(struct eval_opts, detections),
	 "also write the detections to FILE in COCO's results format", 0},
};

static void eval_defaults(void *p)
{
	struct eval_opts *o = p;

	o->threads = 1;
}

static void progress(int done, int total, double mean_ms)
{
	const int width = 30, filled = total ? done * width / total : width;

	fprintf(stderr, "\r[%.*s%*s] %d/%d images, last %.1f ms", filled,
		"##############################", width - filled, "", done, total, mean_ms);
	if (done == total)
		fputc('\n', stderr);
}

struct totals {
	double gmacs, dense_gmacs, density, backbone_ms;
	double network_gmacs, dense_network_gmacs;
	double *latency;
	int images;
	json_t *results;        /* --detections: COCO results, or NULL */
};

/* Appends one detection of image id to the COCO results list; 0 or -1. */
static int add_result(json_t *results, int64_t image_id, const struct stp_detection *d)
{
	json_t *r = json_pack("{s:I, s:i, s:[f, f, f, f], s:f}", "image_id", (json_int_t)image_id,
			      "category_id", d->label, "bbox", (double)d->x1, (double)d->y1,
			      (double)d->x2 - d->x1, (double)d->y2 - d->y1, "score", (double)d->score);

	return r ? json_array_append_new(results, r) : -1;
}

/* Runs image i; adds its detections / labels; 0, or -1 with err. */
static int eval_image(stp_session *s, const stp_model *m, unsigned tasks,
		      const struct stp_run_options *ro, const char *dir, struct coco_eval *gt, int i,
		      struct confusion *conf, struct totals *t, char *err, size_t errlen)
{
	char path[4096];
	uint8_t *rgb = NULL, *sem = NULL;
	struct image_info info, sinfo;
	struct stp_run_report rep;
	enum stp_status st;
	double t0;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/images/%s", dir, gt->file_names[i]);
	if (cli_read_image(path, &rgb, &info, err, errlen))
		return -1;
	if (i == 0 && stp_session_run_image(s, rgb, info.height, info.width,
					      (size_t)info.width * 3, ro, tasks) != STP_OK) {
		snprintf(err, errlen, "the warm-up run failed on %.300s", path);
		goto out;
	}
	t0 = cli_now_ms();
	st = stp_session_run_image(s, rgb, info.height, info.width, (size_t)info.width * 3, ro,
				   tasks);
	t->latency[t->images] = cli_now_ms() - t0;
	if (st != STP_OK) {
		char why[256];
		snprintf(err, errlen, "the run failed on %.300s: %s", path,
			 cli_run_failure(s, st, ro, why, sizeof(why)));
		goto out;
	}
	stp_session_report(s, &rep);
	t->gmacs += rep.backbone_macs / 1e9;
	t->dense_gmacs += rep.dense_backbone_macs / 1e9;
	t->network_gmacs += rep.network_macs / 1e9;
	t->dense_network_gmacs += rep.dense_network_macs / 1e9;
	t->density += rep.mean_density;
	t->backbone_ms += rep.backbone_ms;
	t->images++;
	if (tasks & STP_TASK_DETECT) {
		const struct stp_detection *d;
		const int n = stp_session_detections(s, &d);

		for (int k = 0; k < n; k++) {
			const int cat = coco_eval_category(gt, d[k].label);

			if (cat >= 0 && (coco_eval_add(gt, i, cat, d[k].x1, d[k].y1, d[k].x2,
						       d[k].y2, d[k].score) ||
					 (t->results && add_result(t->results, gt->image_ids[i], &d[k])))) {
				snprintf(err, errlen, "out of memory");
				goto out;
			}
		}
	}
	if (tasks & STP_TASK_SEGMENT) {
		const uint8_t *labels;
		int lh, lw;

		snprintf(path, sizeof(path), "%s/semantic/%06lld.png", dir, (long long)gt->image_ids[i]);
		if (cli_read_image(path, &sem, &sinfo, err, errlen))
			goto out;
		if (stp_session_semantic(s, &labels, &lh, &lw) != STP_OK) {
			snprintf(err, errlen, "no label map for %.300s", path);
			goto out;
		}
		if (sinfo.width != lw || sinfo.height != lh) {
			snprintf(err, errlen, "%.300s is %dx%d, the image %dx%d", path, sinfo.width,
				 sinfo.height, lw, lh);
			goto out;
		}
		for (size_t p = 0; p < (size_t)lw * lh; p++)   /* gray decoded as RGB: take R */
			sem[p] = sem[p * 3];
		if (confusion_add(conf, labels, sem, (size_t)lw * lh)) {
			snprintf(err, errlen, "%.300s has labels above the model's %d classes", path,
				 stp_model_class_count(m));
			goto out;
		}
	}
	rc = 0;
out:
	free(rgb);
	free(sem);
	return rc;
}

/* The median of the sorted v[0..n). */
static double median(const double *v, int n)
{
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* 0 when the model's labels 1..N are the categories of gt with those ids
 * (and names); else -1 with err. */
static int check_classes(const stp_model *m, const struct coco_eval *gt, char *err,
			 size_t errlen)
{
	const int n = stp_model_class_count(m);

	if (n != gt->ncats) {
		snprintf(err, errlen, "the model has %d classes, the dataset %d categories", n,
			 gt->ncats);
		return -1;
	}
	for (int k = 1; k <= n; k++) {
		const int cat = coco_eval_category(gt, k);
		const char *name = stp_model_class_name(m, k);

		if (cat < 0) {
			snprintf(err, errlen, "the dataset has no category id %d for the model's label %d",
				 k, k);
			return -1;
		}
		if (name && strcmp(name, gt->cat_names[cat]) != 0) {
			snprintf(err, errlen, "the model's label %d is '%.100s', the dataset's category %d "
				 "'%.100s'", k, name, k, gt->cat_names[cat]);
			return -1;
		}
	}
	return 0;
}

static void report(const struct eval_opts *o, const char *path, unsigned tasks,
		   const struct coco_ap *ap, double miou, const struct totals *t)
{
	const int n = t->images;
	char budget_text[32];
	double mean = 0;

	for (int i = 0; i < n; i++)
		mean += t->latency[i] / n;
	cli_sort_ms(t->latency, n);
	if (o->json) {
		json_t *budget = cli_budget_json(&o->run);
		json_t *root = json_pack("{s:s, s:i, s:o, s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:f}",
					 "model", path, "images", n, "budget", budget, "mode",
					 mode_choices[o->mode], "seed", o->seed, "backbone_gmacs",
					 t->gmacs / n, "dense_backbone_gmacs", t->dense_gmacs / n,
					 "density", t->density / n, "latency_ms", mean,
					 "latency_ms_p50", median(t->latency, n), "backbone_ms",
					 t->backbone_ms / n);

		json_object_set_new(root, "network_gmacs", json_real(t->network_gmacs / n));
		json_object_set_new(root, "dense_network_gmacs",
				    json_real(t->dense_network_gmacs / n));
		if (tasks & STP_TASK_DETECT) {
			json_object_set_new(root, "ap", json_real(ap->ap));
			json_object_set_new(root, "ap50", json_real(ap->ap50));
			json_object_set_new(root, "ap75", json_real(ap->ap75));
			json_object_set_new(root, "ap_small", json_real(ap->small));
			json_object_set_new(root, "ap_medium", json_real(ap->medium));
			json_object_set_new(root, "ap_large", json_real(ap->large));
		}
		if (tasks & STP_TASK_SEGMENT)
			json_object_set_new(root, "miou", json_real(miou));
		json_dumpf(root, stdout, JSON_REAL_PRECISION(10));
		putchar('\n');
		json_decref(root);
		return;
	}
	printf("model        %s\n", path);
	printf("images       %d, budget %s, mode %s\n", n,
	       cli_budget_text(&o->run, budget_text, sizeof(budget_text)), mode_choices[o->mode]);
	if (tasks & STP_TASK_DETECT) {
		const double v[6] = {ap->ap, ap->ap50, ap->ap75, ap->small, ap->medium, ap->large};
		const char *name[6] = {"box AP      ", " (AP50", ", AP75", "; small", ", medium",
				       ", large"};

		for (int k = 0; k < 6; k++)   /* -1: no ground truth in that range */
			printf(v[k] < 0 ? "%s -" : "%s %.1f", name[k], 100 * v[k]);
		printf(")\n");
	}
	if (tasks & STP_TASK_SEGMENT)
		printf(miou < 0 ? "mIoU         -\n" : "mIoU         %.1f\n", 100 * miou);
	printf("cost         backbone %.3f of %.3f GMACs (mean), density %.3f\n", t->gmacs / n,
	       t->dense_gmacs / n, t->density / n);
	printf("latency      mean %.1f ms, median %.1f ms; backbone alone mean %.1f ms\n", mean,
	       median(t->latency, n), t->backbone_ms / n);
}

static int eval_run(const char *const *args, const void *p)
{
	const struct eval_opts *o = p;
	const struct stp_run_options ro = cli_run_options(o->run, o->mode, o->seed);
	char fallback[4096], err[512] = "", path[4096];
	const char *model_path = args[0] ? args[0]
					 : cli_default_model(CLI_DATASET_MODEL, fallback,
							     sizeof(fallback));
	stp_engine *engine = NULL;
	stp_model *model = NULL;
	stp_session *session = NULL;
	struct coco_eval gt = {0};
	struct confusion conf = {0};
	struct totals t = {0};
	struct coco_ap ap = {-1, -1, -1, -1, -1, -1};
	unsigned tasks;
	int rc, n, tty = isatty(2);
	FILE *dets_file = NULL;

	if (!model_path) {
		cli_error("eval", "no MODEL given and no default model found");
		return CLI_EXIT_FAIL;
	}
	snprintf(path, sizeof(path), "%s/annotations.json", args[1]);
	if (coco_eval_load(&gt, path, err, sizeof(err))) {
		cli_error("eval", "%s", err);
		return CLI_EXIT_FAIL;
	}
	rc = cli_load("eval", model_path, o->threads, (enum stp_isa)o->isa, &engine, &model);
	if (rc != CLI_EXIT_OK)
		goto out;
	rc = CLI_EXIT_FAIL;
	tasks = stp_model_tasks(model);
	n = o->limit > 0 && o->limit < gt.nimages ? o->limit : gt.nimages;
	if (!tasks) {
		cli_error("eval", "%s has no detection or segmentation head", model_path);
		goto out;
	}
	if (n == 0) {
		cli_error("eval", "%s has no images", path);
		goto out;
	}
	if (check_classes(model, &gt, err, sizeof(err))) {
		cli_error("eval", "%s does not fit %s: %s", model_path, path, err);
		goto out;
	}
	if (o->detections) {
		if (!(tasks & STP_TASK_DETECT)) {
			cli_error("eval", "--detections: %s has no detection head", model_path);
			goto out;
		}
		dets_file = fopen(o->detections, "w");
		if (!dets_file) {
			cli_error("eval", "cannot write %s: %s", o->detections, strerror(errno));
			goto out;
		}
		t.results = json_array();
	}
	t.latency = calloc((size_t)n, sizeof(double));
	if (!t.latency || (dets_file && !t.results) || ((tasks & STP_TASK_SEGMENT) &&
			   confusion_init(&conf, stp_model_class_count(model) + 1)) ||
	    stp_session_create(model, &session) != STP_OK) {
		cli_error("eval", "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (eval_image(session, model, tasks, &ro, args[1], &gt, i, &conf, &t, err,
			       sizeof(err))) {
			if (tty)
				fputc('\n', stderr);
			cli_error("eval", "%s", err);
			goto out;
		}
		if (tty)
			progress(i + 1, n, t.latency[i]);
	}
	if ((tasks & STP_TASK_DETECT) && coco_eval_compute(&gt, n, &ap)) {
		cli_error("eval", "out of memory");
		goto out;
	}
	if (dets_file) {
		const int written = json_dumpf(t.results, dets_file, JSON_COMPACT) == 0;
		const int closed = fclose(dets_file) == 0;

		dets_file = NULL;
		if (!written || !closed) {
			remove(o->detections);
			cli_error("eval", "writing %s failed", o->detections);
			goto out;
		}
	}
	report(o, model_path, tasks, &ap, conf.m ? confusion_miou(&conf) : -1, &t);
	rc = CLI_EXIT_OK;
out:
	if (dets_file) {        /* the run failed: no partial results file */
		fclose(dets_file);
		remove(o->detections);
	}
	json_decref(t.results);
	free(t.latency);
	confusion_free(&conf);
	coco_eval_free(&gt);
	stp_session_destroy(session);
	stp_model_destroy(model);
	stp_engine_destroy(engine);
	return rc;
}

const struct cli_command cli_cmd_eval = {
	"eval",
	"box AP, mIoU, cost and latency of a task model over a dataset folder",
	"[MODEL] DIR",
	2,
	1,
	eval_options,
	sizeof(eval_options) / sizeof(eval_options[0]),
	sizeof(struct eval_opts),
	eval_defaults,
	eval_run,
};
