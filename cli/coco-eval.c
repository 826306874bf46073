/*
 * coco-eval.c - see coco-eval.h. Each step names its twin in
 * train/stipple_train/coco_eval.py; both compute in double and sort stably,
 * so they agree to rounding (tests/cli/test-coco-xcheck.sh checks 1e-9).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "coco-eval.h"
#include "order.h"

#define NT 10            /* IoU thresholds */
#define NR 101           /* recall thresholds */
#define MAX_DETS 100

static const double area_lo[4] = {0, 0, 32 * 32, 96 * 96};
static const double area_hi[4] = {1e10, 32 * 32, 96 * 96, 1e10};

/* numpy.linspace's values: i * step + start, the last exactly stop. */
static double linspace(double start, double stop, int num, int i)
{
	return i == num - 1 ? stop : (double)i * ((stop - start) / (num - 1)) + start;
}

/* ---- loading --------------------------------------------------------------- */

struct id_index {
	int64_t id;
	int index;
};

static int by_id(const void *a, const void *b)
{
	const int64_t x = ((const struct id_index *)a)->id, y = ((const struct id_index *)b)->id;
	return x < y ? -1 : x > y;
}

static int lookup(const struct id_index *map, int n, int64_t id)
{
	const struct id_index key = {id, 0}, *hit = bsearch(&key, map, (size_t)n, sizeof(*map), by_id);
	return hit ? hit->index : -1;
}

static int number(json_t *v, double *out)
{
	if (!json_is_number(v) || !isfinite(json_number_value(v)))
		return 0;
	*out = json_number_value(v);
	return 1;
}

static int fail(char *err, size_t errlen, const char *path, const char *what, size_t i)
{
	snprintf(err, errlen, "%s: %s (entry %zu)", path, what, i);
	return -1;
}

static int load_annotations(struct coco_eval *e, json_t *anns, const struct id_index *images,
			    const char *path, char *err, size_t errlen)
{
	size_t i;
	json_t *a;

	json_array_foreach(anns, i, a) {
		json_t *bbox = json_object_get(a, "bbox"), *crowd = json_object_get(a, "iscrowd");
		const int img = lookup(images, e->nimages, json_integer_value(json_object_get(a, "image_id")));
		const int cat = coco_eval_category(e, json_integer_value(json_object_get(a, "category_id")));
		struct coco_box b = {0, 0, 0, 0, 0, 0};
		struct coco_cell *cell;
		struct coco_box *grown;

		if (!json_is_integer(json_object_get(a, "image_id")) || img < 0 ||
		    !json_is_integer(json_object_get(a, "category_id")) || cat < 0)
			return fail(err, errlen, path, "an annotation names an unknown image or category", i);
		if (json_array_size(bbox) != 4 || !number(json_array_get(bbox, 0), &b.x) ||
		    !number(json_array_get(bbox, 1), &b.y) || !number(json_array_get(bbox, 2), &b.w) ||
		    !number(json_array_get(bbox, 3), &b.h) ||
		    !number(json_object_get(a, "area"), &b.key) ||
		    (crowd && !json_is_integer(crowd)))
			return fail(err, errlen, path, "an annotation needs bbox [x, y, w, h] and area", i);
		b.crowd = crowd ? json_integer_value(crowd) != 0 : 0;
		cell = &e->cells[(size_t)img * e->ncats + cat];
		grown = realloc(cell->gt, (size_t)(cell->ngt + 1) * sizeof(*grown));
		if (!grown)
			return fail(err, errlen, path, "out of memory", i);
		cell->gt = grown;
		cell->gt[cell->ngt++] = b;
	}
	return 0;
}

int coco_eval_load(struct coco_eval *e, const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr), *images, *cats, *anns, *v;
	struct id_index *map = NULL;
	size_t i;
	int rc = -1;

	memset(e, 0, sizeof(*e));
	if (!root) {
		snprintf(err, errlen, "%s: %s (line %d)", path, jerr.text, jerr.line);
		return -1;
	}
	images = json_object_get(root, "images");
	cats = json_object_get(root, "categories");
	anns = json_object_get(root, "annotations");
	if (!json_is_array(images) || !json_is_array(cats) || !json_is_array(anns)) {
		snprintf(err, errlen, "%s: not COCO annotations (images, categories, annotations)", path);
		goto out;
	}
	e->nimages = (int)json_array_size(images);
	e->ncats = (int)json_array_size(cats);
	e->image_ids = calloc((size_t)e->nimages + 1, sizeof(int64_t));
	e->file_names = calloc((size_t)e->nimages + 1, sizeof(char *));
	e->cat_ids = calloc((size_t)e->ncats + 1, sizeof(int64_t));
	e->cat_names = calloc((size_t)e->ncats + 1, sizeof(char *));
	e->cells = calloc((size_t)e->nimages * e->ncats + 1, sizeof(*e->cells));
	map = calloc((size_t)e->nimages + 1, sizeof(*map));
	if (!e->image_ids || !e->file_names || !e->cat_ids || !e->cat_names || !e->cells || !map) {
		snprintf(err, errlen, "out of memory reading %s", path);
		goto out;
	}
	json_array_foreach(images, i, v) {
		const char *name = json_string_value(json_object_get(v, "file_name"));

		if (!json_is_integer(json_object_get(v, "id")) || !name || !*name ||
		    strstr(name, "..") || name[0] == '/') {
			fail(err, errlen, path, "an image needs an integer id and a relative file_name", i);
			goto out;
		}
		e->image_ids[i] = json_integer_value(json_object_get(v, "id"));
		map[i] = (struct id_index){e->image_ids[i], (int)i};
		if (!(e->file_names[i] = strdup(name))) {
			snprintf(err, errlen, "out of memory reading %s", path);
			goto out;
		}
	}
	json_array_foreach(cats, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));

		if (!json_is_integer(json_object_get(v, "id")) || !name) {
			fail(err, errlen, path, "a category needs an integer id and a name", i);
			goto out;
		}
		e->cat_ids[i] = json_integer_value(json_object_get(v, "id"));
		if (!(e->cat_names[i] = strdup(name))) {
			snprintf(err, errlen, "out of memory reading %s", path);
			goto out;
		}
	}
	qsort(map, (size_t)e->nimages, sizeof(*map), by_id);
	for (int k = 1; k < e->nimages; k++)
		if (map[k].id == map[k - 1].id) {
			fail(err, errlen, path, "two images share an id", (size_t)map[k].index);
			goto out;
		}
	rc = load_annotations(e, anns, map, path, err, errlen);
out:
	free(map);
	json_decref(root);
	if (rc)
		coco_eval_free(e);
	return rc;
}

void coco_eval_free(struct coco_eval *e)
{
	for (int i = 0; e->file_names && i < e->nimages; i++)
		free(e->file_names[i]);
	for (int i = 0; e->cat_names && i < e->ncats; i++)
		free(e->cat_names[i]);
	for (size_t i = 0; e->cells && i < (size_t)e->nimages * e->ncats; i++) {
		free(e->cells[i].gt);
		free(e->cells[i].dt);
	}
	free(e->image_ids);
	free(e->file_names);
	free(e->cat_ids);
	free(e->cat_names);
	free(e->cells);
	memset(e, 0, sizeof(*e));
}

int coco_eval_category(const struct coco_eval *e, int64_t id)
{
	for (int i = 0; i < e->ncats; i++)
		if (e->cat_ids[i] == id)
			return i;
	return -1;
}

int coco_eval_add(struct coco_eval *e, int image, int cat, double x1, double y1, double x2,
		  double y2, double score)
{
	struct coco_cell *c = &e->cells[(size_t)image * e->ncats + cat];

	if (c->ndt == c->capdt) {
		const int cap = c->capdt ? 2 * c->capdt : 16;
		struct coco_box *p = realloc(c->dt, (size_t)cap * sizeof(*p));

		if (!p)
			return -1;
		c->dt = p;
		c->capdt = cap;
	}
	c->dt[c->ndt++] = (struct coco_box){x1, y1, x2 - x1, y2 - y1, score, 0};
	return 0;
}

/* ---- evaluation -------------------------------------------------------------- */

/* _iou: over the detection's own area for a crowd; 0 without overlap. */
static double iou(const struct coco_box *d, const struct coco_box *g)
{
	const double w = fmin(d->x + d->w, g->x + g->w) - fmax(d->x, g->x);
	const double h = fmin(d->y + d->h, g->y + g->h) - fmax(d->y, g->y);
	const double da = d->w * d->h;

	if (!(w > 0 && h > 0))
		return 0;
	return w * h / (g->crowd ? da : da + g->w * g->h - w * h);
}

/* The accumulated detections of one category and area range. */
struct pool {
	double *score;
	unsigned char *matched, *ignored;   /* [t * cap + d] */
	int n, cap, npig;
};

/* Room for n detections in p; 0, or -1 when out of memory. */
static int pool_reserve(struct pool *p, int n)
{
	int cap = p->cap ? p->cap : 1024;
	double *s;
	unsigned char *m, *ig;

	if (n <= p->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	s = realloc(p->score, (size_t)cap * sizeof(double));
	if (s)
		p->score = s;
	m = calloc((size_t)cap * NT, 1);
	ig = calloc((size_t)cap * NT, 1);
	if (!s || !m || !ig) {
		free(m);
		free(ig);
		return -1;
	}
	for (int t = 0; p->n && t < NT; t++) {
		memcpy(m + (size_t)t * cap, p->matched + (size_t)t * p->cap, (size_t)p->n);
		memcpy(ig + (size_t)t * cap, p->ignored + (size_t)t * p->cap, (size_t)p->n);
	}
	free(p->matched);
	free(p->ignored);
	p->matched = m;
	p->ignored = ig;
	p->cap = cap;
	return 0;
}

/* _evaluate_image: appends one image's detections of a cell to p. */
static int evaluate_cell(const struct coco_cell *c, double lo, double hi, struct pool *p)
{
	const int ng = c->ngt, nd = c->ndt < MAX_DETS ? c->ndt : MAX_DETS;
	uint32_t *dorder = malloc(((size_t)c->ndt + (size_t)ng + 1) * 2 * sizeof(*dorder)), *tmp, *gorder;
	unsigned char *gign = malloc((size_t)ng * 2 + 1), *taken = gign + ng;

	if (!dorder || !gign) {
		free(dorder);
		free(gign);
		return -1;
	}
	tmp = dorder + c->ndt + 1;
	gorder = tmp + c->ndt + 1;
	/* ground truth: non-ignored first, in file order */
	{
		int k = 0;

		for (int pass = 0; pass < 2; pass++)
			for (int g = 0; g < ng; g++) {
				const int ig = c->gt[g].crowd || !(lo <= c->gt[g].key && c->gt[g].key <= hi);
				if (ig == pass) {
					gorder[k] = (uint32_t)g;
					gign[k++] = (unsigned char)ig;
				}
			}
		for (int g = 0; g < ng; g++)
			p->npig += !gign[g];
	}
	{
		double *scores = malloc(((size_t)c->ndt + 1) * sizeof(double));

		if (!scores) {
			free(dorder);
			free(gign);
			return -1;
		}
		for (int d = 0; d < c->ndt; d++) {
			dorder[d] = (uint32_t)d;
			scores[d] = c->dt[d].key;
		}
		stp_sort_desc_f64(scores, dorder, (size_t)c->ndt, tmp);
		free(scores);
	}
	if (pool_reserve(p, p->n + nd)) {
		free(dorder);
		free(gign);
		return -1;
	}
	for (int t = 0; t < NT; t++) {
		const double thr = linspace(0.5, 0.95, NT, t);

		memset(taken, 0, (size_t)ng);
		for (int di = 0; di < nd; di++) {
			const struct coco_box *d = &c->dt[dorder[di]];
			const double area = d->w * d->h;
			double best = fmin(thr, 1 - 1e-10);
			int m = -1;

			for (int gi = 0; gi < ng; gi++) {
				double v;

				if (taken[gi] && !c->gt[gorder[gi]].crowd)
					continue;
				if (m > -1 && !gign[m] && gign[gi])
					break;
				v = iou(d, &c->gt[gorder[gi]]);
				if (v < best)
					continue;
				best = v;
				m = gi;
			}
			p->matched[(size_t)t * p->cap + p->n + di] = m > -1;
			p->ignored[(size_t)t * p->cap + p->n + di] =
				m > -1 ? gign[m] : (area < lo || area > hi);
			if (m > -1)
				taken[m] = 1;
		}
	}
	for (int di = 0; di < nd; di++)
		p->score[p->n + di] = c->dt[dorder[di]].key;
	p->n += nd;
	free(dorder);
	free(gign);
	return 0;
}

/* _average_precision: adds the T x R precision of p into sum; returns 1 when
 * p has ground truth (0: left out), -1 when out of memory. */
static int accumulate(const struct pool *p, double *sum)
{
	uint32_t *order, *tmp;

	if (p->npig == 0)
		return 0;
	order = malloc(((size_t)p->n + 1) * 2 * sizeof(*order));
	if (!order)
		return -1;
	tmp = order + p->n + 1;
	for (int i = 0; i < p->n; i++)
		order[i] = (uint32_t)i;
	stp_sort_desc_f64(p->score, order, (size_t)p->n, tmp);
	for (int t = 0; t < NT; t++) {
		double *rc = malloc(((size_t)p->n + 1) * sizeof(double));
		double *pr = malloc(((size_t)p->n + 1) * sizeof(double));
		double tp = 0, fp = 0;
		int k = 0;

		if (!rc || !pr) {
			free(rc);
			free(pr);
			free(order);
			return -1;
		}
		for (int i = 0; i < p->n; i++) {
			const size_t at = (size_t)t * p->cap + order[i];
			const int m = p->matched[at], ig = p->ignored[at];

			tp += m && !ig;
			fp += !m && !ig;
			rc[i] = tp / p->npig;
			pr[i] = tp / (tp + fp + DBL_EPSILON);
		}
		for (int i = p->n - 1; i > 0; i--)
			pr[i - 1] = fmax(pr[i - 1], pr[i]);
		for (int r = 0; r < NR; r++) {
			const double want = linspace(0.0, 1.0, NR, r);

			while (k < p->n && rc[k] < want)
				k++;
			sum[t * NR + r] += k < p->n ? pr[k] : 0.0;
		}
		free(rc);
		free(pr);
	}
	free(order);
	return 1;
}

int coco_eval_compute(const struct coco_eval *e, int nimages, struct coco_ap *out)
{
	double *result[4] = {&out->ap, &out->small, &out->medium, &out->large};
	/* images by ascending id, as pycocotools (ties in score keep this order) */
	struct id_index *images = malloc(((size_t)nimages + 1) * sizeof(*images));

	if (!images)
		return -1;
	for (int i = 0; i < nimages; i++)
		images[i] = (struct id_index){e->image_ids[i], i};
	qsort(images, (size_t)nimages, sizeof(*images), by_id);
	out->ap50 = out->ap75 = -1;
	for (int a = 0; a < 4; a++) {
		double sum[NT * NR] = {0}, total = 0;
		int counted = 0;

		for (int c = 0; c < e->ncats; c++) {
			struct pool p = {0};
			int rc = 0;

			for (int i = 0; i < nimages && rc == 0; i++)
				rc = evaluate_cell(&e->cells[(size_t)images[i].index * e->ncats + c],
						   area_lo[a], area_hi[a], &p);
			if (rc == 0) {
				rc = accumulate(&p, sum);
				counted += rc > 0;
			}
			free(p.score);
			free(p.matched);
			free(p.ignored);
			if (rc < 0) {
				free(images);
				return -1;
			}
		}
		for (int i = 0; i < NT * NR; i++)
			total += sum[i];
		*result[a] = counted ? total / ((double)counted * NT * NR) : -1;
		if (a == 0 && counted) {
			double s50 = 0, s75 = 0;

			for (int r = 0; r < NR; r++) {
				s50 += sum[0 * NR + r];
				s75 += sum[5 * NR + r];
			}
			out->ap50 = s50 / ((double)counted * NR);
			out->ap75 = s75 / ((double)counted * NR);
		}
	}
	free(images);
	return 0;
}

/* ---- mIoU ------------------------------------------------------------------------ */

int confusion_init(struct confusion *c, int n)
{
	c->n = n;
	c->m = calloc((size_t)n * n, sizeof(uint64_t));
	return c->m ? 0 : -1;
}

int confusion_add(struct confusion *c, const uint8_t *pred, const uint8_t *gt, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (gt[i] == 255)
			continue;
		if (gt[i] >= c->n || pred[i] >= c->n)
			return -1;
		c->m[(size_t)gt[i] * c->n + pred[i]]++;
	}
	return 0;
}

double confusion_miou(const struct confusion *c)
{
	double sum = 0;
	int classes = 0;

	for (int k = 0; k < c->n; k++) {
		uint64_t row = 0, col = 0;
		const uint64_t tp = c->m[(size_t)k * c->n + k];

		for (int j = 0; j < c->n; j++) {
			row += c->m[(size_t)k * c->n + j];
			col += c->m[(size_t)j * c->n + k];
		}
		if (row + col - tp > 0) {
			sum += (double)tp / (double)(row + col - tp);
			classes++;
		}
	}
	return classes ? sum / classes : -1;
}

void confusion_free(struct confusion *c)
{
	free(c->m);
	c->m = NULL;
}
