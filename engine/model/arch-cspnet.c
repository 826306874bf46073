/*
 * arch-cspnet.c - parsing a one-stage detector's backbone ("cspnet") and
 * neck ("pan") of an architecture (proto/model-format.md, "One-stage
 * detectors").
 *
 * A sparse cspnet (backbone.sparse) flags the stages and the head levels
 * that have a mask; its kernel is "rbf". The CSP backbone's stages chain: stage 0 reads the stem's stem_width
 * channels, every stage of C channels outputs 2C, so stage i + 1 must have
 * 2C channels; each stage's output is level i + 2 (c2, c3, ...). The PAN
 * reads consecutive backbone levels whose widths must match its
 * in_channels, and outputs p-levels of the same numbers.
 */
#include <stdio.h>
#include <string.h>

#include "arch-json.h"
#include "arch.h"

#define MAX_CHANNELS 4096

static const char *const cspnet_keys[] = {"kind", "stem_width", "kernel_size", "stages",
					  "negative_slope", "sparse", NULL};
static const char *const stage_keys[] = {"channels", "blocks", "stride", NULL};
static const char *const pan_keys[] = {"kind", "in_features", "in_channels", "out_channels",
				       NULL};
static const char *const sparse_keys[] = {"kernel", "window", "grid_stride", "stages", "head",
					  "temperature", NULL};
static const char *const sparse_optional[] = {"calibration", NULL};

/* A list of 0/1 flags, n of them (n < 0: 1..5, its length into *n). */
static enum stp_status get_flags(struct stp_json_ctx *c, json_t *v, const char *what,
				 unsigned char *out, int *n)
{
	const size_t len = json_array_size(v);
	int ok = json_is_array(v) && (*n >= 0 ? len == (size_t)*n : len >= 1 && len <= 5);

	for (size_t i = 0; ok && i < len; i++) {
		json_t *f = json_array_get(v, i);
		ok = json_is_integer(f) && (json_integer_value(f) == 0 || json_integer_value(f) == 1);
		if (ok)
			out[i] = (unsigned char)json_integer_value(f);
	}
	if (!ok)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: backbone.sparse.%s must be a list of %s0/1 flags",
				     what, *n >= 0 ? "one-per-stage " : "1..5 ");
	*n = (int)len;
	return STP_OK;
}

/* backbone.sparse of a cspnet: proto/model-format.md, "Sparse one-stage
 * detectors". */
static enum stp_status parse_sparse(struct stp_json_ctx *c, json_t *sp, struct stp_arch *a)
{
	static const char *const kernels[1] = {"rbf"};
	const char *p = "backbone.sparse.";
	struct stp_arch_sparse *out = &a->sparse;
	enum stp_status st;
	int kernel, n = a->csp.nstages;

	if ((st = stp_json_object_opt(c, sp, "backbone.sparse", sparse_keys, sparse_optional)) ||
	    (st = stp_json_choice(c, sp, p, "kernel", kernels, 1, &kernel)) ||
	    (st = stp_json_int(c, sp, p, "window", 1, 15, &out->window)) ||
	    (st = stp_json_int(c, sp, p, "grid_stride", 1, 64, &out->grid_stride)))
		return st;
	if (out->window % 2 == 0)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %swindow must be odd", p);
	if (!stp_json_number(json_object_get(sp, "temperature"), &out->temperature) ||
	    !(out->temperature > 0))
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %stemperature must be a number > 0", p);
	if ((st = get_flags(c, json_object_get(sp, "stages"), "stages", a->csp.sparse_stages, &n)))
		return st;
	n = -1;
	if ((st = get_flags(c, json_object_get(sp, "head"), "head", a->csp.sparse_head, &n)))
		return st;
	a->csp.nsparse_head = n;
	out->kernel = STP_INTERP_RBF;
	out->variant = 'b';
	out->enabled = 1;
	return stp_json_densities(c, json_object_get(sp, "calibration"), "backbone.sparse.calibration",
				  STP_ARCH_MAX_MASKS, out->calibration, &out->ncalibration);
}

static enum stp_status parse_stage(struct stp_json_ctx *c, json_t *st, int i,
				   struct stp_arch_cspnet *csp)
{
	char path[48], p[56];
	enum stp_status s;

	snprintf(path, sizeof(path), "backbone.stages[%d]", i);
	snprintf(p, sizeof(p), "%s.", path);
	if ((s = stp_json_object(c, st, path, stage_keys)) != STP_OK ||
	    (s = stp_json_int(c, st, p, "channels", 2, MAX_CHANNELS, &csp->channels[i])) != STP_OK ||
	    (s = stp_json_int(c, st, p, "blocks", 1, STP_ARCH_MAX_CSP_BLOCKS,
			      &csp->blocks[i])) != STP_OK ||
	    (s = stp_json_int(c, st, p, "stride", 1, 2, &csp->strides[i])) != STP_OK)
		return s;
	if (csp->channels[i] % 2)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %schannels must be even (a tiny block's "
				     "convs have half of them)", p);
	if (csp->channels[i] != (i == 0 ? csp->stem_width : 2 * csp->channels[i - 1]))
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %schannels is %d, but its input has %d "
				     "(stem_width, then twice the stage before)", p,
				     csp->channels[i],
				     i == 0 ? csp->stem_width : 2 * csp->channels[i - 1]);
	return STP_OK;
}

enum stp_status stp_arch_parse_cspnet(struct stp_json_ctx *c, json_t *bb, struct stp_arch *a)
{
	const char *p = "backbone.";
	struct stp_arch_cspnet *csp = &a->csp;
	json_t *stages = json_object_get(bb, "stages");
	enum stp_status st;

	if ((st = stp_json_object(c, bb, "backbone", cspnet_keys)) != STP_OK ||
	    (st = stp_json_int(c, bb, p, "stem_width", 2, MAX_CHANNELS, &csp->stem_width)) != STP_OK ||
	    (st = stp_json_int(c, bb, p, "kernel_size", 1, 7, &csp->kernel_size)) != STP_OK)
		return st;
	if (csp->kernel_size % 2 == 0)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: backbone.kernel_size must be odd");
	if (!stp_json_number(json_object_get(bb, "negative_slope"), &csp->slope) ||
	    !(csp->slope >= 0 && csp->slope <= 1))
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: backbone.negative_slope must be a number "
				     "in [0, 1]");
	if (!json_is_array(stages) || json_array_size(stages) < 1 ||
	    json_array_size(stages) > STP_ARCH_MAX_STAGES)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: backbone.stages must be a list of 1..%d "
				     "stages", STP_ARCH_MAX_STAGES);
	csp->nstages = (int)json_array_size(stages);
	for (int i = 0; i < csp->nstages; i++)
		if ((st = parse_stage(c, json_array_get(stages, (size_t)i), i, csp)) != STP_OK)
			return st;
	a->backbone = STP_BACKBONE_CSPNET;
	if (json_is_object(json_object_get(bb, "sparse")))
		return parse_sparse(c, json_object_get(bb, "sparse"), a);
	if (!json_is_null(json_object_get(bb, "sparse")))
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: backbone.sparse must be null or an object");
	return STP_OK;
}

/* A backbone level name, "c2".."c5", as its number; 0 when invalid. */
static int level_of(const char *s)
{
	return s && s[0] == 'c' && s[1] >= '2' && s[1] <= '5' && !s[2] ? s[1] - '0' : 0;
}

enum stp_status stp_arch_parse_pan(struct stp_json_ctx *c, json_t *neck, struct stp_arch *a)
{
	const char *p = "neck.";
	json_t *feats = json_object_get(neck, "in_features");
	const int top = a->csp.nstages + 1;
	int in_channels[STP_ARCH_MAX_STAGES];
	enum stp_status st;
	size_t n = json_array_size(feats);

	if (a->backbone != STP_BACKBONE_CSPNET)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: a \"pan\" neck needs a \"cspnet\" backbone");
	if ((st = stp_json_object(c, neck, "neck", pan_keys)) != STP_OK)
		return st;
	if (!json_is_array(feats) || n < 1 || n > (size_t)a->csp.nstages)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: neck.in_features must be a list of 1..%d "
				     "backbone levels", a->csp.nstages);
	for (size_t i = 0; i < n; i++) {
		int level = level_of(json_string_value(json_array_get(feats, i)));
		if (level == 0 || level > top || (i > 0 && level != a->pan_levels[i - 1] + 1))
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: neck.in_features must be consecutive "
					     "backbone levels c2..c%d, finest first", top);
		a->pan_levels[i] = level;
	}
	a->pan_nlevels = (int)n;
	if ((st = stp_json_ints(c, neck, p, "in_channels", (int)n, 1, 2 * MAX_CHANNELS,
				in_channels)) != STP_OK ||
	    (st = stp_json_int(c, neck, p, "out_channels", 1, MAX_CHANNELS,
			       &a->fpn_out_channels)) != STP_OK)
		return st;
	a->neck_levels = 0;
	for (int i = 0; i < a->pan_nlevels; i++) {
		const int stage = a->pan_levels[i] - 2;
		if (in_channels[i] != 2 * a->csp.channels[stage])
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: neck.in_channels[%d] is %d, but c%d has "
					     "%d channels", i, in_channels[i], a->pan_levels[i],
					     2 * a->csp.channels[stage]);
		a->neck_levels |= 1u << a->pan_levels[i];
	}
	a->neck = STP_NECK_PAN;
	return STP_OK;
}
