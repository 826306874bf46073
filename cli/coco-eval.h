/*
 * coco-eval.h - COCO box AP and semantic mIoU for `stipple eval`, the C twin
 * of train/stipple_train/coco_eval.py (whose docstring states the protocol:
 * pycocotools' bbox evaluation, 10 IoU thresholds 0.50:0.05:0.95, 101 recall
 * thresholds, at most 100 detections per image and category, COCO's area
 * ranges; mIoU over labels 0..N with 255 ignored).
 *
 * Load the ground truth (a COCO annotations.json), add each image's
 * detections, then compute. Malformed files give a one-line error.
 */
#ifndef STP_CLI_COCO_EVAL_H
#define STP_CLI_COCO_EVAL_H

#include <stddef.h>
#include <stdint.h>

struct coco_box {
	double x, y, w, h;      /* COCO's (x, y, width, height) */
	double key;             /* ground truth: area; detection: score */
	int crowd;              /* ground truth only */
};

struct coco_cell {              /* one image and category */
	struct coco_box *gt, *dt;
	int ngt, ndt, capdt;
};

struct coco_eval {
	int nimages, ncats;
	int64_t *image_ids;
	char **file_names;
	int64_t *cat_ids;
	char **cat_names;
	struct coco_cell *cells;    /* [nimages * ncats] */
};

struct coco_ap {
	double ap, ap50, ap75, small, medium, large;   /* -1: undefined */
};

/* Reads path; 0, or -1 with err set (and e left empty). */
int coco_eval_load(struct coco_eval *e, const char *path, char *err, size_t errlen);
void coco_eval_free(struct coco_eval *e);

/* The index of a category id, or -1. */
int coco_eval_category(const struct coco_eval *e, int64_t id);

/* Adds a detection (corners x1, y1, x2, y2) of image number image (0-based,
 * file order) and category index cat. 0, or -1 when out of memory. */
int coco_eval_add(struct coco_eval *e, int image, int cat, double x1, double y1, double x2,
		  double y2, double score);

/* Box AP over the first nimages images (file order; evaluated by ascending
 * id, as pycocotools); 0, or -1 when out of memory. */
int coco_eval_compute(const struct coco_eval *e, int nimages, struct coco_ap *out);

/* Semantic segmentation: a (n x n) confusion matrix of labels 0..n-1. */
struct confusion {
	int n;
	uint64_t *m;    /* [gt * n + pred] */
};
int confusion_init(struct confusion *c, int n);
/* Adds count pixels; gt 255 is ignored; labels >= n are an error (-1). */
int confusion_add(struct confusion *c, const uint8_t *pred, const uint8_t *gt, size_t count);
/* Mean IoU over the labels with a non-empty union; -1 when none. */
double confusion_miou(const struct confusion *c);
void confusion_free(struct confusion *c);

#endif
