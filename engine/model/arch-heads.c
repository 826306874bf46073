/*
 * arch-heads.c - parsing the "heads" list of an architecture
 * (proto/model-format.md, "Heads" and "One-stage detectors") into
 * arch->detect, arch->segment and arch->gfl.
 *
 * Runs after the backbone, neck and classes are parsed, since heads are
 * checked against them: heads need a neck (Faster R-CNN and the semantic
 * head an FPN), every feature a head reads must be one of the neck's
 * outputs, a model detects with at most one head, RoIAlign and semantic levels must be
 * consecutive (finest first), both heads must agree on num_classes and a
 * non-empty "classes" must name exactly that many. Labels are bytes in the
 * semantic map (255 is "ignore" in the datasets), hence num_classes <= 254.
 */
#include <stdio.h>
#include <string.h>

#include "arch-json.h"
#include "arch.h"

#define MAX_HEAD_CLASSES 254
#define MAX_TOP_N 100000
#define MAX_DETECTIONS 10000
#define MAX_FEATURE_CHANNELS 4096
#define MAX_REPRESENTATION 16384

static const char *const faster_keys[] = {"kind", "num_classes", "rpn", "roi", "box",
					  "bbox_xform_clip", NULL};
static const char *const rpn_keys[] = {"in_features", "anchor_sizes", "aspect_ratios",
				       "pre_nms_top_n", "post_nms_top_n", "nms_thresh",
				       "score_thresh", "min_size", "box_weights", NULL};
static const char *const roi_keys[] = {"in_features", "output_size", "sampling_ratio",
				       "aligned", "canonical_scale", "canonical_level", "eps",
				       NULL};
static const char *const box_keys[] = {"representation_size", "box_weights", "score_thresh",
				       "nms_thresh", "detections_per_img", "min_size", NULL};
static const char *const semantic_keys[] = {"kind", "num_classes", "in_features", "channels",
					    NULL};
static const char *const gfl_keys[] = {"kind", "num_classes", "in_features", "strides",
				       "feat_channels", "stacked_convs", "reg_max",
				       "center_offset", "nms_pre", "multi_label", "score_thresh",
				       "nms_thresh", "detections_per_img", NULL};

/* A number in [lo, hi] (hi_open: [lo, hi)); lo_open excludes lo. */
static enum stp_status get_float(struct stp_json_ctx *c, json_t *obj, const char *prefix,
				 const char *key, float lo, int lo_open, float hi, float *out)
{
	float f;

	if (!stp_json_number(json_object_get(obj, key), &f) || f < lo || (lo_open && f == lo) ||
	    f > hi)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %s%s must be a number in %s%g, %g]", prefix,
				     key, lo_open ? "(" : "[", lo, hi);
	*out = f;
	return STP_OK;
}

/* true or false. */
static enum stp_status get_bool(struct stp_json_ctx *c, json_t *obj, const char *prefix,
				const char *key, int *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_boolean(v))
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %s%s must be true or false", prefix, key);
	*out = json_is_true(v);
	return STP_OK;
}

/* n..max positive numbers; their count in *n. */
static enum stp_status get_positive_list(struct stp_json_ctx *c, json_t *v, const char *what,
					 int max, float *out, int *n)
{
	size_t len = json_array_size(v);
	int ok = json_is_array(v) && len >= 1 && len <= (size_t)max;

	for (size_t i = 0; ok && i < len; i++)
		ok = stp_json_number(json_array_get(v, i), &out[i]) && out[i] > 0;
	if (!ok)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %s must be a list of 1..%d numbers > 0", what, max);
	*n = (int)len;
	return STP_OK;
}

/* A list of feature names "p2".."p6" that the neck outputs, each at most
 * once; consecutive: each the next coarser level. Levels in out (2..6). */
static enum stp_status get_features(struct stp_json_ctx *c, const struct stp_arch *a,
				    json_t *obj, const char *prefix, int consecutive,
				    int *out, int *n)
{
	json_t *v = json_object_get(obj, "in_features");
	size_t len = json_array_size(v);
	unsigned seen = 0;

	if (!json_is_array(v) || len < 1 || len > STP_ARCH_MAX_LEVELS)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %sin_features must be a list of 1..%d "
				     "feature names", prefix, STP_ARCH_MAX_LEVELS);
	for (size_t i = 0; i < len; i++) {
		const char *s = json_string_value(json_array_get(v, i));
		int level = s && s[0] == 'p' && s[1] >= '2' && s[1] <= '6' && !s[2] ? s[1] - '0' : 0;

		if (level == 0 || !(a->neck_levels & (1u << level))) {
			int lo = 2, hi = 6;
			while (lo < hi && !(a->neck_levels & (1u << lo)))
				lo++;
			while (hi > lo && !(a->neck_levels & (1u << hi)))
				hi--;
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: %sin_features[%zu] must name an output "
					     "of the neck (p%d..p%d)", prefix, i, lo, hi);
		}
		if (seen & (1u << level))
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: %sin_features names p%d twice", prefix,
					     level);
		if (consecutive && i > 0 && level != out[i - 1] + 1)
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: %sin_features must be consecutive "
					     "levels, finest first", prefix);
		seen |= 1u << level;
		out[i] = level;
	}
	*n = (int)len;
	return STP_OK;
}

static enum stp_status parse_rpn(struct stp_json_ctx *c, const struct stp_arch *a, json_t *rpn,
				 const char *p, struct stp_arch_faster_rcnn *d)
{
	char where[96];
	json_t *sizes = json_object_get(rpn, "anchor_sizes");
	enum stp_status st;

	snprintf(where, sizeof(where), "%.40sbox_weights", p);
	if ((st = get_features(c, a, rpn, p, 0, d->rpn_levels, &d->rpn_nlevels)) != STP_OK)
		return st;
	if (!json_is_array(sizes) || json_array_size(sizes) != (size_t)d->rpn_nlevels)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %sanchor_sizes must hold one list per "
				     "in_features level", p);
	for (int i = 0; i < d->rpn_nlevels; i++) {
		char what[96];
		int n;

		snprintf(what, sizeof(what), "%.40sanchor_sizes[%d]", p, i);
		if ((st = get_positive_list(c, json_array_get(sizes, (size_t)i), what, 8,
					    d->anchor_sizes[i], &n)) != STP_OK)
			return st;
		if (i > 0 && n != d->nsizes)
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: %sanchor_sizes: every level needs the "
					     "same number of sizes", p);
		d->nsizes = n;
	}
	{
		char what[96];
		int n4;

		snprintf(what, sizeof(what), "%.40saspect_ratios", p);
		if ((st = get_positive_list(c, json_object_get(rpn, "aspect_ratios"), what, 8,
					    d->aspect_ratios, &d->nratios)) != STP_OK ||
		    (st = get_positive_list(c, json_object_get(rpn, "box_weights"), where, 4,
					    d->rpn_box_weights, &n4)) != STP_OK)
			return st;
		if (n4 != 4)
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: %s must be 4 numbers > 0", where);
	}
	if ((st = stp_json_int(c, rpn, p, "pre_nms_top_n", 1, MAX_TOP_N, &d->pre_nms_top_n)) ||
	    (st = stp_json_int(c, rpn, p, "post_nms_top_n", 1, MAX_TOP_N, &d->post_nms_top_n)) ||
	    (st = get_float(c, rpn, p, "nms_thresh", 0, 0, 1, &d->rpn_nms_thresh)) ||
	    (st = get_float(c, rpn, p, "score_thresh", 0, 0, 1, &d->rpn_score_thresh)) ||
	    (st = get_float(c, rpn, p, "min_size", 0, 0, 1e6f, &d->rpn_min_size)))
		return st;
	return STP_OK;
}

static enum stp_status parse_roi(struct stp_json_ctx *c, const struct stp_arch *a, json_t *roi,
				 const char *p, struct stp_arch_faster_rcnn *d)
{
	enum stp_status st;

	if ((st = get_features(c, a, roi, p, 1, d->roi_levels, &d->roi_nlevels)) ||
	    (st = stp_json_int(c, roi, p, "output_size", 1, 32, &d->output_size)) ||
	    (st = stp_json_int(c, roi, p, "sampling_ratio", 1, 16, &d->sampling_ratio)) ||
	    (st = get_float(c, roi, p, "canonical_scale", 0, 1, 1e6f, &d->canonical_scale)) ||
	    (st = stp_json_int(c, roi, p, "canonical_level", 0, 16, &d->canonical_level)) ||
	    (st = get_float(c, roi, p, "eps", 0, 0, 1, &d->level_eps)) ||
	    (st = get_bool(c, roi, p, "aligned", &d->aligned)))
		return st;
	return STP_OK;
}

static enum stp_status parse_box(struct stp_json_ctx *c, json_t *box, const char *p,
				 struct stp_arch_faster_rcnn *d)
{
	char what[96];
	enum stp_status st;
	int n4;

	snprintf(what, sizeof(what), "%.40sbox_weights", p);
	if ((st = stp_json_int(c, box, p, "representation_size", 1, MAX_REPRESENTATION,
			       &d->representation_size)) ||
	    (st = get_positive_list(c, json_object_get(box, "box_weights"), what, 4,
				    d->box_weights, &n4)))
		return st;
	if (n4 != 4)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %s must be 4 numbers > 0", what);
	if ((st = get_float(c, box, p, "score_thresh", 0, 0, 1, &d->box_score_thresh)) ||
	    (st = get_float(c, box, p, "nms_thresh", 0, 0, 1, &d->box_nms_thresh)) ||
	    (st = stp_json_int(c, box, p, "detections_per_img", 1, MAX_DETECTIONS,
			       &d->detections_per_img)) ||
	    (st = get_float(c, box, p, "min_size", 0, 0, 1e6f, &d->box_min_size)))
		return st;
	return STP_OK;
}

static enum stp_status parse_faster_rcnn(struct stp_json_ctx *c, const struct stp_arch *a,
					 json_t *h, const char *path, struct stp_arch_faster_rcnn *d)
{
	char p[64], sub[80];
	enum stp_status st;

	snprintf(p, sizeof(p), "%s.", path);
	if ((st = stp_json_object(c, h, path, faster_keys)) ||
	    (st = stp_json_int(c, h, p, "num_classes", 1, MAX_HEAD_CLASSES, &d->num_classes)))
		return st;
	snprintf(sub, sizeof(sub), "%s.rpn", path);
	if ((st = stp_json_object(c, json_object_get(h, "rpn"), sub, rpn_keys)))
		return st;
	snprintf(sub, sizeof(sub), "%s.rpn.", path);
	if ((st = parse_rpn(c, a, json_object_get(h, "rpn"), sub, d)))
		return st;
	snprintf(sub, sizeof(sub), "%s.roi", path);
	if ((st = stp_json_object(c, json_object_get(h, "roi"), sub, roi_keys)))
		return st;
	snprintf(sub, sizeof(sub), "%s.roi.", path);
	if ((st = parse_roi(c, a, json_object_get(h, "roi"), sub, d)))
		return st;
	snprintf(sub, sizeof(sub), "%s.box", path);
	if ((st = stp_json_object(c, json_object_get(h, "box"), sub, box_keys)))
		return st;
	snprintf(sub, sizeof(sub), "%s.box.", path);
	if ((st = parse_box(c, json_object_get(h, "box"), sub, d)) ||
	    (st = get_float(c, h, p, "bbox_xform_clip", 0, 1, 100, &d->bbox_xform_clip)))
		return st;
	d->enabled = 1;
	return STP_OK;
}

static enum stp_status parse_semantic(struct stp_json_ctx *c, const struct stp_arch *a,
				      json_t *h, const char *path,
				      struct stp_arch_semantic_fpn *s)
{
	char p[64];
	enum stp_status st;

	snprintf(p, sizeof(p), "%s.", path);
	if ((st = stp_json_object(c, h, path, semantic_keys)) ||
	    (st = stp_json_int(c, h, p, "num_classes", 1, MAX_HEAD_CLASSES, &s->num_classes)) ||
	    (st = get_features(c, a, h, p, 1, s->levels, &s->nlevels)) ||
	    (st = stp_json_int(c, h, p, "channels", 1, MAX_FEATURE_CHANNELS, &s->channels)))
		return st;
	s->enabled = 1;
	return STP_OK;
}

/* A "gfl" head: one stride per level, 2^L for level pL (the stride its
 * boxes are decoded with must be the level's real one). */
static enum stp_status parse_gfl(struct stp_json_ctx *c, const struct stp_arch *a, json_t *h,
				 const char *path, struct stp_arch_gfl *g)
{
	char p[64];
	enum stp_status st;

	snprintf(p, sizeof(p), "%s.", path);
	if ((st = stp_json_object(c, h, path, gfl_keys)) ||
	    (st = stp_json_int(c, h, p, "num_classes", 1, MAX_HEAD_CLASSES, &g->num_classes)) ||
	    (st = get_features(c, a, h, p, 1, g->levels, &g->nlevels)) ||
	    (st = stp_json_ints(c, h, p, "strides", g->nlevels, 1, 1024, g->strides)) ||
	    (st = stp_json_int(c, h, p, "feat_channels", 1, MAX_FEATURE_CHANNELS,
			       &g->feat_channels)) ||
	    (st = stp_json_int(c, h, p, "stacked_convs", 0, 8, &g->stacked_convs)) ||
	    (st = stp_json_int(c, h, p, "reg_max", 0, 64, &g->reg_max)) ||
	    (st = get_float(c, h, p, "center_offset", 0, 0, 1, &g->center_offset)) ||
	    (st = stp_json_int(c, h, p, "nms_pre", 1, MAX_TOP_N, &g->nms_pre)) ||
	    (st = get_bool(c, h, p, "multi_label", &g->multi_label)) ||
	    (st = get_float(c, h, p, "score_thresh", 0, 0, 1, &g->score_thresh)) ||
	    (st = get_float(c, h, p, "nms_thresh", 0, 0, 1, &g->nms_thresh)) ||
	    (st = stp_json_int(c, h, p, "detections_per_img", 1, MAX_DETECTIONS,
			       &g->detections_per_img)))
		return st;
	if (a->sparse.enabled && a->backbone == STP_BACKBONE_CSPNET &&
	    a->csp.nsparse_head != g->nlevels)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: backbone.sparse.head has %d flags, the head %d "
				     "levels", a->csp.nsparse_head, g->nlevels);
	for (int i = 0; i < g->nlevels; i++)
		if (g->strides[i] != 1 << g->levels[i])
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: %sstrides[%d] is %d, but p%d has stride "
					     "%d", p, i, g->strides[i], g->levels[i], 1 << g->levels[i]);
	g->enabled = 1;
	return STP_OK;
}

enum stp_status stp_arch_parse_heads(json_t *heads, struct stp_arch *a, char *err, size_t errlen)
{
	struct stp_json_ctx c = {err, errlen};
	size_t n = json_array_size(heads);
	enum stp_status st;
	int classes = 0;

	if (!json_is_array(heads))
		return stp_set_error(err, errlen, STP_ERR_FORMAT, "architecture: heads must be a list");
	if (n > 0 && a->neck == STP_NECK_NONE)
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "architecture: heads need an FPN neck (or a PAN neck for a "
				     "\"gfl\" head)");
	for (size_t i = 0; i < n; i++) {
		json_t *h = json_array_get(heads, i);
		const char *kind = json_string_value(json_object_get(h, "kind"));
		char path[32];

		snprintf(path, sizeof(path), "heads[%zu]", i);
		if (kind && strcmp(kind, "gfl") == 0 && !a->detect.enabled && !a->gfl.enabled) {
			st = parse_gfl(&c, a, h, path, &a->gfl);
			classes = a->gfl.num_classes;
		} else if (kind && strcmp(kind, "gfl") == 0) {
			st = stp_set_error(err, errlen, STP_ERR_FORMAT,
					   "architecture: %s: a second detection head (at most "
					   "one of \"faster_rcnn\" and \"gfl\")", path);
		} else if (kind && a->neck != STP_NECK_FPN &&
			   (strcmp(kind, "faster_rcnn") == 0 || strcmp(kind, "semantic_fpn") == 0)) {
			st = stp_set_error(err, errlen, STP_ERR_FORMAT,
					   "architecture: %s: a \"%s\" head needs an FPN neck", path,
					   kind);
		} else if (kind && strcmp(kind, "faster_rcnn") == 0 && !a->detect.enabled &&
			   !a->gfl.enabled) {
			st = parse_faster_rcnn(&c, a, h, path, &a->detect);
			classes = a->detect.num_classes;
		} else if (kind && strcmp(kind, "semantic_fpn") == 0 && !a->segment.enabled) {
			st = parse_semantic(&c, a, h, path, &a->segment);
			classes = a->segment.num_classes;
		} else if (kind && (strcmp(kind, "faster_rcnn") == 0 ||
				    strcmp(kind, "semantic_fpn") == 0)) {
			st = stp_set_error(err, errlen, STP_ERR_FORMAT,
					   "architecture: %s: a second \"%s\" head (at most one "
					   "of each kind)", path, kind);
		} else {
			st = stp_set_error(err, errlen, json_is_string(json_object_get(h, "kind")) ?
					   STP_ERR_UNSUPPORTED : STP_ERR_FORMAT,
					   "architecture: %s.kind must be \"faster_rcnn\", "
					   "\"semantic_fpn\" or \"gfl\"", path);
		}
		if (st != STP_OK)
			return st;
	}
	if (a->gfl.enabled && a->segment.enabled)
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "architecture: a \"gfl\" head has no \"semantic_fpn\" beside it");
	if (a->detect.enabled && a->segment.enabled &&
	    a->detect.num_classes != a->segment.num_classes)
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "architecture: the heads disagree on num_classes (%d and %d)",
				     a->detect.num_classes, a->segment.num_classes);
	if (n > 0 && a->nclasses > 0 && a->nclasses != classes)
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "architecture: classes names %d classes, the heads have %d",
				     a->nclasses, classes);
	return STP_OK;
}
