/*
 * arch.c - parsing and validating the architecture JSON of a model file
 * (proto/model-format.md, "Architecture").
 *
 * The document is walked object by object. Each object's keys are first
 * checked against the list the format allows (every key is required, an
 * unknown one is an error), then each field is read by a typed getter that
 * checks its range and writes one message naming the field by its path,
 * e.g. "architecture: backbone.layers must be 4 integers in 1..64".
 * Consistency checks across fields (depth, FPN widths, input lengths) come
 * after the fields they relate; heads come last (arch-heads.c), checked
 * against the neck and classes. A well-formed document that asks for
 * something this version cannot run (another backbone, neck or head kind)
 * is STP_ERR_UNSUPPORTED; anything else is STP_ERR_FORMAT.
 *
 * backbone.dcn is the one optional key (older files have none; null is the
 * same as absent). Deformable
 * convs are parsed and validated here but not rejected: such a model loads
 * so that its cost can be reported (cost.c counts the offset convs), and
 * stp_session_create() refuses it with STP_ERR_UNSUPPORTED.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../sparse/interp.h"
#include "arch-json.h"
#include "arch.h"

#define MAX_CHANNELS 4096
#define MAX_CLASSES 1000000
#define MAX_RESIZE 65536
#define MAX_DIVISOR 1024

static const char *const top_keys[] = {"backbone", "neck", "heads", "classes", "input", NULL};
static const char *const backbone_keys[] = {"kind", "depth", "block", "layers", "stem_width",
					    "widths", "bn_eps", "num_classes", "sparse", NULL};
static const char *const neck_keys[] = {"kind", "in_channels", "out_channels",
					"extra_block", NULL};
static const char *const input_keys[] = {"channels", "mean", "std", "resize",
					 "size_divisor", NULL};
static const char *const input_optional[] = {"channel_order", NULL};
static const char *const resize_keys[] = {"short_side", "max_long_side", NULL};
static const char *const backbone_optional[] = {"dcn", NULL};
static const char *const sparse_keys[] = {"kernel", "window", "grid_stride", "variant",
					  "blocks", "temperature", NULL};
static const char *const sparse_optional[] = {"calibration", NULL};
static const char *const dcn_keys[] = {"stages", "deform_groups", "modulated", NULL};

/* backbone.sparse.calibration: absent, null, or 1..STP_ARCH_MAX_MASKS
 * densities in (0, 1] (the count is checked against the built network's
 * masks in model.c). */
/* backbone.sparse: see proto/model-format.md, "Sparse backbones". */
static enum stp_status parse_sparse(struct stp_json_ctx *c, json_t *sp, struct stp_arch *a)
{
	static const char *const kernels[3] = {"rbf", "learned", "avgpool"};
	static const char *const variants[3] = {"a", "b", "c"};
	const char *p = "backbone.sparse.";
	struct stp_arch_sparse *out = &a->sparse;
	json_t *blocks;
	enum stp_status st;
	int kernel, variant;

	if ((st = stp_json_object_opt(c, sp, "backbone.sparse", sparse_keys, sparse_optional)) !=
		    STP_OK ||
	    (st = stp_json_choice(c, sp, p, "kernel", kernels, 3, &kernel)) != STP_OK ||
	    (st = stp_json_choice(c, sp, p, "variant", variants, 3, &variant)) != STP_OK)
		return st;
	out->kernel = kernel == 0 ? STP_INTERP_RBF : kernel == 1 ? STP_INTERP_LEARNED
							 : STP_INTERP_AVGPOOL;
	out->variant = (char)('a' + variant);
	if (out->variant == 'c' && a->block != STP_BLOCK_BOTTLENECK)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %svariant \"c\" needs bottleneck blocks", p);
	if ((st = stp_json_int(c, sp, p, "window", 1, STP_INTERP_MAX_WINDOW, &out->window)) != STP_OK ||
	    (st = stp_json_int(c, sp, p, "grid_stride", 1, 64, &out->grid_stride)) != STP_OK)
		return st;
	if (out->window % 2 == 0)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %swindow must be odd", p);
	if (!stp_json_number(json_object_get(sp, "temperature"), &out->temperature) ||
	    !(out->temperature > 0))
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %stemperature must be a number > 0", p);
	blocks = json_object_get(sp, "blocks");
	if (!json_is_array(blocks) || json_array_size(blocks) != 4)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %sblocks must be 4 lists of 0/1 flags", p);
	for (int stage = 0; stage < 4; stage++) {
		json_t *row = json_array_get(blocks, (size_t)stage);
		if (!json_is_array(row) || json_array_size(row) != (size_t)a->layers[stage])
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: %sblocks[%d] must hold %d flags (layers)",
					     p, stage, a->layers[stage]);
		for (int b = 0; b < a->layers[stage]; b++) {
			json_t *f = json_array_get(row, (size_t)b);
			if (!json_is_integer(f) || json_integer_value(f) < 0 || json_integer_value(f) > 1)
				return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
						     "architecture: %sblocks[%d][%d] must be 0 or 1",
						     p, stage, b);
			out->blocks[stage][b] = (unsigned char)json_integer_value(f);
		}
	}
	out->enabled = 1;
	return stp_json_densities(c, json_object_get(sp, "calibration"), "backbone.sparse.calibration",
				  STP_ARCH_MAX_MASKS, out->calibration, &out->ncalibration);
}

/* backbone.dcn: see proto/model-format.md, "Deformable convolutions". */
static enum stp_status parse_dcn(struct stp_json_ctx *c, json_t *dcn, struct stp_arch *a)
{
	const char *p = "backbone.dcn.";
	struct stp_arch_dcn *out = &a->dcn;
	json_t *stages, *modulated;
	enum stp_status st;
	int any = 0;

	if ((st = stp_json_object(c, dcn, "backbone.dcn", dcn_keys)) != STP_OK)
		return st;
	if (a->block != STP_BLOCK_BOTTLENECK)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: backbone.dcn needs bottleneck blocks "
				     "(deformable conv2 of a bottleneck)");
	stages = json_object_get(dcn, "stages");
	if (!json_is_array(stages) || json_array_size(stages) != 4)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %sstages must be 4 booleans (c2..c5)", p);
	for (int i = 0; i < 4; i++) {
		json_t *f = json_array_get(stages, (size_t)i);
		if (!json_is_boolean(f))
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: %sstages[%d] must be true or false",
					     p, i);
		out->stages[i] = json_is_true(f) ? 1 : 0;
		any |= out->stages[i];
	}
	if (!any)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %sstages has no true stage (a backbone "
				     "without deformable convs has no dcn, or dcn null)", p);
	if ((st = stp_json_int(c, dcn, p, "deform_groups", 1, 64, &out->deform_groups)) != STP_OK)
		return st;
	for (int i = 0; i < 4; i++)
		if (out->stages[i] && a->widths[i] % out->deform_groups != 0)
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: %sdeform_groups %d does not divide "
					     "widths[%d] (%d)", p, out->deform_groups, i,
					     a->widths[i]);
	modulated = json_object_get(dcn, "modulated");
	if (!json_is_boolean(modulated))
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %smodulated must be true or false", p);
	out->modulated = json_is_true(modulated);
	out->offset_channels = out->deform_groups * (out->modulated ? 27 : 18);
	out->enabled = 1;
	return STP_OK;
}

static enum stp_status parse_backbone(struct stp_json_ctx *c, json_t *bb, struct stp_arch *a)
{
	static const char *const blocks[2] = {"basic", "bottleneck"};
	const char *p = "backbone.";
	json_t *kind, *eps, *sparse, *dcn;
	enum stp_status st;
	int block = 0, sum = 0, expected;

	if (!json_is_object(bb))
		return stp_json_object(c, bb, "backbone", backbone_keys);
	kind = json_object_get(bb, "kind");
	if (!json_is_string(kind))
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: backbone.kind must be a string");
	if (strcmp(json_string_value(kind), "cspnet") == 0)
		return stp_arch_parse_cspnet(c, bb, a);
	if (strcmp(json_string_value(kind), "resnet") != 0)
		return stp_set_error(c->err, c->errlen, STP_ERR_UNSUPPORTED,
				     "architecture: backbone.kind '%s' is not supported "
				     "(\"resnet\" or \"cspnet\")", json_string_value(kind));
	if ((st = stp_json_object_opt(c, bb, "backbone", backbone_keys, backbone_optional)) != STP_OK)
		return st;
	a->backbone = STP_BACKBONE_RESNET;
	if ((st = stp_json_choice(c, bb, p, "block", blocks, 2, &block)) != STP_OK ||
	    (st = stp_json_ints(c, bb, p, "layers", 4, 1, STP_ARCH_MAX_BLOCKS, a->layers)) != STP_OK ||
	    (st = stp_json_int(c, bb, p, "depth", 1, 1000000, &a->depth)) != STP_OK ||
	    (st = stp_json_int(c, bb, p, "stem_width", 1, MAX_CHANNELS, &a->stem_width)) != STP_OK ||
	    (st = stp_json_ints(c, bb, p, "widths", 4, 1, MAX_CHANNELS, a->widths)) != STP_OK ||
	    (st = stp_json_int(c, bb, p, "num_classes", 0, MAX_CLASSES, &a->num_classes)) != STP_OK)
		return st;
	a->block = block ? STP_BLOCK_BOTTLENECK : STP_BLOCK_BASIC;
	a->expansion = block ? 4 : 1;
	for (int i = 0; i < 4; i++)
		sum += a->layers[i];
	expected = 2 + (block ? 3 : 2) * sum;
	if (a->depth != expected)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: backbone.depth %d is inconsistent with %s "
				     "layers [%d, %d, %d, %d] (expected %d)", a->depth, blocks[block],
				     a->layers[0], a->layers[1], a->layers[2], a->layers[3], expected);
	eps = json_object_get(bb, "bn_eps");
	if (!stp_json_number(eps, &a->bn_eps) || !(a->bn_eps > 0))
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: backbone.bn_eps must be a number > 0");
	sparse = json_object_get(bb, "sparse");
	if (json_is_object(sparse)) {
		if ((st = parse_sparse(c, sparse, a)) != STP_OK)
			return st;
	} else if (!json_is_null(sparse)) {
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: backbone.sparse must be null or an object");
	}
	dcn = json_object_get(bb, "dcn");
	return dcn && !json_is_null(dcn) ? parse_dcn(c, dcn, a) : STP_OK;
}

static enum stp_status parse_neck(struct stp_json_ctx *c, json_t *neck, struct stp_arch *a)
{
	static const char *const extras[2] = {"none", "maxpool"};
	const char *p = "neck.";
	json_t *kind;
	enum stp_status st;
	int extra = 0;

	if (json_is_null(neck)) {
		a->neck = STP_NECK_NONE;
		return STP_OK;
	}
	if (!json_is_object(neck))
		return stp_json_object(c, neck, "neck", neck_keys);
	kind = json_object_get(neck, "kind");
	if (!json_is_string(kind))
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: neck.kind must be a string");
	if (strcmp(json_string_value(kind), "pan") == 0)
		return stp_arch_parse_pan(c, neck, a);
	if (strcmp(json_string_value(kind), "fpn") != 0)
		return stp_set_error(c->err, c->errlen, STP_ERR_UNSUPPORTED,
				     "architecture: neck.kind '%s' is not supported (\"fpn\" or "
				     "\"pan\")", json_string_value(kind));
	if (a->backbone != STP_BACKBONE_RESNET)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: an \"fpn\" neck needs a \"resnet\" backbone");
	if ((st = stp_json_object(c, neck, "neck", neck_keys)) != STP_OK)
		return st;
	if ((st = stp_json_ints(c, neck, p, "in_channels", 4, 1, 4 * MAX_CHANNELS,
			   a->fpn_in_channels)) != STP_OK ||
	    (st = stp_json_int(c, neck, p, "out_channels", 1, MAX_CHANNELS,
			  &a->fpn_out_channels)) != STP_OK ||
	    (st = stp_json_choice(c, neck, p, "extra_block", extras, 2, &extra)) != STP_OK)
		return st;
	for (int i = 0; i < 4; i++)
		if (a->fpn_in_channels[i] != a->widths[i] * a->expansion)
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: neck.in_channels[%d] is %d, but stage %d "
					     "has %d channels (widths[%d] * %d)", i,
					     a->fpn_in_channels[i], i + 1, a->widths[i] * a->expansion,
					     i, a->expansion);
	if (a->num_classes > 0)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: an FPN neck needs backbone.num_classes 0");
	a->neck = STP_NECK_FPN;
	a->fpn_extra_maxpool = extra;
	a->neck_levels = (extra ? 0x7cu : 0x3cu);  /* p2..p5[, p6] */
	return STP_OK;
}

/* mean or std: one finite number per channel (std > 0). */
static enum stp_status get_norm(struct stp_json_ctx *c, json_t *in, const char *key, int channels,
				int positive, float *out)
{
	json_t *v = json_object_get(in, key);
	int ok = json_is_array(v) && json_array_size(v) == (size_t)channels;

	for (int i = 0; ok && i < channels; i++)
		ok = stp_json_number(json_array_get(v, i), &out[i]) && (!positive || out[i] > 0);
	if (!ok)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: input.%s must be %d %s (one per channel)", key,
				     channels, positive ? "numbers > 0" : "finite numbers");
	return STP_OK;
}

static enum stp_status parse_input(struct stp_json_ctx *c, json_t *in, struct stp_arch *a)
{
	static const char *const orders[2] = {"rgb", "bgr"};
	json_t *resize;
	enum stp_status st;

	if ((st = stp_json_object_opt(c, in, "input", input_keys, input_optional)) != STP_OK ||
	    (st = stp_json_int(c, in, "input.", "channels", 1, 4, &a->in_channels)) != STP_OK ||
	    (st = get_norm(c, in, "mean", a->in_channels, 0, a->mean)) != STP_OK ||
	    (st = get_norm(c, in, "std", a->in_channels, 1, a->std)) != STP_OK)
		return st;
	resize = json_object_get(in, "resize");
	if ((st = stp_json_object(c, resize, "input.resize", resize_keys)) != STP_OK ||
	    (st = stp_json_int(c, resize, "input.resize.", "short_side", 1, MAX_RESIZE,
			  &a->resize_short_side)) != STP_OK ||
	    (st = stp_json_int(c, resize, "input.resize.", "max_long_side", 1, MAX_RESIZE,
			  &a->resize_max_long_side)) != STP_OK ||
	    (st = stp_json_int(c, in, "input.", "size_divisor", 1, MAX_DIVISOR,
			  &a->size_divisor)) != STP_OK)
		return st;
	if (json_object_get(in, "channel_order") &&
	    (st = stp_json_choice(c, in, "input.", "channel_order", orders, 2, &a->bgr)) != STP_OK)
		return st;
	if (a->bgr && a->in_channels != 3)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: input.channel_order \"bgr\" needs 3 channels");
	return STP_OK;
}

static enum stp_status parse_classes(struct stp_json_ctx *c, json_t *classes, struct stp_arch *a)
{
	size_t n = json_array_size(classes);

	if (!json_is_array(classes) || n > MAX_CLASSES)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: classes must be a list of strings");
	for (size_t i = 0; i < n; i++)
		if (!json_is_string(json_array_get(classes, i)))
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: classes[%zu] is not a string", i);
	if (n == 0)
		return STP_OK;
	a->classes = stp_zalloc(n, sizeof(char *));
	if (!a->classes)
		return stp_set_error(c->err, c->errlen, STP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		a->classes[i] = stp_strdup(json_string_value(json_array_get(classes, i)));
		if (!a->classes[i])
			return stp_set_error(c->err, c->errlen, STP_ERR_NOMEM, "out of memory");
		a->nclasses++;
	}
	return STP_OK;
}

enum stp_status stp_arch_parse(const char *json, struct stp_arch *out, char *err, size_t errlen)
{
	struct stp_json_ctx c = {err, errlen};
	json_t *root = NULL;
	json_error_t jerr;
	enum stp_status st;

	if (!out)
		return stp_set_error(err, errlen, STP_ERR_INVALID_ARG, "no architecture to fill");
	memset(out, 0, sizeof(*out));
	if (!json)
		return stp_set_error(err, errlen, STP_ERR_INVALID_ARG, "no architecture JSON");
	out->json = stp_strdup(json);
	if (!out->json)
		return stp_set_error(err, errlen, STP_ERR_NOMEM, "out of memory");
	root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		st = stp_set_error(err, errlen, STP_ERR_FORMAT,
				   "architecture: JSON does not parse: %s (line %d, column %d)",
				   jerr.text, jerr.line, jerr.column);
		goto error;
	}
	if ((st = stp_json_object(&c, root, "", top_keys)) != STP_OK ||
	    (st = parse_backbone(&c, json_object_get(root, "backbone"), out)) != STP_OK ||
	    (st = parse_neck(&c, json_object_get(root, "neck"), out)) != STP_OK)
		goto error;
	if ((st = parse_classes(&c, json_object_get(root, "classes"), out)) != STP_OK ||
	    (st = parse_input(&c, json_object_get(root, "input"), out)) != STP_OK ||
	    (st = stp_arch_parse_heads(json_object_get(root, "heads"), out, err, errlen)) != STP_OK)
		goto error;
	json_decref(root);
	return STP_OK;

error:
	json_decref(root);
	return st;
}

void stp_arch_clear(struct stp_arch *arch)
{
	if (!arch)
		return;
	for (int i = 0; arch->classes && i < arch->nclasses; i++)
		free(arch->classes[i]);
	free(arch->classes);
	free(arch->json);
	memset(arch, 0, sizeof(*arch));
}
